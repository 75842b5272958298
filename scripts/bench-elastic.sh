#!/usr/bin/env bash
# Reproduces the measurements of docs/results.md (issue 4): WRX's elastic
# pipeline against hold-in-memory, quantized-hold, load-then-exec and layerwise-pipeline on
# SST-2 dev with wrx-sst2-small, unthrottled and under an emulated
# 100MB/s + 0.5ms-per-read device, plus the importance check, the planner
# comparison and the BERT-base-scale latency/memory run on random weights.
#
#   scripts/bench-elastic.sh              # everything (about 1.5 h on 2 idle cores)
#   scripts/bench-elastic.sh --quick      # a smoke run with small limits (minutes)
#   scripts/bench-elastic.sh --reuse      # keep the stores and results there are, resume interrupted benches
#   scripts/bench-elastic.sh --docs       # also copy the plots into docs/results/
#   scripts/bench-elastic.sh --budgets 2MB,4MB --base-budgets 16MB,64MB --quantized-fidelity 2,4
#
# Steps, all under --out (default out/bench, ignored by git):
#   1. build wrx;
#   2. convert ../shared/models/wrx-sst2-small into a flat-file store
#      (sst2store/) and profile the importance of every
#      shard on the first IMPORTANCE_LIMIT sentences of SST-2 train.tsv
#      (never dev.tsv, which is the evaluation set); then, in every run,
#      profile the device (unthrottled; the bench adjusts it for the throttle
#      and re-measures the reads) and count the tokens of all of train.tsv
#      (wrx profile words: which word rows to preload);
#   3. importance/: dropping the k least important shards vs k random ones;
#   4. unthrottled/: wrx-bench over all of SST-2 dev, automatic targets,
#      budgets BUDGETS (2MB,4MB,8MB,16MB: total, held against each run's
#      measured model RSS), both planners, baselines at FIDELITY (32 and 8
#      bits), quantized-hold at QUANTIZED_FIDELITY (2, 3, 4 and 8 bits);
#   5. throttled/: the same under --throttle THROTTLE on the first
#      THROTTLED_LIMIT sentences (a request there can take half a second),
#      with our planner only (THROTTLED_PLANNER);
#   6. bertbase/ and bertbase-throttled/: wrx synth --like bert-base (random
#      weights: latency and memory only), profiled, benched on a few sentences
#      with budgets BASE_BUDGETS (8MB to 128MB: its resident parts alone are
#      4.2MB).
# Each results.md has the verdict at every (target, budget): WRX's most
# accurate row that meets the target and fits the budget (measured model RSS
# ≤ budget + 1 MiB + 5%) against the most accurate baseline that does, with a
# paired bootstrap 95% interval of the accuracy difference (verdicts.json).
# The streaming baselines (load-then-exec, layerwise-pipeline) are timed on
# the first BASELINE_LIMIT sentences; their accuracy is hold-in-memory's at the
# same fidelity, which the bench verifies label by label on those sentences.
#
# Timings are wall-clock on whatever machine runs this: the load average is
# recorded in each meta.json. On a shared machine run it when it is idle.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHARED=${WRX_SHARED:-$(cd "$ROOT/.." && pwd)/shared}
MODEL=$SHARED/models/wrx-sst2-small
TRAIN=$SHARED/data/glue/SST-2/train.tsv
DEV=$SHARED/data/glue/SST-2/dev.tsv
OUT=$ROOT/out/bench
IMPORTANCE_LIMIT=300
THROTTLE=100MB/s,0.5ms
THROTTLED_LIMIT=200
DEV_LIMIT=0
BASELINE_LIMIT=50
BASE_LIMIT=20
BASE_BASELINE_LIMIT=5
FIDELITY=32,8
QUANTIZED_FIDELITY=2,3,4,8
BUDGETS=2MB,4MB,8MB,16MB
# Inputs are truncated to MAX_LEN tokens (SST-2 dev's longest has 55): the
# budget pays for activations of that length.
MAX_LEN=64
# The throttled run takes about as long per request as the target: it
# compares the planners only unthrottled.
THROTTLED_PLANNER=optimal
BASE_BUDGETS=8MB,16MB,32MB,64MB,128MB
# The bert-base store needs every fidelity a baseline runs at.
BASE_FIDELITIES=2,3,4,8,16,32
REUSE=0
DOCS=0
SYNTH=1

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
	case $1 in
	--out) OUT=$2; shift 2 ;;
	--quick)
		IMPORTANCE_LIMIT=8 DEV_LIMIT=60 THROTTLED_LIMIT=30 BASELINE_LIMIT=5 BASE_LIMIT=4 BASE_BASELINE_LIMIT=2
		shift ;;
	--reuse) REUSE=1; shift ;;
	--docs) DOCS=1; shift ;;
	--no-synth) SYNTH=0; shift ;;
	--importance-limit) IMPORTANCE_LIMIT=$2; shift 2 ;;
	--throttled-limit) THROTTLED_LIMIT=$2; shift 2 ;;
	--baseline-limit) BASELINE_LIMIT=$2; shift 2 ;;
	--budgets) BUDGETS=$2; shift 2 ;;
	--base-budgets) BASE_BUDGETS=$2; shift 2 ;;
	--quantized-fidelity) QUANTIZED_FIDELITY=$2; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "unknown option $1 (see --help)" >&2; exit 1 ;;
	esac
done
for f in "$MODEL/config.json" "$TRAIN" "$DEV"; do
	[ -e "$f" ] || { echo "missing $f (set WRX_SHARED)" >&2; exit 1; }
done

mkdir -p "$OUT"
WRX=$OUT/wrx
WRXBENCH=$OUT/wrx-bench
STORE=file:$OUT/sst2store
log() { printf '\n== %s (load %s)\n' "$*" "$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"; }
timed() { local t0=$SECONDS; "$@"; echo "   ($((SECONDS - t0)) s)"; }

log "build"
(cd "$ROOT" && go build -o "$WRX" ./cmd/wrx && go build -o "$WRXBENCH" ./cmd/wrx-bench)
{
	echo "commit $(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)"
	echo "uncommitted changes: $(git -C "$ROOT" status --short 2>/dev/null | grep -vc '^??' || true)"
	echo "built $(date -u +%FT%TZ) with $(go version)"
	grep -m1 'model name' /proc/cpuinfo 2>/dev/null || true
	echo "cpus $(nproc)"
} >"$OUT/version.txt"
resume=()
[ "$REUSE" = 1 ] && resume=(--resume)

if [ "$REUSE" = 1 ] && [ -e "$OUT/sst2store/index" ]; then
	log "reusing $STORE"
else
	rm -rf "$OUT/sst2store"
	log "convert $MODEL"
	timed "$WRX" convert --model "$MODEL" --out "$STORE" --quiet
	log "importance profile on $IMPORTANCE_LIMIT sentences of train.tsv"
	timed "$WRX" profile importance --store "$STORE" --task sst2 --data "$TRAIN" --limit "$IMPORTANCE_LIMIT" --quiet | tee "$OUT/importance-profile.txt"
fi
# The device profile takes seconds: measure it in every run, on this
# machine as it is now, with the compute threads the streaming modes use.
log "device profile"
timed "$WRX" profile device --store "$STORE" --quiet | tee "$OUT/device.txt"
log "word profile on train.tsv"
timed "$WRX" profile words --store "$STORE" --task sst2 --data "$TRAIN" | tee "$OUT/words-profile.txt"

if [ "$REUSE" = 1 ] && [ -e "$OUT/importance/importance.json" ]; then
	log "reusing the importance check"
else
	log "importance check on dev.tsv"
	timed "$WRXBENCH" importance --store "$STORE" --task sst2 --data "$DEV" --limit "$DEV_LIMIT" --quiet --out "$OUT/importance" >/dev/null
fi
cat "$OUT/importance/importance.md"

common=(--store "$STORE" --task sst2 --data "$DEV" --targets auto --budgets "$BUDGETS"
	--max-len "$MAX_LEN" --fidelity "$FIDELITY" --quantized-fidelity "$QUANTIZED_FIDELITY" --baseline-limit "$BASELINE_LIMIT")
log "bench, unthrottled"
timed "$WRXBENCH" "${common[@]}" "${resume[@]}" --planner both --limit "$DEV_LIMIT" --out "$OUT/unthrottled" >/dev/null
log "bench, throttled to $THROTTLE"
timed "$WRXBENCH" "${common[@]}" "${resume[@]}" --planner "$THROTTLED_PLANNER" --limit "$THROTTLED_LIMIT" --throttle "$THROTTLE" --out "$OUT/throttled" >/dev/null

if [ "$SYNTH" = 1 ]; then
	BASE=file:$OUT/bertbase-store
	# A store kept by --reuse is used only if it was made with the
	# fidelities this run needs (older runs made 4,8,16,32).
	if [ "$REUSE" = 1 ] && [ -e "$OUT/bertbase-store/index" ] &&
		[ "$(cat "$OUT/bertbase-fidelities.txt" 2>/dev/null)" = "$BASE_FIDELITIES" ]; then
		log "reusing $BASE"
	else
		rm -rf "$OUT/bertbase-store" "$OUT/bertbase-fidelities.txt"
		log "synth bert-base (random weights)"
		timed "$WRX" synth --like bert-base --vocab "$SHARED/fixtures/tokenizer/vocab.txt" --out "$BASE" --fidelities "$BASE_FIDELITIES" --quiet
		echo "$BASE_FIDELITIES" >"$OUT/bertbase-fidelities.txt"
	fi
	timed "$WRX" profile device --store "$BASE" --quiet | tee "$OUT/bertbase-device.txt"
	base=(--store "$BASE" --task sst2 --data "$DEV" --targets auto --budgets "$BASE_BUDGETS" --max-len "$MAX_LEN"
		--fidelity "$FIDELITY" --quantized-fidelity "$QUANTIZED_FIDELITY" --limit "$BASE_LIMIT" --baseline-limit "$BASE_BASELINE_LIMIT")
	log "bench bert-base, unthrottled"
	timed "$WRXBENCH" "${base[@]}" "${resume[@]}" --out "$OUT/bertbase" >/dev/null
	log "bench bert-base, throttled to $THROTTLE"
	timed "$WRXBENCH" "${base[@]}" "${resume[@]}" --throttle "$THROTTLE" --out "$OUT/bertbase-throttled" >/dev/null
fi

if [ "$DOCS" = 1 ]; then
	log "copy plots into docs/results"
	for d in unthrottled throttled bertbase bertbase-throttled; do
		[ -d "$OUT/$d" ] || continue
		mkdir -p "$ROOT/docs/results/$d"
		cp "$OUT/$d"/results.md "$OUT/$d"/results.json "$OUT/$d"/verdicts.json "$OUT/$d"/{latency_vs_target,memory}.png "$ROOT/docs/results/$d/"
		# Random weights: the bert-base accuracy plot means nothing.
		case $d in bertbase*) ;; *) cp "$OUT/$d/accuracy_vs_target.png" "$ROOT/docs/results/$d/" ;; esac
	done
	cp "$OUT/importance/importance.png" "$OUT/importance/importance.md" "$ROOT/docs/results/"
fi

log "done"
for d in unthrottled throttled bertbase bertbase-throttled; do
	[ -f "$OUT/$d/results.md" ] && echo "tables: $OUT/$d/results.md"
done
echo "importance: $OUT/importance/importance.md"
