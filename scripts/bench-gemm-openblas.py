#!/usr/bin/python3
"""Compares float32 GEMM throughput, out[m×n] = a[m×k]·w[n×k]ᵀ, of WRX's
native backend (the Go command bench/gemm/cmd/benchgemm: its dot kernels,
and its packed product, native-packed, as a model held in memory runs it)
and of numpy/OpenBLAS in this process, at the shapes of bench/gemm, and, with
--int8 (the default), the throughput of every int8 kernel family this CPU
runs (benchgemm --list-int8: native's MatMulInt8 on weights quantized
beforehand, the activations' quantization included), in GOPS = 2·m·k·n
integer operations per second, and of its 4-bit product (benchgemm
--list-int4: MatMulInt4 on weights coded against 16 centroids, chosen per
call, in registers, or through scratch and the int8 kernels).

The machine may be shared, so the two sides alternate shape by shape:
for each shape, OpenBLAS then native are measured --passes times, each in
rounds of at least 25 ms, and each side keeps its best round. Both sides
time the same way. Prints a table with the ratio native/OpenBLAS, and with
--json FILE also writes every best figure as [{"backend","m","k","n",
"gflops"}].

Run through scripts/bench-gemm-openblas.sh, which installs the packages,
builds the Go command and sets the OpenBLAS environment."""

import argparse
import json
import subprocess
import sys
import time

import numpy as np

M = (1, 8, 32, 128)
KN = ((384, 384), (384, 1536), (1536, 384), (768, 768), (768, 3072), (3072, 768))


def report_openblas():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        print("openblas: threadpoolctl missing, kernel not reported", file=sys.stderr)
        return
    for info in threadpool_info():
        print("OpenBLAS %s (%s), kernel %s, %s threads" % (
            info.get("version"), info.get("filepath"),
            info.get("architecture"), info.get("num_threads")))


def openblas_gflops(m, k, n, rounds, round_time):
    rng = np.random.default_rng(1)
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
    return 2 * m * k * n / best / 1e9


def native_gflops(cmd, threads, m, k, n, rounds, backend="native"):
    out = subprocess.run(
        [cmd, "--json", "--backends", backend, "--threads", str(threads),
         "--rounds", str(rounds), "--m", str(m), "--kn", "%dx%d" % (k, n)],
        check=True, capture_output=True, text=True).stdout
    return json.loads(out)[0]["gflops"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--benchgemm", required=True, help="path of the built benchgemm command")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--passes", type=int, default=3)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--json", help="also write the results to this file")
    p.add_argument("--no-int8", dest="int8", action="store_false", help="measure float32 only")
    args = p.parse_args()
    report_openblas()
    variants, variants4 = [], []
    if args.int8:
        names = subprocess.run([args.benchgemm, "--list-int8"], check=True, capture_output=True, text=True).stdout.split()
        variants = ["native-int8-" + x for x in names if x != "go"]
        variants4 = subprocess.run([args.benchgemm, "--list-int4"], check=True, capture_output=True, text=True).stdout.split()
    print("native vs OpenBLAS, float32 out[m×n] = a[m×k]·w[n×k]ᵀ, %d threads, GFLOP/s, "
          "best of %d alternating passes × %d rounds" % (args.threads, args.passes, args.rounds))
    if variants:
        print("int8 columns: GOPS of native's int8 kernels (%s); int8/f32: the best of them over native float32"
              % ", ".join(v[len("native-int8-"):] for v in variants))
    if variants4:
        print("int4 columns: GOPS of native's 4-bit product (MatMulInt4; %s: automatic, in registers, through scratch); "
              "int4/int8: the best of them over the best int8" % ", ".join(variants4))
    short = [v[len("native-int8-"):] for v in variants] + [v.replace("native-int4", "int4") for v in variants4]
    print("packed: native's packed float32 product (weights held in backend.Packed panels, as a model held in memory "
          "multiplies them); pk/ob: packed over OpenBLAS")
    print("%5s %5s %5s %10s %10s %7s %10s %7s" % ("m", "k", "n", "native", "openblas", "ratio", "packed", "pk/ob")
          + "".join(" %11s" % x[:11] for x in short) + (" %8s" % "int8/f32" if variants else "")
          + (" %9s" % "int4/int8" if variants4 else ""), flush=True)
    results, worst, worstpk, best8, best4 = [], {}, {}, {}, {}
    for m in M:
        for k, n in KN:
            ob = nat = pk = 0.0
            q = {v: 0.0 for v in variants + variants4}
            for _ in range(args.passes):
                ob = max(ob, openblas_gflops(m, k, n, args.rounds, 0.025))
                nat = max(nat, native_gflops(args.benchgemm, args.threads, m, k, n, args.rounds))
                pk = max(pk, native_gflops(args.benchgemm, args.threads, m, k, n, args.rounds, "native-packed"))
                for v in variants + variants4:
                    q[v] = max(q[v], native_gflops(args.benchgemm, args.threads, m, k, n, args.rounds, v))
            ratio = nat / ob
            worst[m] = min(worst.get(m, ratio), ratio)
            worstpk[m] = min(worstpk.get(m, pk / ob), pk / ob)
            line = "%5d %5d %5d %10.1f %10.1f %7.2f %10.1f %7.2f" % (m, k, n, nat, ob, ratio, pk, pk / ob) + "".join(" %11.1f" % q[v] for v in variants + variants4)
            if variants:
                r8 = max(q[v] for v in variants) / nat
                best8[m] = min(best8.get(m, r8), r8)
                line += " %8.2f" % r8
            if variants and variants4:
                r4 = max(q[v] for v in variants4) / max(q[v] for v in variants)
                best4[m] = min(best4.get(m, r4), r4)
                line += " %9.2f" % r4
            print(line, flush=True)
            results += [{"backend": "native", "m": m, "k": k, "n": n, "gflops": nat},
                        {"backend": "openblas", "m": m, "k": k, "n": n, "gflops": ob},
                        {"backend": "native-packed", "m": m, "k": k, "n": n, "gflops": pk}]
            results += [{"backend": v, "m": m, "k": k, "n": n, "gflops": q[v]} for v in variants + variants4]
    print("worst ratio native/OpenBLAS per m: " + ", ".join("m=%d %.2f" % kv for kv in sorted(worst.items())))
    print("worst ratio packed/OpenBLAS per m: " + ", ".join("m=%d %.2f" % kv for kv in sorted(worstpk.items())))
    if best8:
        print("worst ratio best int8/native float32 per m: " + ", ".join("m=%d %.2f" % kv for kv in sorted(best8.items())))
    if best4:
        print("worst ratio best int4/best int8 per m: " + ", ".join("m=%d %.2f" % kv for kv in sorted(best4.items())))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f)


if __name__ == "__main__":
    main()
