#!/usr/bin/env bash
# Regenerates model/bert/testdata/hf: small checkpoints derived from
# ../shared's tiny models in the layouts and heads that the hub, .bin,
# tokenizer.json and head tests read, with PyTorch reference logits, and
# bert-base-uncased's tokenizer.json as Hugging Face's Rust tokenizer writes
# it. Needs Debian's python3-torch (apt-get install -y python3-torch) and
# node with npm (the script installs the npm package tokenizers into a
# temporary directory).
set -euo pipefail
cd "$(dirname "$0")/../.."
SHARED=${WRX_SHARED:-../shared}
OUT=model/bert/testdata/hf
HERE=scripts/hubfixtures

/usr/bin/python3 -c 'import torch' 2>/dev/null || { echo "needs python3-torch: apt-get install -y python3-torch" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
(cd "$TMP" && npm init -y >/dev/null && npm install --silent tokenizers@0.23.2 >/dev/null)
node() { NODE_PATH="$TMP/node_modules" command node "$@"; }

VOCAB=$SHARED/fixtures/tokenizer/vocab.txt
mkdir -p "$OUT/tokenizer"
node $HERE/tokenizers.js pieces "$VOCAB" "$SHARED/fixtures/tiny-bert/reference.jsonl" "$TMP/pieces-bert.json"
node $HERE/tokenizers.js pieces "$VOCAB" "$SHARED/fixtures/tiny-distilbert/reference.jsonl" "$TMP/pieces-distil.json"
/usr/bin/python3 -c "import json,sys; print(json.dumps(sorted(set(json.load(open(sys.argv[1])))|set(json.load(open(sys.argv[2]))))))" \
	"$TMP/pieces-bert.json" "$TMP/pieces-distil.json" >"$TMP/pieces.json"
/usr/bin/python3 $HERE/models.py "$SHARED" "$OUT" "$TMP/pieces.json"

node $HERE/tokenizers.js write "$OUT/small-vocab.txt" "$OUT/distil-multilabel/tokenizer.json"
node $HERE/tokenizers.js write "$OUT/small-vocab.txt" "$OUT/bert-regression/tokenizer.json" --max-len 128
node $HERE/tokenizers.js write "$OUT/bert-bin/vocab.txt" "$TMP/bert-bin-tokenizer.json"
rm "$OUT/small-vocab.txt"
node $HERE/tokenizers.js write "$VOCAB" "$OUT/tokenizer/tokenizer.json"

# The renumbered reference ids must be what the Rust tokenizer gives.
node $HERE/tokenizers.js check "$TMP/bert-bin-tokenizer.json" "$OUT/bert-bin/reference.jsonl" 128
node $HERE/tokenizers.js check "$OUT/distil-multilabel/tokenizer.json" "$OUT/distil-multilabel/reference.jsonl" 128 ids
node $HERE/tokenizers.js check "$OUT/bert-regression/tokenizer.json" "$OUT/bert-regression/reference.jsonl" 128
node $HERE/tokenizers.js check "$OUT/tokenizer/tokenizer.json" "$SHARED/fixtures/tiny-bert/reference.jsonl" 128
du -sh "$OUT"/*
