"""A PyTorch BERT sequence classifier written for the end-to-end benchmark.

No `transformers` or `safetensors` package is needed: the modules below
mirror Hugging Face's BertForSequenceClassification (same parameter names, so
load_state_dict is strict), and read_safetensors parses the file with numpy.
Batch 1 with no padding is all the benchmark feeds, so there is no attention
mask. GELU is the exact (erf) form, as "hidden_act": "gelu" means.
"""

import json
import math
import struct

import numpy as np
import torch
from torch import nn

_DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": None, "F64": np.float64}


def read_safetensors(path):
    """Returns {name: float32 numpy array} from a .safetensors file.

    Layout: 8-byte little-endian header length, a JSON header mapping each
    tensor name to dtype, shape and [begin, end) offsets into the data that
    follows, then the raw little-endian data.
    """
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: {len(raw)} bytes, too short for a safetensors header")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > len(raw) - 8:
        raise ValueError(f"{path}: header length {n} exceeds file size {len(raw)}")
    header = json.loads(raw[8 : 8 + n])
    data = memoryview(raw)[8 + n :]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype, shape, (begin, end) = info["dtype"], info["shape"], info["data_offsets"]
        if dtype == "BF16":
            u16 = np.frombuffer(data[begin:end], dtype="<u2")
            arr = (u16.astype(np.uint32) << 16).view(np.float32)
        elif dtype in _DTYPES:
            arr = np.frombuffer(data[begin:end], dtype=np.dtype(_DTYPES[dtype]).newbyteorder("<"))
        else:
            raise ValueError(f"{path}: tensor {name}: unsupported dtype {dtype}")
        if arr.size != math.prod(shape):
            raise ValueError(f"{path}: tensor {name}: {arr.size} values for shape {shape}")
        out[name] = arr.astype(np.float32).reshape(shape)
    return out


class Embeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.position_embeddings = nn.Embedding(c["max_position_embeddings"], c["hidden_size"])
        self.token_type_embeddings = nn.Embedding(c["type_vocab_size"], c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        # A buffer sliced to the sequence length traces to a dynamic Slice in
        # ONNX, where torch.arange(seq) would also work; HF does the same.
        self.register_buffer(
            "position_ids", torch.arange(c["max_position_embeddings"]).unsqueeze(0), persistent=False
        )

    def forward(self, input_ids, token_type_ids):
        pos = self.position_ids[:, : input_ids.shape[1]]
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids) + self.position_embeddings(pos)
        return self.LayerNorm(x)


class SelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        h = c["hidden_size"]
        self.heads = c["num_attention_heads"]
        self.head_dim = h // self.heads
        self.query = nn.Linear(h, h)
        self.key = nn.Linear(h, h)
        self.value = nn.Linear(h, h)

    def split(self, x):
        b, s, _ = x.shape
        return x.view(b, s, self.heads, self.head_dim).transpose(1, 2)

    def forward(self, x):
        q, k, v = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)
        ctx = torch.matmul(torch.softmax(scores, dim=-1), v)
        b, _, s, _ = ctx.shape
        return ctx.transpose(1, 2).reshape(b, s, self.heads * self.head_dim)


class DenseNorm(nn.Module):
    """Hugging Face's BertSelfOutput / BertOutput: dense, residual, LayerNorm."""

    def __init__(self, c, n_in):
        super().__init__()
        self.dense = nn.Linear(n_in, c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])

    def forward(self, x, residual):
        return self.LayerNorm(self.dense(x) + residual)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self = SelfAttention(c)
        self.output = DenseNorm(c, c["hidden_size"])

    def forward(self, x):
        return self.output(self.self(x), x)


class Intermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["intermediate_size"])

    def forward(self, x):
        return nn.functional.gelu(self.dense(x))  # exact erf form


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = Attention(c)
        self.intermediate = Intermediate(c)
        self.output = DenseNorm(c, c["intermediate_size"])

    def forward(self, x):
        a = self.attention(x)
        return self.output(self.intermediate(a), a)


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([Layer(c) for _ in range(c["num_hidden_layers"])])

    def forward(self, x):
        for layer in self.layer:
            x = layer(x)
        return x


class Pooler(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["hidden_size"])

    def forward(self, x):
        return torch.tanh(self.dense(x[:, 0]))


class Bert(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = Embeddings(c)
        self.encoder = Encoder(c)
        self.pooler = Pooler(c)


class BertForSequenceClassification(nn.Module):
    """Logits for input_ids and token_type_ids of shape [batch, seq]."""

    def __init__(self, c):
        super().__init__()
        self.bert = Bert(c)
        self.classifier = nn.Linear(c["hidden_size"], len(c["id2label"]))

    def forward(self, input_ids, token_type_ids):
        x = self.bert.embeddings(input_ids, token_type_ids)
        x = self.bert.encoder(x)
        return self.classifier(self.bert.pooler(x))


def load(model_dir):
    """Builds the classifier in model_dir (config.json, model.safetensors), in eval mode."""
    with open(f"{model_dir}/config.json") as f:
        c = json.load(f)
    if c.get("model_type") != "bert":
        raise ValueError(f"{model_dir}/config.json: model_type {c.get('model_type')!r}, this script builds only 'bert'")
    if c.get("hidden_act", "gelu") != "gelu" or c.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError(f"{model_dir}/config.json: only hidden_act 'gelu' with absolute positions is written here")
    c.setdefault("layer_norm_eps", 1e-12)
    c.setdefault("id2label", {"0": "LABEL_0", "1": "LABEL_1"})
    m = BertForSequenceClassification(c)
    weights = read_safetensors(f"{model_dir}/model.safetensors")
    state = {k: torch.from_numpy(v.copy()) for k, v in weights.items() if not k.endswith("position_ids")}
    missing, unexpected = m.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{model_dir}/model.safetensors: missing tensors {missing}, unexpected tensors {unexpected}"
        )
    return m.eval()


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def summarize(ms):
    """Median (mean of the two middle values for even n), nearest-rank p95,
    mean: the same definitions as bench/e2e and report.py."""
    s = sorted(ms)
    n = len(s)
    if n == 0:
        return {"n": 0}
    med = s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2
    rank = min(max(math.ceil(0.95 * n - 1e-9), 1), n)
    return {"n": n, "median_ms": med, "p95_ms": s[rank - 1], "mean_ms": sum(s) / n, "min_ms": s[0], "max_ms": s[-1]}
