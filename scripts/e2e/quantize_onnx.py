#!/usr/bin/python3
"""Dynamic int8 quantization of the exported BERT classifier, the graph that
onnxruntime's quantize_dynamic writes (QOperator format, per_channel=True,
weights QInt8 symmetric, activations QUInt8), for the end-to-end benchmark:

    /usr/bin/python3 scripts/e2e/quantize_onnx.py --model model.onnx --out model-int8.onnx

Python's onnxruntime (and so its quantizer) is not installable here, and
Debian's python3-onnx is enough to rewrite the graph. Every MatMul whose
second input is a constant K×N weight W becomes

    DynamicQuantizeLinear(A)              -> A_u8, a_scale, a_zero_point
    MatMulInteger(A_u8, W_s8, a_zero_point, zeros[N])  -> int32
    Cast(to float), Mul(a_scale, w_scale) -> scale[N], Mul -> output

with W_s8 = round(W / w_scale) (ties to even) and w_scale[n] =
max|W[:, n]| / 127 per output column, as WRX quantizes its weights.
onnxruntime's graph optimizer fuses the chain into DynamicQuantizeMatMul
(and the following bias Add into it). The attention products (both inputs
dynamic), the embeddings and the Gemm head stay float32, as quantize_dynamic
leaves them.
"""

import argparse
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def quantize(model):
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    consumers = {}
    for n in g.node:
        for x in n.input:
            consumers.setdefault(x, []).append(n)
    new_nodes, dropped, added = [], set(), []
    count = 0
    for node in g.node:
        w = inits.get(node.input[1]) if node.op_type == "MatMul" and len(node.input) == 2 else None
        if w is None or len(w.dims) != 2:
            new_nodes.append(node)
            continue
        W = numpy_helper.to_array(w).astype(np.float32)
        scale = np.abs(W).max(axis=0) / 127.0
        scale = np.where(scale == 0, 1.0, scale).astype(np.float32)
        Wq = np.clip(np.round(W / scale), -127, 127).astype(np.int8)
        p = f"{node.name or node.output[0]}_int8"
        added += [
            numpy_helper.from_array(Wq, p + "_W"),
            numpy_helper.from_array(scale, p + "_w_scale"),
            numpy_helper.from_array(np.zeros(W.shape[1], np.int8), p + "_w_zero_point"),
        ]
        if len(consumers.get(w.name, [])) == 1:
            dropped.add(w.name)
        a = node.input[0]
        new_nodes += [
            helper.make_node("DynamicQuantizeLinear", [a], [p + "_a_u8", p + "_a_scale", p + "_a_zero_point"], p + "_quant"),
            helper.make_node("MatMulInteger", [p + "_a_u8", p + "_W", p + "_a_zero_point", p + "_w_zero_point"],
                             [p + "_int32"], p + "_matmul"),
            helper.make_node("Cast", [p + "_int32"], [p + "_float"], p + "_cast", to=TensorProto.FLOAT),
            helper.make_node("Mul", [p + "_a_scale", p + "_w_scale"], [p + "_scale"], p + "_scale_mul"),
            helper.make_node("Mul", [p + "_float", p + "_scale"], [node.output[0]], p + "_out_mul"),
        ]
        count += 1
    del g.node[:]
    g.node.extend(new_nodes)
    keep = [i for i in g.initializer if i.name not in dropped]
    del g.initializer[:]
    g.initializer.extend(keep + added)
    return count


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="float32 ONNX model (export_onnx.py)")
    ap.add_argument("--out", required=True, help="int8 ONNX model to write")
    a = ap.parse_args()
    model = onnx.load(a.model)
    n = quantize(model)
    if n == 0:
        sys.exit(f"quantize_onnx: {a.model} has no MatMul with a constant 2-D weight")
    onnx.checker.check_model(model)
    tmp = a.out + ".tmp"
    onnx.save(model, tmp)
    os.replace(tmp, a.out)  # no half-written file under the final name
    print(f"quantize_onnx: {n} MatMuls to int8, wrote {a.out} ({os.path.getsize(a.out) / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
