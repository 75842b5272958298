#!/usr/bin/env bash
# bench-stream-bound.sh: does streaming a whole BERT-base at fp32 run at the
# device's direct-IO speed? In one run:
#   1. builds a BERT-base synthetic store at 32 bits (wrx synth, ~340 MB of
#      shards) under out/ (gitignored), unless it is there already;
#   2. measures the device's direct-IO rate on the store's data file with
#      dd if=DATA of=/dev/null iflag=direct bs=1M (RUNS times, before and
#      after the requests; the median is the bandwidth);
#   3. runs REQUESTS requests that each stream every shard at fp32,
#      unthrottled, for executor read depths QUEUES, with and without
#      merged reads (MERGE bytes), interleaved, and the same requests with
#      every shard preloaded (compute only), through wrx-bench stream-bound.
# It prints p50 latency against the bound bytes_read / dd bandwidth and
# their ratio (the issue's goal: p50 <= 1.15x the bound). Compare the
# compute-only row with the bound: when compute takes longer than the bound,
# no read depth can reach it, and the stream is compute-bound.
#
# usage: scripts/bench-stream-bound.sh [STORE_DIR]
#   REQUESTS=20  requests per configuration
#   QUEUES=1,2,4,8
#   MERGE=4MiB   merged-read cap (0: no merged rows)
#   SEQ_LEN=32   tokens per request
#   IN_FLIGHT=16 in-flight buffers of every configuration
#   RUNS=3       dd runs before and after
#   THREADS=0    compute threads (0: one fewer than GOMAXPROCS, as WRX streams)
# STORE_DIR must be on a disk-backed filesystem (not tmpfs); default
# out/bert-base-32.
set -euo pipefail
cd "$(dirname "$0")/.."

REQUESTS=${REQUESTS:-20}
QUEUES=${QUEUES:-1,2,4,8}
MERGE=${MERGE:-4MiB}
SEQ_LEN=${SEQ_LEN:-32}
IN_FLIGHT=${IN_FLIGHT:-16}
RUNS=${RUNS:-3}
THREADS=${THREADS:-0}
dir=${1:-out/bert-base-32}

bin=$(mktemp -d "${TMPDIR:-/tmp}/stream-bound.XXXXXX")
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/wrx" ./cmd/wrx
go build -o "$bin/wrx-bench" ./cmd/wrx-bench

mkdir -p "$(dirname "$dir")"
fstype=$(stat -f -c %T "$(dirname "$dir")")
if [[ "$fstype" == tmpfs || "$fstype" == ramfs ]]; then
	echo "bench-stream-bound: $dir is on $fstype, which lives in memory; use a disk-backed directory" >&2
	exit 1
fi
if [[ ! -f "$dir/data" ]]; then
	"$bin/wrx" synth --like bert-base --fidelities 32 --out "file:$dir"
fi
data="$dir/data"
echo "store: file:$dir, data file $(stat -c %s "$data") bytes ($fstype)"

# ddrate -> bytes per second, from dd's last line "N bytes (...) copied, S s, R MB/s"
ddrate() {
	dd if="$data" of=/dev/null bs=1M iflag=direct 2>&1 | tail -1 |
		sed -E 's/^([0-9]+) bytes.* copied, ([0-9.e+-]+) s,.*/\1 \2/' |
		awk '{ printf "%.0f\n", $1 / $2 }'
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

rates=()
for _ in $(seq "$RUNS"); do rates+=("$(ddrate)"); done
echo "dd iflag=direct bs=1M before: $(printf '%s B/s ' "${rates[@]}")"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
out=$("$bin/wrx-bench" stream-bound --store "file:$dir" --requests "$REQUESTS" --queues "$QUEUES" \
	--max-read-bytes "$MERGE" --seq-len "$SEQ_LEN" --in-flight "$IN_FLIGHT" --threads "$THREADS" --json)
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
after=()
for _ in $(seq "$RUNS"); do after+=("$(ddrate)"); done
echo "dd iflag=direct bs=1M after: $(printf '%s B/s ' "${after[@]}")"
bw=$(printf '%s\n' "${rates[@]}" "${after[@]}" | median)
echo "device direct-IO bandwidth (median of $((2 * RUNS)) dd runs): $(awk -v b="$bw" 'BEGIN { printf "%.1f MB/s", b / 1e6 }')"
echo
# The table again, with the bound, from the JSON rows.
printf '%s\n' "$out" >"$bin/rows.json"
python3 - "$bw" "$bin/rows.json" <<'PY'
import json, sys
bw = float(sys.argv[1])
rows = json.load(open(sys.argv[2]))
print("%12s %8s %8s %8s %8s %8s %8s %9s %9s" % ("queue", "merged", "p50 ms", "min ms", "wait ms", "MB read", "reads", "bound ms", "p50/bound"))
for r in rows:
    q = "compute only" if r["queue"] == 0 else str(r["queue"])
    m = "%.0fMiB" % (r["max_read_bytes"] / 2**20) if r.get("max_read_bytes") else "-"
    bound = r["io_bytes"] / bw * 1e3
    bs, ratio = ("%.1f" % bound, "%.3f" % (r["p50_ns"] / 1e6 / bound)) if r["io_bytes"] else ("-", "-")
    reads = "%d/%d" % (r["storage_reads"], r["reads"])
    print("%12s %8s %8.1f %8.1f %8.1f %8.1f %8s %9s %9s" % (q, m, r["p50_ns"] / 1e6, r["min_ns"] / 1e6, r["compute_wait_ns"] / 1e6, r["io_bytes"] / 1e6, reads, bs, ratio))
streamed = [r for r in rows if r["queue"]]
compute = [r for r in rows if not r["queue"]]
if streamed and compute:
    bound = streamed[0]["io_bytes"] / bw * 1e3
    c = compute[0]["p50_ns"] / 1e6
    best = min(streamed, key=lambda r: r["p50_ns"])
    print("IO bound %.1f ms, compute only p50 %.1f ms: %s; best streamed p50 %.1f ms (queue %d%s) = %.3f x the IO bound, %.3f x the larger of the two" % (
        bound, c, "compute-bound" if c > bound else "IO-bound", best["p50_ns"] / 1e6, best["queue"],
        ", merged" if best.get("max_read_bytes") else "", best["p50_ns"] / 1e6 / bound, best["p50_ns"] / 1e6 / max(bound, c)))
PY
