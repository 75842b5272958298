#!/bin/sh
# Measures float32 GEMM throughput of WRX's native backend and of OpenBLAS
# (Debian python3-numpy + libopenblas0-pthread) on the same shapes, in the
# same run, and prints GFLOP/s and the ratio native/OpenBLAS per shape.
#
#   scripts/bench-gemm-openblas.sh            # 2 threads, 2 alternating passes
#   THREADS=1 PASSES=3 scripts/bench-gemm-openblas.sh
#
# The two benchmarks alternate PASSES times and each shape keeps its best
# figure, so a burst of load from other processes does not favour one side.
# OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are unset for OpenBLAS so that it
# picks its best kernel for this CPU; the kernel it runs is printed.
set -eu
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
PASSES=${PASSES:-2}
PY=/usr/bin/python3 # Debian's, which sees the apt-installed numpy

need=""
for p in python3-numpy libopenblas0-pthread python3-threadpoolctl; do
	dpkg -s "$p" >/dev/null 2>&1 || need="$need $p"
done
if [ -n "$need" ]; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/benchgemm" ./bench/gemm/cmd/benchgemm

i=1
while [ "$i" -le "$PASSES" ]; do
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
		OPENBLAS_NUM_THREADS="$THREADS" OMP_NUM_THREADS="$THREADS" \
		"$PY" scripts/bench-gemm-openblas.py >"$tmp/openblas$i.json"
	GOMAXPROCS="$THREADS" "$tmp/benchgemm" --json --backends native --threads "$THREADS" >"$tmp/native$i.json"
	i=$((i + 1))
done
echo "native vs OpenBLAS, float32 out[m×n] = a[m×k]·w[n×k]ᵀ, $THREADS threads, GFLOP/s (best of $PASSES passes)"
"$PY" scripts/bench-gemm-openblas.py --compare --native "$tmp"/native*.json --openblas "$tmp"/openblas*.json
