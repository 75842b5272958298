#!/usr/bin/python3
"""Times PyTorch (Debian's python3-torch) on the token ids written by
bench/e2e, one sentence per forward pass (batch 1), for the end-to-end
comparison in scripts/bench-e2e.sh:

    /usr/bin/python3 scripts/e2e/bench_torch.py --model DIR --ids ids.jsonl \
        --out-dir out/e2e [--threads 1,2] [--modes no_grad,inference_mode,jit]

The model is bertpt.py's BERT in eval mode. Modes:
  no_grad         eager, under torch.no_grad()
  inference_mode  eager, under torch.inference_mode()
  jit             torch.jit.trace + torch.jit.freeze (+ optimize_for_inference),
                  under torch.inference_mode(): PyTorch's own graph-mode path
Only the forward call is timed: input tensors are built beforehand. The first
--warmup sentences run untimed first; with --rounds R each sentence keeps its
fastest of R timings, the same rule as bench/e2e.

Per (mode, threads) it writes DIR/torch-MODE-T.jsonl (i, line, gold, pred,
logits, ms, tokens) and prints one JSON summary line.
"""

import argparse
import contextlib
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

import bertpt  # noqa: E402

MODES = ("no_grad", "inference_mode", "jit")


def build(model, mode, sample):
    """Returns (callable, context factory) for mode."""
    if mode == "no_grad":
        return model, torch.no_grad
    if mode == "inference_mode":
        return model, torch.inference_mode
    with torch.no_grad():
        traced = torch.jit.trace(model, sample)
        frozen = torch.jit.freeze(traced.eval())
        try:
            frozen = torch.jit.optimize_for_inference(frozen)
        except Exception as e:  # older builds lack some passes; freezing alone still counts
            print(f"bench_torch: optimize_for_inference unavailable ({e}); using the frozen module", file=sys.stderr)
    return frozen, torch.inference_mode


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--ids", required=True, help="JSONL of input_ids/token_type_ids from bench/e2e --ids")
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=1)
    a = ap.parse_args()
    threads = [int(t) for t in a.threads.split(",")]
    modes = a.modes.split(",")
    if any(m not in MODES for m in modes):
        ap.error(f"--modes: want some of {MODES}")
    if a.rounds < 1 or a.warmup < 0 or any(t < 1 for t in threads):
        ap.error("--rounds must be >= 1, --warmup >= 0, --threads >= 1")

    torch.set_num_interop_threads(1)  # one chain of ops: no inter-op parallelism to use
    sents = bertpt.read_jsonl(a.ids)
    if not sents:
        raise SystemExit(f"bench_torch: {a.ids}: no sentences")
    inputs = [
        (torch.tensor([s["input_ids"]], dtype=torch.long), torch.tensor([s["token_type_ids"]], dtype=torch.long))
        for s in sents
    ]
    model = bertpt.load(a.model)
    warm = min(a.warmup, len(inputs))

    for mode in modes:
        for t in threads:
            torch.set_num_threads(t)
            fn, ctx = build(model, mode, inputs[0])
            with ctx():
                for x in inputs[: max(warm, 3 if mode == "jit" else 0)]:  # jit profiles its first calls
                    fn(*x)
                best = [float("inf")] * len(inputs)
                logits = [None] * len(inputs)
                for r in range(a.rounds):
                    for i, x in enumerate(inputs):
                        start = time.perf_counter_ns()
                        out = fn(*x)
                        ms = (time.perf_counter_ns() - start) / 1e6
                        best[i] = min(best[i], ms)
                        if r == 0:
                            logits[i] = out[0].tolist()
            recs = []
            for i, s in enumerate(sents):
                lg = logits[i]
                recs.append({"i": i, "line": s["line"], "gold": s["gold"], "pred": max(range(len(lg)), key=lg.__getitem__),
                             "logits": lg, "ms": best[i], "tokens": len(s["input_ids"])})
            path = os.path.join(a.out_dir, f"torch-{mode}-{t}.jsonl")
            with open(path, "w") as f:
                f.writelines(json.dumps(r) + "\n" for r in recs)
            acc = sum(r["pred"] == r["gold"] for r in recs) / len(recs)
            print(json.dumps({"peer": f"pytorch-{mode}", "version": torch.__version__, "threads": torch.get_num_threads(),
                              "timed": "forward call, batch 1", "warmup": warm, "rounds": a.rounds,
                              "sentences": len(recs), "accuracy": acc, "preds": path, **bertpt.summarize(best)}), flush=True)


if __name__ == "__main__":
    main()
