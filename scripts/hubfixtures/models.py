"""Model side of gen.sh: small checkpoints derived from ../shared's tiny
models, in the layouts and with the heads WRX must read, and their PyTorch
reference logits.

Usage: /usr/bin/python3 models.py SHARED OUT PIECES.json

Every fixture keeps the first layers of tiny-bert or tiny-distilbert, the
word-embedding rows of the tokens the reference texts use (PIECES.json, ids
in the bert-base-uncased vocabulary, from tokenizers.js) and 128 positions,
so that it is a few hundred KB. Dropping vocabulary rows does not change how
WordPiece splits those texts (the longest match at each step is still in the
vocabulary), so the reference ids are the shared ones, renumbered.

The logits come from the PyTorch forward pass below, one sequence per pass,
in float32; the script first checks that it reproduces the logits of
../shared's reference.jsonl for the full tiny models.
"""

import collections
import json
import math
import os
import struct
import sys

import torch

torch.set_grad_enabled(False)


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = collections.OrderedDict()
    for name, e in header.items():
        if name == "__metadata__":
            continue
        assert e["dtype"] == "F32", (name, e["dtype"])
        b, t = e["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[b:t]), dtype=torch.float32).reshape(e["shape"]).clone()
    return out


def write_safetensors(path, sd):
    """The safetensors format, written by hand (Debian has no safetensors)."""
    names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64"}
    header, blobs, off = {}, [], 0
    for name, t in sd.items():
        t = t.contiguous()
        raw = t.view(torch.int16).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()
        header[name] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    header["__metadata__"] = {"format": "pt"}
    js = json.dumps(header, separators=(",", ":")).encode()
    js += b" " * (-len(js) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(js)))
        f.write(js)
        for b in blobs:
            f.write(b)


def layer_norm(x, w, b, eps):
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), w, b, eps)


def gelu(x):
    return torch.nn.functional.gelu(x)  # the exact erf form, as hidden_act "gelu"


def attention(x, q, k, v, heads):
    n, h = x.shape
    d = h // heads
    q, k, v = (t.view(n, heads, d).transpose(0, 1) for t in (q, k, v))
    p = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(d), dim=-1)
    return (p @ v).transpose(0, 1).reshape(n, h)


def bert_logits(sd, cfg, ids, types):
    """BertForSequenceClassification in eval mode, one sequence."""
    lin = lambda x, p: x @ sd[p + ".weight"].float().T + sd[p + ".bias"].float()
    ln = lambda x, p: layer_norm(x, sd[p + ".weight"].float(), sd[p + ".bias"].float(), cfg["layer_norm_eps"])
    ids, types = torch.tensor(ids), torch.tensor(types)
    e = "bert.embeddings."
    x = (sd[e + "word_embeddings.weight"].float()[ids] + sd[e + "position_embeddings.weight"].float()[: len(ids)]
         + sd[e + "token_type_embeddings.weight"].float()[types])
    x = ln(x, e + "LayerNorm")
    for i in range(cfg["num_hidden_layers"]):
        p = f"bert.encoder.layer.{i}."
        a = attention(x, lin(x, p + "attention.self.query"), lin(x, p + "attention.self.key"),
                      lin(x, p + "attention.self.value"), cfg["num_attention_heads"])
        x = ln(x + lin(a, p + "attention.output.dense"), p + "attention.output.LayerNorm")
        x = ln(x + lin(gelu(lin(x, p + "intermediate.dense")), p + "output.dense"), p + "output.LayerNorm")
    pooled = torch.tanh(lin(x[0], "bert.pooler.dense"))
    return lin(pooled, "classifier")


def distilbert_logits(sd, cfg, ids, types):
    """DistilBertForSequenceClassification in eval mode, one sequence."""
    lin = lambda x, p: x @ sd[p + ".weight"].float().T + sd[p + ".bias"].float()
    ln = lambda x, p: layer_norm(x, sd[p + ".weight"].float(), sd[p + ".bias"].float(), 1e-12)
    ids = torch.tensor(ids)
    e = "distilbert.embeddings."
    x = sd[e + "word_embeddings.weight"].float()[ids] + sd[e + "position_embeddings.weight"].float()[: len(ids)]
    x = ln(x, e + "LayerNorm")
    for i in range(cfg["n_layers"]):
        p = f"distilbert.transformer.layer.{i}."
        a = attention(x, lin(x, p + "attention.q_lin"), lin(x, p + "attention.k_lin"), lin(x, p + "attention.v_lin"),
                      cfg["n_heads"])
        x = ln(x + lin(a, p + "attention.out_lin"), p + "sa_layer_norm")
        x = ln(x + lin(gelu(lin(x, p + "ffn.lin1")), p + "ffn.lin2"), p + "output_layer_norm")
    return lin(torch.relu(lin(x[0], "pre_classifier")), "classifier")


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def check_peer(shared, name, forward):
    d = os.path.join(shared, "fixtures", name)
    cfg = json.load(open(os.path.join(d, "config.json")))
    sd = read_safetensors(os.path.join(d, "model.safetensors"))
    worst = 0.0
    for r in read_jsonl(os.path.join(d, "reference.jsonl")):
        got = forward(sd, cfg, r["input_ids"], r["token_type_ids"])
        worst = max(worst, (got - torch.tensor(r["logits"])).abs().max().item())
    assert worst < 2e-5, f"{name}: this forward pass is {worst} from ../shared's reference logits"
    print(f"{name}: forward pass within {worst:.2e} of ../shared's reference logits")
    return cfg, sd


def derive(cfg, sd, kind, keep_ids, layers, positions):
    """Keeps the given layers, vocabulary rows and positions."""
    cfg, out = dict(cfg), collections.OrderedDict()
    pre = "bert." if kind == "bert" else "distilbert."
    layer_key = "encoder.layer." if kind == "bert" else "transformer.layer."
    rows = torch.tensor(keep_ids)
    for name, t in sd.items():
        if name.startswith(pre + layer_key):
            i = int(name[len(pre + layer_key):].split(".")[0])
            if i not in layers:
                continue
            name = name.replace(f"{layer_key}{i}.", f"{layer_key}{layers.index(i)}.", 1)
        if name.endswith("embeddings.word_embeddings.weight"):
            t = t[rows]
        elif name.endswith("embeddings.position_embeddings.weight"):
            t = t[:positions]
        out[name] = t.clone()
    cfg["vocab_size"] = len(keep_ids)
    cfg["max_position_embeddings"] = positions
    cfg["num_hidden_layers" if kind == "bert" else "n_layers"] = len(layers)
    return cfg, out


def references(refs, remap, forward, cfg, sd, sigmoid=False):
    out = []
    for r in refs:
        ids = [remap[i] for i in r["input_ids"]]
        logits = forward(sd, cfg, ids, r["token_type_ids"])
        line = {"text": r["text"], "text_pair": r["text_pair"], "input_ids": ids,
                "token_type_ids": r["token_type_ids"], "logits": [round(v, 7) for v in logits.tolist()]}
        if sigmoid:
            line["probs"] = [round(v, 7) for v in torch.sigmoid(logits).tolist()]
        out.append(line)
    return out


def write_dir(out, name, cfg, files, refs):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        os.remove(os.path.join(d, f))
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    for fname, write in files.items():
        write(os.path.join(d, fname))
    with open(os.path.join(d, "reference.jsonl"), "w") as f:
        for r in refs:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return d


def main():
    shared, out, pieces = sys.argv[1:4]
    torch.manual_seed(13)
    bert_cfg, bert_sd = check_peer(shared, "tiny-bert", bert_logits)
    distil_cfg, distil_sd = check_peer(shared, "tiny-distilbert", distilbert_logits)

    vocab = open(os.path.join(shared, "fixtures", "tokenizer", "vocab.txt")).read().rstrip("\n").split("\n")
    specials = [vocab.index(t) for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")]
    keep = sorted(set(json.load(open(pieces))) | set(specials))
    remap = {old: new for new, old in enumerate(keep)}
    small_vocab = "".join(vocab[i] + "\n" for i in keep)
    write_vocab = lambda p: open(p, "w").write(small_vocab)
    tok_cfg = lambda p: open(p, "w").write(json.dumps(
        {"do_lower_case": True, "model_max_length": 128, "tokenizer_class": "BertTokenizer"}, indent=2) + "\n")
    bert_refs = read_jsonl(os.path.join(shared, "fixtures", "tiny-bert", "reference.jsonl"))
    distil_refs = read_jsonl(os.path.join(shared, "fixtures", "tiny-distilbert", "reference.jsonl"))

    # bert-bin: BertForSequenceClassification, 3 labels, pytorch_model.bin
    # in float32 (zip format, as save_pretrained writes it), with the
    # int64 position_ids buffer older checkpoints carry, and vocab.txt.
    cfg, sd = derive(bert_cfg, bert_sd, "bert", keep, [0, 1], 128)
    sd["bert.embeddings.position_ids"] = torch.arange(128).unsqueeze(0)
    refs = references(bert_refs, remap, bert_logits, cfg, sd)
    write_dir(out, "bert-bin", cfg, {
        "pytorch_model.bin": lambda p: torch.save(sd, p),
        "vocab.txt": write_vocab, "tokenizer_config.json": tok_cfg}, refs)

    # distil-multilabel: DistilBertForSequenceClassification with four
    # labels scored by a sigmoid each, weights in float16, and the
    # tokenizer only as tokenizer.json (gen.sh writes it).
    cfg, sd = derive(distil_cfg, distil_sd, "distilbert", keep, [0, 2], 128)
    w, b = sd["classifier.weight"], sd["classifier.bias"]
    sd["classifier.weight"] = torch.cat([w, torch.randn(2, w.shape[1]) * w.std()])
    sd["classifier.bias"] = torch.cat([b, torch.randn(2) * 0.5])
    labels = ["alpha", "beta", "gamma", "delta"]
    cfg["id2label"] = {str(i): l for i, l in enumerate(labels)}
    cfg["label2id"] = {l: i for i, l in enumerate(labels)}
    cfg["problem_type"] = "multi_label_classification"
    cfg["torch_dtype"] = "float16"
    sd = collections.OrderedDict((k, v.half()) for k, v in sd.items())
    refs = references(distil_refs, remap, distilbert_logits, cfg, sd, sigmoid=True)
    write_dir(out, "distil-multilabel", cfg, {"pytorch_model.bin": lambda p: torch.save(sd, p)}, refs)

    # bert-regression: one output (a regression head or a cross-encoder
    # reranker: num_labels 1, no id2label), weights as bfloat16
    # safetensors, tokenizer.json only.
    cfg, sd = derive(bert_cfg, bert_sd, "bert", keep, [1, 2], 128)
    sd["classifier.weight"] = sd["classifier.weight"][:1] - sd["classifier.weight"][1:2]
    sd["classifier.bias"] = sd["classifier.bias"][:1] - sd["classifier.bias"][1:2]
    del cfg["id2label"], cfg["label2id"]
    cfg["num_labels"] = 1
    cfg["problem_type"] = "regression"
    cfg["torch_dtype"] = "bfloat16"
    sd = collections.OrderedDict((k, v.bfloat16()) for k, v in sd.items())
    refs = references(bert_refs, remap, bert_logits, cfg, sd)
    write_dir(out, "bert-regression", cfg, {"model.safetensors": lambda p: write_safetensors(p, sd)}, refs)

    with open(os.path.join(out, "small-vocab.txt"), "w") as f:
        f.write(small_vocab)
    print(f"wrote bert-bin, distil-multilabel, bert-regression in {out} ({len(keep)}-token vocabulary)")


if __name__ == "__main__":
    main()
