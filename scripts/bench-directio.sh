#!/usr/bin/env bash
# bench-directio.sh: is WRX's flat-file direct-IO reader as fast as the
# device allows? Builds a flat-file store of shard-sized random blobs
# (every shard version of a BERT-base-sized model: 48 KB to 1.5 MB each),
# then, in the same run, alternates
#   - dd if=DATA of=/dev/null bs=1M iflag=direct   (the peer: the device's
#     sequential direct-IO rate with 1 MiB reads)
#   - streaming every blob through storage/flatfile with O_DIRECT required,
#     one whole-blob read at a time into one reused aligned buffer
# and prints the median rates and their ratio (goal >= 0.9). All read the same
# file front to back, bypassing the page cache. Our rate counts blob bytes
# only, not the alignment padding the reader also transfers, so the ratio
# errs against us.
#
# usage: scripts/bench-directio.sh [WORKDIR]
#   MB=500    approximate store size
#   RUNS=5    interleaved runs of each; medians are compared
#   KEEP=1    keep the store afterwards
# WORKDIR must be on a disk-backed filesystem (not tmpfs); default: a new
# directory under ${TMPDIR:-/tmp}.
set -euo pipefail
cd "$(dirname "$0")/.."

MB=${MB:-500}
RUNS=${RUNS:-5}
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

# The reader's IO size is one blob; dd's is 1 MiB. A second dd run with
# bs near the mean blob size separates the reader's own overhead from the
# cost of smaller IOs.
blobs=$("$bin" count -store "$work/store")
mean_kib=$(( ($(stat -c %s "$data") / blobs + 1023) / 1024 ))
echo "blobs: $blobs, mean IO of the reader: ~${mean_kib} KiB"

# ddrate BS -> "BYTES SECONDS" from dd's last line "N bytes (...) copied, S s, R MB/s"
ddrate() {
	dd if="$data" of=/dev/null bs="$1" iflag=direct 2>&1 | tail -1 |
		sed -E 's/^([0-9]+) bytes.* copied, ([0-9.e+-]+) s,.*/\1 \2/'
}
# mbps BYTES SECONDS -> MB/s
mbps() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f", b / s / 1e6 }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

dd1m=() ddblob=() wrx=()
for i in $(seq "$RUNS"); do
	a=$(mbps $(ddrate 1M))
	b=$(mbps $(ddrate "${mean_kib}K"))
	c=$(mbps $("$bin" stream -store "$work/store"))
	dd1m+=("$a") ddblob+=("$b") wrx+=("$c")
	printf 'run %d: dd bs=1M %8s MB/s   dd bs=%sK %8s MB/s   wrx flatfile %8s MB/s\n' "$i" "$a" "$mean_kib" "$b" "$c"
done
m_dd1m=$(printf '%s\n' "${dd1m[@]}" | median)
m_ddblob=$(printf '%s\n' "${ddblob[@]}" | median)
m_wrx=$(printf '%s\n' "${wrx[@]}" | median)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
echo "median of $RUNS: dd iflag=direct bs=1M $m_dd1m MB/s, dd bs=${mean_kib}K $m_ddblob MB/s, wrx flatfile $m_wrx MB/s"
echo "ratio wrx / dd bs=1M: $(ratio "$m_wrx" "$m_dd1m") (goal >= 0.9)"
echo "ratio wrx / dd at the reader's IO size: $(ratio "$m_wrx" "$m_ddblob")"
