#!/usr/bin/env python3
"""Python's multiprocessing on this machine: the peer row of `ringpool bench pool`.

Runs one trial of each case and prints a JSON array of
{"system": "python-multiprocessing", "case", "value", "unit"} on stdout.
`ringpool bench pool` runs this once per round, interleaved with its own trials.
"""
import argparse
import json
import multiprocessing as mp
import statistics
import time


def noop(x):
    return x


def bench_map(pool, n, chunksize):
    items = range(n)
    start = time.perf_counter()
    if chunksize is None:
        out = pool.map(noop, items)
    else:
        out = pool.map(noop, items, chunksize)
    elapsed = time.perf_counter() - start
    assert len(out) == n
    return n / elapsed


def bench_imap_unordered(pool, n):
    start = time.perf_counter()
    count = sum(1 for _ in pool.imap_unordered(noop, range(n), 1))
    elapsed = time.perf_counter() - start
    assert count == n
    return n / elapsed


def bench_apply_rtt(pool, n):
    for _ in range(max(10, n // 10)):
        pool.apply_async(noop, (1,)).get()
    samples = []
    for _ in range(n):
        start = time.perf_counter_ns()
        pool.apply_async(noop, (1,)).get()
        samples.append(time.perf_counter_ns() - start)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def bench_process(n):
    ctx = mp.get_context("fork")
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        p = ctx.Process(target=noop, args=(1,))
        p.start()
        p.join()
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="tiny sizes (tests)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if args.quick:
        n_map, n_map1, n_imap, n_rtt, n_proc = 20_000, 2_000, 2_000, 200, 5
    else:
        n_map, n_map1, n_imap, n_rtt, n_proc = 1_000_000, 20_000, 20_000, 2_000, 20
    rows = []

    def row(case, value, unit):
        rows.append({"system": "python-multiprocessing", "case": case, "value": value, "unit": unit})

    ctx = mp.get_context("fork")
    with ctx.Pool(args.workers) as pool:
        pool.map(noop, range(1000))  # warm up
        row("map_default_chunksize", bench_map(pool, n_map, None), "tasks/s")
        row("map_chunksize_1", bench_map(pool, n_map1, 1), "tasks/s")
        row("imap_unordered_chunksize_1", bench_imap_unordered(pool, n_imap), "tasks/s")
        p50, p99 = bench_apply_rtt(pool, n_rtt)
        row("apply_async_get_rtt_p50", p50, "ns")
        row("apply_async_get_rtt_p99", p99, "ns")
    row("process_start_join_fork", bench_process(n_proc), "ms")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
