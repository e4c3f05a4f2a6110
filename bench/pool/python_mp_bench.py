#!/usr/bin/env python3
"""Python's multiprocessing on this machine: the peer row of `ringpool bench pool`.

Runs one trial of each case and prints a JSON array of
{"system": "python-multiprocessing", "case", "value", "unit"} on stdout.
`ringpool bench pool` runs this once per round, interleaved with its own trials.
"""
import argparse
import json
import multiprocessing as mp
import os
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


def pin(cpu):
    """Pins the calling process to `cpu` when one is given (the caller/worker CPU pair)."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def echo(conn, n, cpu):
    pin(cpu)
    for _ in range(n):
        conn.send(conn.recv())


def bench_pipe_rtt(n, cpus):
    """Pipe(): send(i) + recv() round trip against a child that echoes, as ringpool's
    pipe_connection_rtt; caller on cpus[0], child on cpus[1]."""
    ctx = mp.get_context("fork")
    ours, theirs = ctx.Pipe()
    warm = n // 10 + 100
    child = ctx.Process(target=echo, args=(theirs, warm + n, cpus[1]))
    child.start()
    samples = []
    for i in range(warm + n):
        start = time.perf_counter_ns()
        ours.send(i)
        back = ours.recv()
        elapsed = time.perf_counter_ns() - start
        assert back == i
        if i >= warm:
            samples.append(elapsed)
    child.join()
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def locked_increments(lock, counter, n):
    for _ in range(n):
        with lock:
            counter.value += 1


def lock_child(lock, counter, n, ready, go, cpu):
    pin(cpu)
    ready.set()
    go.wait()
    locked_increments(lock, counter, n)


def bench_lock_contended(n, cpus):
    """Lock(): two processes each take the lock, add one to a shared counter and release
    it, n times, started together; ns per acquire/release pair, as ringpool's
    lock_contended."""
    ctx = mp.get_context("fork")
    lock = ctx.Lock()
    counter = ctx.RawValue("q", 0)
    ready, go = ctx.Event(), ctx.Event()
    child = ctx.Process(target=lock_child, args=(lock, counter, n, ready, go, cpus[1]))
    child.start()
    ready.wait()
    start = time.perf_counter()
    go.set()
    locked_increments(lock, counter, n)
    child.join()
    elapsed = time.perf_counter() - start
    assert counter.value == 2 * n
    return elapsed * 1e9 / (2 * n)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="tiny sizes (tests)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cpus", default=None,
                        help="A,B: caller and child CPUs of the Pipe and Lock cases")
    args = parser.parse_args()
    cpus = (None, None)
    if args.cpus:
        cpus = tuple(int(c) for c in args.cpus.split(","))
        if len(cpus) != 2:
            parser.error("--cpus takes two CPUs, A,B")
    if args.quick:
        n_map, n_map1, n_imap, n_rtt, n_proc = 20_000, 2_000, 2_000, 200, 5
        n_pipe, n_lock = 200, 2_000
    else:
        n_map, n_map1, n_imap, n_rtt, n_proc = 1_000_000, 20_000, 20_000, 2_000, 20
        n_pipe, n_lock = 2_000, 20_000
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
    saved = os.sched_getaffinity(0)
    pin(cpus[0])
    try:
        p50, p99 = bench_pipe_rtt(n_pipe, cpus)
        row("pipe_connection_rtt_p50", p50, "ns")
        row("pipe_connection_rtt_p99", p99, "ns")
        row("lock_contended", bench_lock_contended(n_lock, cpus), "ns")
    finally:
        os.sched_setaffinity(0, saved)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
