#!/usr/bin/env bash
# End-to-end latency of SST-2 classification, batch 1, WRX against its peers
# in one run (issues 5 and 16): WRX native and WRX gorgonia (bench/e2e), WRX
# native at 8 bits (native8: a store converted at 8 bits, held in memory as
# int8 and run on the integer kernels), WRX native at 4 bits (native4: a
# store converted at 4 bits, held as its 4-bit shards and run on the 4-bit
# integer kernels, backend.Int4), ONNX Runtime (npm's onnxruntime-node
# on an ONNX export of the same weights) in float32 (ort) and dynamically
# quantized to int8 (ort8: scripts/e2e/quantize_onnx.py, the graph
# quantize_dynamic writes), and PyTorch (Debian's python3-torch), each on 1
# and 2 threads, on the same sentences and the same token ids. It checks
# that all of them agree on the labels (int8 peers up to near-ties of their
# own size) and prints median and p95 latency per sentence, accuracy, the
# ratio WRX-native/peer and the held model's memory for the WRX runs.
#
#   scripts/bench-e2e.sh                  # first 200 sentences of SST-2 dev
#   scripts/bench-e2e.sh --all            # all 872
#   scripts/bench-e2e.sh --limit 50 --passes 1 --threads 1
#   scripts/bench-e2e.sh --all --threads 1 --peers native,native8,ort,ort8
#   scripts/bench-e2e.sh --all --threads 1 --peers native,native4,native8,ort8
#
# The 4-bit runs hold other weights than float32's, so their labels may
# differ; the report gives their agreement, and the accuracy difference
# from float32 with a 95 % paired bootstrap interval (bench/e2e --compare).#
# What each peer times: WRX, the whole Classify call (tokenize + forward +
# softmax); ONNX Runtime, session.run; PyTorch, the forward call. The peers
# get token ids that bench/e2e wrote, so WRX alone pays for tokenizing (its
# cost is printed). Each peer warms up on the first --warmup sentences.
#
# The machine may be shared, so latency is measured in --passes P passes,
# each running every peer in turn (native, ONNX Runtime, PyTorch, gorgonia),
# and every sentence keeps its fastest time over the passes (and over the
# --rounds R timings within a pass). A burst of load from another process then
# hits all peers alike instead of whichever one happened to be running. The
# load average is printed before and after: compare runs only at similar
# load. --nice -10 (root) runs every peer at a higher priority than the
# machine's other work, alike for all; it does not shield them from cache and
# memory contention, which on the 2-core development VM is most of the noise.
#
# PyTorch runs with OMP_WAIT_POLICY=PASSIVE unless --torch-omp-wait says
# otherwise: with libgomp's default spinning, 2-thread PyTorch collapses to
# hundreds of ms per sentence as soon as another process wants a core, which
# would flatter WRX. OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are unset for
# PyTorch so that OpenBLAS picks its own kernels.
#
# Installs what it needs, idempotently: python3-torch and python3-numpy with
# apt (Debian's /usr/bin/python3, not a pyenv python), python3-onnx for
# ort8, Node.js with apt if missing, onnxruntime-node with npm under the
# output directory (out/ is ignored by git). Results go to --out (default out/e2e): summaries.jsonl,
# per-run predictions, report.txt.
#
# Exit status: 0 on success, 1 on a setup or run error, 2 when the peers
# disagree on labels beyond near-ties.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHARED=${WRX_SHARED:-$(cd "$ROOT/.." && pwd)/shared}
MODEL=$SHARED/models/wrx-sst2-small
DATA=$SHARED/data/glue/SST-2/dev.tsv
OUT=$ROOT/out/e2e
LIMIT=200
PASSES=3
ROUNDS=1
WARMUP=10
THREADS=1,2
PEERS=native,native8,native4,gorgonia,ort,ort8,torch
TORCH_MODES=no_grad,inference_mode,jit
TORCH_OMP_WAIT=PASSIVE
INSTALL=1
NICE=0
PY=/usr/bin/python3

usage() {
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
	cat <<EOF
Options:
  --limit N           sentences from the start of dev.tsv (default $LIMIT)
  --all               all sentences (872)
  --passes P          passes over all peers; each sentence keeps its fastest (default $PASSES)
  --rounds R          timings per sentence within a pass (default $ROUNDS)
  --warmup W          untimed warm-up sentences per run (default $WARMUP)
  --threads LIST      thread counts (default $THREADS)
  --peers LIST        some of native,native8,native4,gorgonia,ort,ort8,torch (default $PEERS; native is always run)
  --torch-modes LIST  some of no_grad,inference_mode,jit (default $TORCH_MODES)
  --torch-omp-wait P  OMP_WAIT_POLICY for PyTorch; "" keeps libgomp's default (default $TORCH_OMP_WAIT)
  --model DIR         model directory (default \$WRX_SHARED/models/wrx-sst2-small)
  --data FILE         SST-2 TSV (default \$WRX_SHARED/data/glue/SST-2/dev.tsv)
  --out DIR           output directory (default out/e2e)
  --nice N            run every peer under "nice -n N" (negative needs root; default 0)
  --no-install        fail instead of installing missing dependencies
EOF
}

die() {
	echo "bench-e2e: $*" >&2
	exit 1
}

while (($#)); do
	case $1 in
	--limit) LIMIT=${2:?--limit needs a value}; shift ;;
	--all) LIMIT=0 ;;
	--passes) PASSES=${2:?--passes needs a value}; shift ;;
	--rounds) ROUNDS=${2:?--rounds needs a value}; shift ;;
	--warmup) WARMUP=${2:?--warmup needs a value}; shift ;;
	--threads) THREADS=${2:?--threads needs a value}; shift ;;
	--peers) PEERS=${2:?--peers needs a value}; shift ;;
	--torch-modes) TORCH_MODES=${2:?--torch-modes needs a value}; shift ;;
	--torch-omp-wait) TORCH_OMP_WAIT=${2?--torch-omp-wait needs a value}; shift ;;
	--model) MODEL=${2:?--model needs a value}; shift ;;
	--data) DATA=${2:?--data needs a value}; shift ;;
	--out) OUT=${2:?--out needs a value}; shift ;;
	--nice) NICE=${2:?--nice needs a value}; shift ;;
	--no-install) INSTALL=0 ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown option $1" ;;
	esac
	shift
done
[[ $LIMIT =~ ^[0-9]+$ ]] || die "--limit $LIMIT: want a number (0 or --all for every sentence)"
[[ $PASSES =~ ^[1-9][0-9]*$ ]] || die "--passes $PASSES: want a number >= 1"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "--rounds $ROUNDS: want a number >= 1"
[[ $WARMUP =~ ^[0-9]+$ ]] || die "--warmup $WARMUP: want a number"
[[ $THREADS =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || die "--threads $THREADS: want a comma-separated list like 1,2"
[[ $NICE =~ ^-?[0-9]+$ ]] || die "--nice $NICE: want an integer"
RUN=()
if ((NICE != 0)); then
	nice -n "$NICE" true 2>/dev/null || die "--nice $NICE: not permitted (a negative value needs root)"
	RUN=(nice -n "$NICE")
fi
has_peer() { [[ ,$PEERS, == *,$1,* ]]; }
for p in ${PEERS//,/ }; do
	case $p in native | native8 | native4 | gorgonia | ort | ort8 | torch) ;; *) die "--peers: unknown peer $p (want native, native8, native4, gorgonia, ort, ort8, torch)" ;; esac
done
[[ -f $MODEL/config.json && -f $MODEL/model.safetensors && -f $MODEL/vocab.txt ]] ||
	die "model directory $MODEL lacks config.json, model.safetensors or vocab.txt (set --model or WRX_SHARED)"
[[ -f $DATA ]] || die "data file $DATA not found (set --data or WRX_SHARED)"
mkdir -p "$OUT" || die "cannot create output directory $OUT"
OUT=$(cd "$OUT" && pwd)

# ---- dependencies --------------------------------------------------------

APT_UPDATED=0
apt_install() { # packages...
	((INSTALL)) || die "missing Debian packages $* and --no-install given; install them with: apt-get install -y $*"
	command -v apt-get >/dev/null || die "missing $* and no apt-get on this machine; install them by hand"
	local sudo=
	if ((EUID != 0)); then
		command -v sudo >/dev/null || die "missing $*: apt-get needs root and sudo is absent; run as root or install them by hand"
		sudo=sudo
	fi
	echo "bench-e2e: installing $* with apt (once)" >&2
	if ((!APT_UPDATED)); then
		$sudo apt-get update -qq >"$OUT/apt.log" 2>&1 || die "apt-get update failed; see $OUT/apt.log"
		APT_UPDATED=1
	fi
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >>"$OUT/apt.log" 2>&1 ||
		die "apt-get install $* failed; see $OUT/apt.log"
}

command -v go >/dev/null || die "go is not on PATH; it is needed to build bench/e2e"
has_peer ort8 && ! has_peer ort && PEERS=$PEERS,ort # the int8 graph is made from the float32 export
if has_peer torch || has_peer ort; then
	# The ONNX export needs torch even when only ONNX Runtime is compared.
	if ! [[ -x $PY ]] || ! "$PY" -c 'import torch, numpy' 2>/dev/null; then
		apt_install python3 python3-torch python3-numpy
		"$PY" -c 'import torch, numpy' 2>"$OUT/torch-import.log" ||
			die "python3-torch is installed but '$PY -c \"import torch, numpy\"' fails; see $OUT/torch-import.log"
	fi
fi
if has_peer ort8 && ! "$PY" -c 'import onnx' 2>/dev/null; then
	apt_install python3-onnx
	"$PY" -c 'import onnx' 2>"$OUT/onnx-import.log" ||
		die "python3-onnx is installed but '$PY -c \"import onnx\"' fails; see $OUT/onnx-import.log"
fi
ORT_MODULES=$OUT/node_modules
if has_peer ort; then
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		apt_install nodejs npm
	fi
	if ! node -e "require('$ORT_MODULES/onnxruntime-node')" 2>/dev/null; then
		((INSTALL)) || die "onnxruntime-node is not in $ORT_MODULES and --no-install given"
		echo "bench-e2e: installing onnxruntime-node with npm into $ORT_MODULES (once)" >&2
		[[ -f $OUT/package.json ]] || echo '{"name": "wrx-e2e-peers", "private": true}' >"$OUT/package.json"
		# INSTALL=skip: use the CPU library bundled in the npm package
		# instead of downloading GPU add-ons from outside the registry.
		(cd "$OUT" && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund onnxruntime-node) >"$OUT/npm.log" 2>&1 ||
			die "npm install onnxruntime-node failed; see $OUT/npm.log"
		node -e "require('$ORT_MODULES/onnxruntime-node')" 2>"$OUT/ort-load.log" ||
			die "onnxruntime-node installed but does not load (no CPU library for $(uname -m)?); see $OUT/ort-load.log"
	fi
fi

# ---- build, export ---------------------------------------------------------

echo "bench-e2e: building bench/e2e" >&2
(cd "$ROOT" && go build -o "$OUT/e2e" ./bench/e2e) || die "go build ./bench/e2e failed"
STORE8=$OUT/store-8bit
if has_peer native8; then
	# Converted afresh every run (under a second), so the store always
	# holds what this build writes at 8 bits.
	echo "bench-e2e: converting $MODEL to an 8-bit store in $STORE8" >&2
	(cd "$ROOT" && go build -o "$OUT/wrx" ./cmd/wrx) || die "go build ./cmd/wrx failed"
	rm -rf "$STORE8"
	"$OUT/wrx" convert --model "$MODEL" --out "file:$STORE8" --fidelities 8 >"$OUT/convert.log" 2>&1 ||
		{ cat "$OUT/convert.log" >&2; die "wrx convert --fidelities 8 failed; see $OUT/convert.log"; }
fi
STORE4=$OUT/store-4bit
if has_peer native4; then
	echo "bench-e2e: converting $MODEL to a 4-bit store in $STORE4" >&2
	(cd "$ROOT" && go build -o "$OUT/wrx" ./cmd/wrx) || die "go build ./cmd/wrx failed"
	rm -rf "$STORE4"
	"$OUT/wrx" convert --model "$MODEL" --out "file:$STORE4" --fidelities 4 >"$OUT/convert4.log" 2>&1 ||
		{ cat "$OUT/convert4.log" >&2; die "wrx convert --fidelities 4 failed; see $OUT/convert4.log"; }
fi

ONNX=$OUT/$(basename "$MODEL").onnx
if has_peer ort && { [[ ! -s $ONNX ]] || [[ $MODEL/model.safetensors -nt $ONNX ]] || [[ $ROOT/scripts/e2e/bertpt.py -nt $ONNX ]]; }; then
	echo "bench-e2e: exporting $MODEL to $ONNX" >&2
	"$PY" "$ROOT/scripts/e2e/export_onnx.py" --model "$MODEL" --out "$ONNX" 2>"$OUT/export.log" ||
		{ cat "$OUT/export.log" >&2; die "ONNX export failed; see $OUT/export.log"; }
fi
ONNX8=${ONNX%.onnx}-int8.onnx
if has_peer ort8 && { [[ ! -s $ONNX8 ]] || [[ $ONNX -nt $ONNX8 ]] || [[ $ROOT/scripts/e2e/quantize_onnx.py -nt $ONNX8 ]]; }; then
	echo "bench-e2e: quantizing $ONNX to int8 ($ONNX8)" >&2
	"$PY" "$ROOT/scripts/e2e/quantize_onnx.py" --model "$ONNX" --out "$ONNX8" >"$OUT/quantize.log" 2>&1 ||
		{ cat "$OUT/quantize.log" >&2; die "ONNX quantization failed; see $OUT/quantize.log"; }
fi

# ---- runs ------------------------------------------------------------------

SUMMARIES=$OUT/summaries.jsonl
: >"$SUMMARIES"
echo "bench-e2e: $(nproc) CPUs, nice $NICE, load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
e2e() { # dir backend threads [extra flags]
	local dir=$1 be=$2 t=$3
	shift 3
	echo "bench-e2e: WRX $be, $t thread(s)" >&2
	"${RUN[@]}" "$OUT/e2e" --model "$MODEL" --data "$DATA" --limit "$LIMIT" --backend "$be" --threads "$t" \
		--warmup "$WARMUP" --rounds "$ROUNDS" --json --preds "$dir/wrx-$be-$t.jsonl" "$@" >>"$SUMMARIES" ||
		die "bench/e2e --backend $be --threads $t failed"
}
e2e8() { # dir threads: WRX native on the 8-bit store, held as int8
	local dir=$1 t=$2
	echo "bench-e2e: WRX native at 8 bits (int8), $t thread(s)" >&2
	"${RUN[@]}" "$OUT/e2e" --store "file:$STORE8" --fidelity 8 --data "$DATA" --limit "$LIMIT" --backend native --threads "$t" \
		--warmup "$WARMUP" --rounds "$ROUNDS" --json --preds "$dir/wrx-native-8bit-$t.jsonl" >>"$SUMMARIES" ||
		die "bench/e2e --store file:$STORE8 --fidelity 8 --threads $t failed"
}
e2e4() { # dir threads: WRX native on the 4-bit store, held as 4-bit shards
	local dir=$1 t=$2
	echo "bench-e2e: WRX native at 4 bits (int4), $t thread(s)" >&2
	"${RUN[@]}" "$OUT/e2e" --store "file:$STORE4" --fidelity 4 --data "$DATA" --limit "$LIMIT" --backend native --threads "$t" \
		--warmup "$WARMUP" --rounds "$ROUNDS" --json --preds "$dir/wrx-native-4bit-$t.jsonl" >>"$SUMMARIES" ||
		die "bench/e2e --store file:$STORE4 --fidelity 4 --threads $t failed"
}
IDS=$OUT/ids.jsonl
for ((pass = 1; pass <= PASSES; pass++)); do
	dir=$OUT/pass$pass
	mkdir -p "$dir"
	echo "bench-e2e: pass $pass of $PASSES, load average $(cut -d" " -f1-3 /proc/loadavg)" >&2
	for t in ${THREADS//,/ }; do
		if ((pass == 1)) && [[ $t == "${THREADS%%,*}" ]]; then
			e2e "$dir" native "$t" --ids "$IDS" # every peer is fed these ids
		else
			e2e "$dir" native "$t"
		fi
		has_peer native8 && e2e8 "$dir" "$t"
		has_peer native4 && e2e4 "$dir" "$t"
	done
	if has_peer ort; then
		echo "bench-e2e: ONNX Runtime, threads $THREADS" >&2
		"${RUN[@]}" node "$ROOT/scripts/e2e/bench_ort.js" --model "$ONNX" --ids "$IDS" --out-dir "$dir" --threads "$THREADS" \
			--warmup "$WARMUP" --rounds "$ROUNDS" --node-modules "$ORT_MODULES" >>"$SUMMARIES" ||
			die "ONNX Runtime run failed"
	fi
	if has_peer ort8; then
		echo "bench-e2e: ONNX Runtime int8, threads $THREADS" >&2
		"${RUN[@]}" node "$ROOT/scripts/e2e/bench_ort.js" --model "$ONNX8" --ids "$IDS" --out-dir "$dir" --threads "$THREADS" \
			--warmup "$WARMUP" --rounds "$ROUNDS" --node-modules "$ORT_MODULES" --peer onnxruntime-int8 >>"$SUMMARIES" ||
			die "ONNX Runtime int8 run failed"
	fi
	if has_peer torch; then
		echo "bench-e2e: PyTorch ($TORCH_MODES), threads $THREADS, OMP_WAIT_POLICY=${TORCH_OMP_WAIT:-default}" >&2
		"${RUN[@]}" env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ${TORCH_OMP_WAIT:+OMP_WAIT_POLICY=$TORCH_OMP_WAIT} \
			"$PY" "$ROOT/scripts/e2e/bench_torch.py" --model "$MODEL" --ids "$IDS" --out-dir "$dir" \
			--threads "$THREADS" --modes "$TORCH_MODES" --warmup "$WARMUP" --rounds "$ROUNDS" \
			>>"$SUMMARIES" 2>"$OUT/torch.log" || { tail -5 "$OUT/torch.log" >&2; die "PyTorch run failed; see $OUT/torch.log"; }
	fi
	if has_peer gorgonia; then
		for t in ${THREADS//,/ }; do e2e "$dir" gorgonia "$t"; done
	fi
done
echo "bench-e2e: load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# ---- report ----------------------------------------------------------------

RPY=$PY
[[ -x $RPY ]] || RPY=$(command -v python3) || die "no python3 to print the report with"
set +e
"$RPY" "$ROOT/scripts/e2e/report.py" "$SUMMARIES" | tee "$OUT/report.txt"
status=${PIPESTATUS[0]}
set -e
"$RPY" - "$SUMMARIES" <<'EOF' | tee -a "$OUT/report.txt"
import json, sys
mem = {}
for line in open(sys.argv[1]):
    s = json.loads(line)
    if s["peer"].startswith("wrx-native") and "/pass1/" in s["preds"]:
        print(f"{s['peer']} @{s['threads']}: kernels {s.get('kernels')}, tokenize alone median {s['tokenize_median_ms']:.3f} ms"
              f" (inside WRX's figures), {s['mean_tokens']:.1f} tokens per sentence on average")
    if s["peer"].startswith("wrx-native") and "model_peak_bytes" in s:
        mem.setdefault(s["peer"], []).append(s)
if mem:
    print("held model memory (bench/e2e child process, /proc/self/status above the floor before loading; median over runs):")
    med = lambda v: sorted(v)[len(v) // 2]
    base = None
    for peer, runs in mem.items():
        peak, steady = med([r["model_peak_bytes"] for r in runs]), med([r["model_steady_bytes"] for r in runs])
        if peer == "wrx-native":
            base = (peak, steady)
        ratio = f"  = {peak / base[0]:.2f} / {steady / base[1]:.2f} of wrx-native" if base and peer != "wrx-native" else ""
        print(f"  {peer}: peak (VmHWM) {peak / 1e6:.1f} MB, steady (VmRSS after GC) {steady / 1e6:.1f} MB ({len(runs)} runs){ratio}")
EOF
if has_peer native4; then
	for t in ${THREADS//,/ }; do
		echo "accuracy at 4 bits against float32, $t thread(s), pass 1 (bench/e2e --compare):" | tee -a "$OUT/report.txt"
		"$OUT/e2e" --compare "$OUT/pass1/wrx-native-4bit-$t.jsonl,$OUT/pass1/wrx-native-$t.jsonl" | sed 's/^/  /' | tee -a "$OUT/report.txt"
	done
fi
echo "bench-e2e: summaries in $SUMMARIES, table in $OUT/report.txt" >&2
exit "$status"
