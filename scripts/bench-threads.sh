#!/usr/bin/env bash
# Why streaming computes on one thread fewer than GOMAXPROCS: the same WRX
# bench, back to back, with the compute on GOMAXPROCS-1 threads (the
# default; the IO goroutine keeps a core) and on all of them. Each variant
# plans from a device profile measured with its own thread count, on its
# own copy of the store.
#
#   scripts/bench-threads.sh [--store DIR] [--out DIR] [--limit N] [--targets T1,T2,...]
#
# DIR defaults to out/bench/sst2store (made and profiled by
# scripts/bench-elastic.sh); results go to out/bench/threads/{fewer,all}/ and
# a summary table to out/bench/threads/summary.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHARED=${WRX_SHARED:-$(cd "$ROOT/.." && pwd)/shared}
DEV=$SHARED/data/glue/SST-2/dev.tsv
STORE=$ROOT/out/bench/sst2store
OUT=$ROOT/out/bench/threads
LIMIT=300
TARGETS=3ms,4.7ms,7.2ms,12ms
while [ $# -gt 0 ]; do
	case $1 in
	--store) STORE=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--limit) LIMIT=$2; shift 2 ;;
	--targets) TARGETS=$2; shift 2 ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "unknown option $1 (see --help)" >&2; exit 1 ;;
	esac
done
[ -e "$STORE/index" ] || { echo "no store at $STORE: run scripts/bench-elastic.sh first" >&2; exit 1; }
CORES=$(nproc)
[ "$CORES" -ge 2 ] || { echo "needs at least 2 cores" >&2; exit 1; }

mkdir -p "$OUT"
WRX=$OUT/wrx
WRXBENCH=$OUT/wrx-bench
(cd "$ROOT" && go build -o "$WRX" ./cmd/wrx && go build -o "$WRXBENCH" ./cmd/wrx-bench)
run() { # name threads store
	local name=$1 threads=$2 store=$3
	"$WRX" profile device --store "file:$store" --threads "$threads" --quiet | sed -n 1,2p
	"$WRXBENCH" --store "file:$store" --task sst2 --data "$DEV" --limit "$LIMIT" --modes wrx \
		--targets "$TARGETS" --budgets 1MB,4MB,16MB --stream-threads "$threads" --quiet --out "$OUT/$name" >/dev/null
}
rm -rf "$OUT/store-all"
cp -r "$STORE" "$OUT/store-all"
echo "== compute on $((CORES - 1)) thread(s), a core left to IO (load $(cut -d' ' -f1-3 /proc/loadavg))"
cp -r "$STORE" "$OUT/store-fewer.tmp" && rm -rf "$OUT/store-fewer" && mv "$OUT/store-fewer.tmp" "$OUT/store-fewer"
run fewer $((CORES - 1)) "$OUT/store-fewer"
echo "== compute on all $CORES threads (load $(cut -d' ' -f1-3 /proc/loadavg))"
run all "$CORES" "$OUT/store-all"

python3 - "$OUT" "$CORES" >"$OUT/summary.md" <<'EOF'
import json, sys
out, cores = sys.argv[1], int(sys.argv[2])
def rows(name):
    return {(r["target_ms"], r["budget_bytes"]): r for r in json.load(open(f"{out}/{name}/results.json")) if r["mode"] == "wrx"}
fewer, allt = rows("fewer"), rows("all")
print(f"| target ms | budget | accuracy: {cores-1} / {cores} threads | p95 ms | miss | MB read per request | meets |")
print("| ---: | ---: | --- | --- | --- | --- | --- |")
for k in sorted(fewer):
    f, a = fewer[k], allt.get(k)
    if a is None:
        continue
    yn = lambda r: "yes" if r["meets_target"] else "no"
    print(f"| {k[0]:g} | {k[1]/1e6:g} MB | {f['accuracy']:.4f} / {a['accuracy']:.4f} | {f['p95_ms']:.1f} / {a['p95_ms']:.1f} | "
          f"{100*f['miss_rate']:.1f}% / {100*a['miss_rate']:.1f}% | {f['mean_io_bytes']/1e6:.2f} / {a['mean_io_bytes']/1e6:.2f} | {yn(f)} / {yn(a)} |")
EOF
cat "$OUT/summary.md"
rm -rf "$OUT/store-all" "$OUT/store-fewer"
