#!/bin/sh
# Measures float32 GEMM throughput of WRX's native backend and of OpenBLAS
# (Debian python3-numpy + libopenblas0-pthread) on the same shapes, in the
# same run, and prints GFLOP/s and the ratio native/OpenBLAS per shape; and
# the GOPS of each of native's int8 kernel families (--no-int8 to skip).
#
#   scripts/bench-gemm-openblas.sh                 # 2 threads
#   THREADS=1 PASSES=5 scripts/bench-gemm-openblas.sh --json out.json
#
# The two sides alternate shape by shape, PASSES times, and each keeps its
# best figure, so a burst of load from other processes does not favour one
# side (see scripts/bench-gemm-openblas.py). OPENBLAS_CORETYPE and
# OPENBLAS_L2_SIZE are unset for OpenBLAS so that it picks its best kernel
# for this CPU; the kernel it runs is printed.
set -eu
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
PASSES=${PASSES:-3}
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

exec env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
	OPENBLAS_NUM_THREADS="$THREADS" OMP_NUM_THREADS="$THREADS" GOMAXPROCS="$THREADS" \
	"$PY" scripts/bench-gemm-openblas.py --benchgemm "$tmp/benchgemm" \
	--threads "$THREADS" --passes "$PASSES" "$@"
