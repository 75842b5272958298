#!/usr/bin/python3
"""Times float32 out = a @ w.T with numpy/OpenBLAS at the shapes of
bench/gemm (Go), with the same method: rounds of at least 25 ms, best of N,
and prints [{"backend","m","k","n","gflops"}] as JSON on stdout.

Used by scripts/bench-gemm-openblas.sh; with --compare it instead joins
OpenBLAS and native JSON files and prints the ratio table."""

import argparse
import json
import sys
import time

M = (1, 8, 32, 128)
KN = ((384, 384), (384, 1536), (1536, 384), (768, 768), (768, 3072), (3072, 768))


def bench(rounds, round_time):
    import numpy as np
    try:
        from threadpoolctl import threadpool_info
        for info in threadpool_info():
            print("openblas: %s %s, kernel %s, %s threads" % (
                info.get("filepath"), info.get("version"),
                info.get("architecture"), info.get("num_threads")), file=sys.stderr)
    except ImportError:
        print("openblas: threadpoolctl missing, kernel not reported", file=sys.stderr)
    rng = np.random.default_rng(1)
    res = []
    for m in M:
        for k, n in KN:
            a = rng.standard_normal((m, k), dtype=np.float32)
            w = rng.standard_normal((n, k), dtype=np.float32)
            out = np.empty((m, n), np.float32)
            wt = w.T  # a view: OpenBLAS gets a transposed operand, as Go gets w
            t = time.perf_counter()
            np.matmul(a, wt, out=out)
            per = max(time.perf_counter() - t, 1e-6)
            iters = max(1, int(round_time / per))
            best = float("inf")
            for _ in range(rounds):
                t = time.perf_counter()
                for _ in range(iters):
                    np.matmul(a, wt, out=out)
                el = time.perf_counter() - t
                best = min(best, el / iters)
                if el < round_time / 2:
                    iters = max(iters + 1, int(iters * round_time / max(el, 1e-6)))
            res.append({"backend": "openblas", "m": m, "k": k, "n": n,
                        "gflops": 2 * m * k * n / best / 1e9})
    return res


def best_of(files):
    best = {}
    for f in files:
        with open(f) as fh:
            for r in json.load(fh):
                key = (r["backend"], r["m"], r["k"], r["n"])
                best[key] = max(best.get(key, 0), r["gflops"])
    return best


def compare(native_files, openblas_files, backend):
    nat, ob = best_of(native_files), best_of(openblas_files)
    print("%5s %5s %5s %12s %12s %7s" % ("m", "k", "n", backend, "openblas", "ratio"))
    worst = {}
    for m in M:
        for k, n in KN:
            g, o = nat.get((backend, m, k, n)), ob.get(("openblas", m, k, n))
            if g is None or o is None:
                continue
            ratio = g / o
            print("%5d %5d %5d %12.1f %12.1f %7.2f" % (m, k, n, g, o, ratio))
            worst[m] = min(worst.get(m, ratio), ratio)
    print("worst ratio per m: " + ", ".join("m=%d %.2f" % kv for kv in sorted(worst.items())))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--round-time", type=float, default=0.025)
    p.add_argument("--compare", action="store_true")
    p.add_argument("--native", nargs="*", default=[])
    p.add_argument("--openblas", nargs="*", default=[])
    p.add_argument("--backend", default="native")
    args = p.parse_args()
    if args.compare:
        compare(args.native, args.openblas, args.backend)
    else:
        json.dump(bench(args.rounds, args.round_time), sys.stdout)
        print()


if __name__ == "__main__":
    main()
