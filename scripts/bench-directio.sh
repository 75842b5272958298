#!/usr/bin/env bash
# bench-directio.sh: is WRX's flat-file direct-IO reader as fast as the
# device allows? Builds a flat-file store of shard-sized random blobs
# (every shard version of a BERT-base-sized model: 48 KB to 1.5 MB each),
# then, in the same run, alternates
#   - dd if=DATA of=/dev/null bs=1M iflag=direct   (the peer: the device's
#     sequential direct-IO rate with 1 MiB reads)
#   - streaming every blob through storage/flatfile with O_DIRECT required,
#     one whole-blob read at a time into one reused aligned buffer
# and prints both rates and their ratio (goal >= 0.9). Both read the same
# file front to back, bypassing the page cache. Our rate counts blob bytes
# only, not the alignment padding the reader also transfers, so the ratio
# errs against us.
#
# usage: scripts/bench-directio.sh [WORKDIR]
#   MB=500    approximate store size
#   RUNS=3    alternating runs of each; the best of each is compared
#   KEEP=1    keep the store afterwards
# WORKDIR must be on a disk-backed filesystem (not tmpfs); default: a new
# directory under ${TMPDIR:-/tmp}.
set -euo pipefail
cd "$(dirname "$0")/.."

MB=${MB:-500}
RUNS=${RUNS:-3}
work=${1:-$(mktemp -d "${TMPDIR:-/tmp}/bench-directio.XXXXXX")}
mkdir -p "$work"
bin=$(mktemp "${TMPDIR:-/tmp}/benchdirect.XXXXXX")
cleanup() {
	rm -f "$bin"
	if [[ "${KEEP:-0}" != 1 ]]; then rm -rf "$work/store"; fi
}
trap cleanup EXIT

fstype=$(stat -f -c %T "$work")
echo "workdir: $work ($fstype)"
if [[ "$fstype" == tmpfs || "$fstype" == ramfs ]]; then
	echo "bench-directio: $work is on $fstype, which lives in memory; use a disk-backed directory" >&2
	exit 1
fi

go build -o "$bin" ./storage/flatfile/internal/benchdirect
"$bin" build -store "$work/store" -mb "$MB"
data="$work/store/data"
echo "data file: $(stat -c %s "$data") bytes"

# rate BYTES SECONDS -> MB/s
rate() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f", b / s / 1e6 }'; }

best_dd=0
best_wrx=0
for i in $(seq "$RUNS"); do
	# dd's last line: "N bytes (...) copied, S s, R MB/s"
	read -r dd_bytes dd_secs < <(dd if="$data" of=/dev/null bs=1M iflag=direct 2>&1 | tail -1 |
		sed -E 's/^([0-9]+) bytes.* copied, ([0-9.e+-]+) s,.*/\1 \2/')
	read -r wrx_bytes wrx_secs < <("$bin" stream -store "$work/store")
	dd_rate=$(rate "$dd_bytes" "$dd_secs")
	wrx_rate=$(rate "$wrx_bytes" "$wrx_secs")
	printf 'run %d: dd iflag=direct %8s MB/s   wrx flatfile %8s MB/s\n' "$i" "$dd_rate" "$wrx_rate"
	best_dd=$(awk -v a="$best_dd" -v b="$dd_rate" 'BEGIN { print (b > a ? b : a) }')
	best_wrx=$(awk -v a="$best_wrx" -v b="$wrx_rate" 'BEGIN { print (b > a ? b : a) }')
done
ratio=$(awk -v w="$best_wrx" -v d="$best_dd" 'BEGIN { printf "%.3f", w / d }')
echo "best: dd iflag=direct $best_dd MB/s, wrx flatfile $best_wrx MB/s, ratio $ratio (goal >= 0.9)"
