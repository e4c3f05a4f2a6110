#!/usr/bin/env python3
"""Python's multiprocessing moving payloads: the peer rows of `ringpool bench payload`.

Runs one trial of one case at one payload size and prints a JSON array with one row
{"system": "python-multiprocessing", "case", "bytes", "value", "unit"} on stdout; a case that
fails (MemoryError, ...) gives "value": null and "error". `ringpool bench payload` runs it once
per case, size and round, interleaved with its own trials.

Cases:
  apply_async_get_echo  ns per Pool(1).apply_async(echo, (bytes(n),)).get(): the argument is
                        pickled to the worker and the same bytes come back (median of --reps)
  queue_stream          bytes/s: --items items of bytes(n) put on a multiprocessing.Queue
                        (maxsize --maxsize) by this process, got by another one
  shared_memory_stream  bytes/s: per item this process creates a SharedMemory of n bytes, copies
                        the payload into it and puts its name on a Queue; the other process
                        attaches by name, copies the bytes out, closes and unlinks it
With --cpus A,B this process is pinned to A and the other process (the Pool's worker, the
consumer) to B, as ringpool's trials are.
"""
import argparse
import json
import multiprocessing as mp
import os
import statistics
import time
from multiprocessing import resource_tracker, shared_memory


def echo(x):
    return x


def pin(cpu):
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def stamp(payload, i):
    """The item's sequence number in its first 8 bytes (the consumer checks the order)."""
    if len(payload) >= 8:
        payload[:8] = i.to_bytes(8, "little")


def seq_of(data):
    return int.from_bytes(data[:8], "little") if len(data) >= 8 else None


def apply_async_echo(n, reps, warmup, cpus):
    payload = bytes(n)
    ctx = mp.get_context("fork")
    with ctx.Pool(1, initializer=pin, initargs=(cpus[1],)) as pool:
        for _ in range(warmup):
            pool.apply_async(echo, (payload,)).get()
        samples = []
        for _ in range(reps):
            start = time.perf_counter_ns()
            out = pool.apply_async(echo, (payload,)).get()
            samples.append(time.perf_counter_ns() - start)
            if len(out) != n:
                raise RuntimeError("apply_async echoed %d bytes, sent %d" % (len(out), n))
            del out
    return statistics.median(samples), "ns"


def queue_consumer(q, done, n, items, cpu):
    pin(cpu)
    ok = 0
    for _ in range(items):
        data = q.get()
        if len(data) == n:
            ok += 1
        del data
    done.put(ok)


def queue_stream(n, items, maxsize, cpus):
    ctx = mp.get_context("fork")
    q = ctx.Queue(maxsize)
    done = ctx.Queue(1)
    consumer = ctx.Process(target=queue_consumer, args=(q, done, n, items, cpus[1]))
    consumer.start()
    payload = bytes(n)  # immutable: the Queue's feeder thread pickles it after put returns
    start = time.perf_counter()
    for _ in range(items):
        q.put(payload)
    ok = done.get()
    elapsed = time.perf_counter() - start
    consumer.join()
    if ok != items:
        raise RuntimeError("queue_stream: %d of %d items arrived intact" % (ok, items))
    return n * items / elapsed, "bytes/s"


def shm_consumer(names, done, n, items, cpu):
    pin(cpu)
    ok = 0
    for i in range(items):
        name = names.get()
        shm = shared_memory.SharedMemory(name=name)
        view = shm.buf[:n]
        data = bytes(view)  # the copy out of shared memory
        view.release()
        shm.close()
        shm.unlink()
        if len(data) == n and (n < 8 or seq_of(data) == i):
            ok += 1
        del data
    done.put(ok)


def shared_memory_stream(n, items, maxsize, cpus):
    ctx = mp.get_context("fork")
    names = ctx.Queue(maxsize)
    done = ctx.Queue(1)
    # One resource tracker for both processes (started before the fork): the consumer's
    # unlink then unregisters what this process registered at creation.
    resource_tracker.ensure_running()
    consumer = ctx.Process(target=shm_consumer, args=(names, done, n, items, cpus[1]))
    consumer.start()
    payload = bytearray(n)
    start = time.perf_counter()
    for i in range(items):
        stamp(payload, i)
        shm = shared_memory.SharedMemory(create=True, size=n)
        shm.buf[:n] = payload
        name = shm.name
        shm.close()
        names.put(name)
    ok = done.get()
    elapsed = time.perf_counter() - start
    consumer.join()
    if ok != items:
        raise RuntimeError("shared_memory_stream: %d of %d items arrived intact" % (ok, items))
    return n * items / elapsed, "bytes/s"


CASES = {
    "apply_async_get_echo": lambda a, cpus: apply_async_echo(a.size, a.reps, a.warmup, cpus),
    "queue_stream": lambda a, cpus: queue_stream(a.size, a.items, a.maxsize, cpus),
    "shared_memory_stream": lambda a, cpus: shared_memory_stream(a.size, a.items, a.maxsize, cpus),
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", required=True, choices=sorted(CASES))
    parser.add_argument("--size", type=int, required=True, help="payload bytes")
    parser.add_argument("--reps", type=int, default=10, help="round trips (apply_async)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed round trips first")
    parser.add_argument("--items", type=int, default=10, help="items per stream")
    parser.add_argument("--maxsize", type=int, default=8, help="queue bound of the streams")
    parser.add_argument("--cpus", default="", help="A,B: this process on A, the other on B")
    args = parser.parse_args()
    if args.size < 1 or args.reps < 1 or args.items < 1 or args.maxsize < 1 or args.warmup < 0:
        parser.error("--size, --reps, --items and --maxsize must be at least 1")
    cpus = (None, None)
    if args.cpus:
        a, b = (int(c) for c in args.cpus.split(","))
        cpus = (a, b)
    pin(cpus[0])
    row = {"system": "python-multiprocessing", "case": args.case, "bytes": args.size}
    try:
        value, unit = CASES[args.case](args, cpus)
        row.update(value=value, unit=unit)
    except (MemoryError, OSError, RuntimeError) as e:
        row.update(value=None, unit="", error="%s: %s" % (type(e).__name__, e))
    print(json.dumps([row]))


if __name__ == "__main__":
    main()
