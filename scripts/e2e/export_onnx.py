#!/usr/bin/python3
"""Exports a Hugging Face BERT classifier directory to ONNX for the
end-to-end benchmark, after checking the PyTorch model built by bertpt.py
against the directory's reference.jsonl (PyTorch logits computed elsewhere).

    /usr/bin/python3 scripts/e2e/export_onnx.py --model DIR --out model.onnx

Needs Debian's python3-torch and python3-numpy; neither `transformers` nor
`onnx` is used (torch.onnx.export writes the file itself).
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

import bertpt  # noqa: E402


def check_reference(model, model_dir, lines, tol):
    path = os.path.join(model_dir, "reference.jsonl")
    if not os.path.exists(path):
        print(f"export_onnx: {path} not found; skipping the reference check", file=sys.stderr)
        return 0.0
    refs = bertpt.read_jsonl(path)[:lines]
    worst = 0.0
    with torch.no_grad():
        for i, r in enumerate(refs):
            ids = torch.tensor([r["input_ids"]], dtype=torch.long)
            tt = torch.tensor([r["token_type_ids"] or [0] * len(r["input_ids"])], dtype=torch.long)
            got = model(ids, tt)[0]
            diff = (got - torch.tensor(r["logits"])).abs().max().item()
            worst = max(worst, diff)
            if diff > tol:
                raise SystemExit(
                    f"export_onnx: {path} line {i + 1}: logits {got.tolist()} differ from reference "
                    f"{r['logits']} by {diff:.3g} > {tol:g}; the PyTorch BERT here does not match the model"
                )
    print(f"export_onnx: {len(refs)} reference lines match, max |logit diff| {worst:.2e} (tolerance {tol:g})")
    return worst


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="Hugging Face BERT classifier directory")
    ap.add_argument("--out", required=True, help="ONNX file to write")
    ap.add_argument("--opset", type=int, default=17, help="ONNX opset (>= 14; 17 has LayerNormalization)")
    ap.add_argument("--check-lines", type=int, default=20, help="reference.jsonl lines to check before exporting")
    ap.add_argument("--tol", type=float, default=1e-4, help="largest allowed |logit difference| from the reference")
    a = ap.parse_args()
    if a.opset < 14:
        ap.error("--opset must be at least 14")

    model = bertpt.load(a.model)
    check_reference(model, a.model, a.check_lines, a.tol)

    # A sample of 8 tokens; the sequence axis is dynamic.
    ids = torch.tensor([[101, 2009, 1005, 1055, 1037, 11951, 1998, 102]], dtype=torch.long)
    tt = torch.zeros_like(ids)
    with torch.no_grad():
        want = model(ids, tt)
    tmp = a.out + ".tmp"
    torch.onnx.export(
        model,
        (ids, tt),
        tmp,
        input_names=["input_ids", "token_type_ids"],
        output_names=["logits"],
        dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "token_type_ids": {0: "batch", 1: "seq"}, "logits": {0: "batch"}},
        opset_version=a.opset,
        do_constant_folding=True,
    )
    os.replace(tmp, a.out)  # no half-written file under the final name
    print(f"export_onnx: wrote {a.out} ({os.path.getsize(a.out) / 1e6:.1f} MB, opset {a.opset}); "
          f"sample logits {want[0].tolist()}")


if __name__ == "__main__":
    main()
