"""The peer of `ringpool bench cluster`: mpi4py.futures.MPIPoolExecutor on the same ranks.

Run as the issue measured it (rank 0 is the master, the other ranks are the workers):
    mpirun --oversubscribe -np 3 /usr/bin/python3 -m mpi4py.futures bench/cluster/mpi4py_bench.py [--quick] [--out FILE]
Prints one JSON array of {system, case, ranks, value, unit} rows (to FILE with --out), which
`ringpool bench cluster --peer FILE` puts beside its own rows.
"""
import json
import sys
import time

from mpi4py import MPI
from mpi4py.futures import MPIPoolExecutor


def noop(x):
    return x


def best_rate(executor, n, chunksize, rounds):
    """Best of `rounds` after one round not counted (as ringpool bench cluster)."""
    best = 0.0
    for r in range(rounds + 1):
        start = time.perf_counter()
        out = list(executor.map(noop, range(n), chunksize=chunksize))
        took = time.perf_counter() - start
        assert out == list(range(n)), "wrong results"
        if r > 0:
            best = max(best, n / took)
    return best


def main():
    quick = "--quick" in sys.argv
    out_file = None
    if "--out" in sys.argv:
        out_file = sys.argv[sys.argv.index("--out") + 1]
    ranks = MPI.COMM_WORLD.Get_size()
    rows = []
    rounds = 1 if quick else 3
    with MPIPoolExecutor() as executor:
        list(executor.map(noop, range(1000), chunksize=100))  # start the workers
        for chunksize, n in ((1000, 10000 if quick else 100000), (1, 1000 if quick else 10000)):
            rows.append({"system": "mpi4py-futures", "case": f"map chunksize {chunksize}",
                         "ranks": ranks, "value": best_rate(executor, n, chunksize, rounds),
                         "unit": "tasks/s"})
        for _ in range(50):
            executor.submit(noop, 1).result()
        k = 100 if quick else 1000
        samples = []
        for _ in range(k):
            start = time.perf_counter()
            executor.submit(noop, 1).result()
            samples.append(time.perf_counter() - start)
        samples.sort()
        rows.append({"system": "mpi4py-futures", "case": "submit round trip (remote rank)",
                     "ranks": ranks, "value": samples[len(samples) // 2] * 1e6, "unit": "us"})
    text = json.dumps(rows, indent=1)
    if out_file:
        with open(out_file, "w") as f:
            f.write(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
