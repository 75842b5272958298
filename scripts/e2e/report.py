#!/usr/bin/env python3
"""Reads the summary lines printed by bench/e2e, bench_ort.js and
bench_torch.py (one JSON object per line, each naming its per-sentence
predictions file), and prints the end-to-end comparison table:

    python3 scripts/e2e/report.py out/e2e/summaries.jsonl

A run (peer, threads) may appear once per pass; its latency per sentence is
then its fastest over the passes. Latency figures are recomputed here from
every peer's per-sentence times with one definition (median: mean of the two middle values for even n; p95:
nearest rank), so no peer's own arithmetic enters the table.

Labels: every run is compared with WRX native. A sentence whose labels differ
is a real disagreement unless one of the two runs' logit margins is below
--tie (a near-tie that float rounding may flip); for the int8 runs
(wrx-native-8bit, onnxruntime-int8) the threshold is --tie-int8, since
quantization moves logits by up to a few hundredths. The exit status is 2 when a
real disagreement is found, 1 on bad input, 0 otherwise. Standard library
only.
"""

import argparse
import json
import math
import sys


def summarize(ms):
    s = sorted(ms)
    n = len(s)
    med = s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2
    rank = min(max(math.ceil(0.95 * n - 1e-9), 1), n)
    return {"median": med, "p95": s[rank - 1], "mean": sum(s) / n}


def read_summaries(path):
    """Returns the summary lines of path, each with its predictions as "recs"."""
    entries = []
    with open(path) as f:
        for no, line in enumerate(f, 1):
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                s = json.loads(line)
            except json.JSONDecodeError as e:
                raise SystemExit(f"report: {path} line {no}: {e}")
            if "preds" not in s:
                raise SystemExit(f"report: {path} line {no}: summary of {s.get('peer')} names no predictions file")
            with open(s["preds"]) as pf:
                s["recs"] = [json.loads(x) for x in pf if x.strip()]
            if not s["recs"]:
                raise SystemExit(f"report: {s['preds']}: no predictions")
            entries.append(s)
    if not entries:
        raise SystemExit(f"report: {path}: no summaries")
    return entries


def merge(entries):
    """Groups entries by (peer, threads), in first-seen order. Each group's
    latency per sentence is its fastest over all passes; labels and logits
    come from its first pass (every pass is checked for agreement apart)."""
    groups = {}
    for e in entries:
        key = (e["peer"], e["threads"])
        if key not in groups:
            groups[key] = dict(e, passes=[e], recs=[dict(r) for r in e["recs"]])
            continue
        g = groups[key]
        if [r["line"] for r in e["recs"]] != [r["line"] for r in g["recs"]]:
            raise SystemExit(f"report: {e['preds']}: not the same sentences as {g['preds']}")
        g["passes"].append(e)
        for r, x in zip(g["recs"], e["recs"]):
            r["ms"] = min(r["ms"], x["ms"])
    runs = list(groups.values())
    for r in runs:
        r.update(summarize([x["ms"] for x in r["recs"]]))
    return runs


def is_int8(peer):
    return peer.endswith("-8bit") or peer.endswith("-int8")


def is_lowbit(peer):
    """Runs of other weights than float32's (4 bits): their labels may differ."""
    return peer.endswith("-4bit")


def margin(rec):
    lg = sorted(rec["logits"], reverse=True)
    return lg[0] - lg[1] if len(lg) > 1 else math.inf


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("summaries")
    ap.add_argument("--tie", type=float, default=1e-3, help="logit margin below which a label flip is a near-tie")
    ap.add_argument("--tie-int8", type=float, default=0.1,
                    help="the same for int8 runs (twice the 0.05 logit bound WRX's int8 tests state)")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    a = ap.parse_args()
    entries = read_summaries(a.summaries)
    runs = merge(entries)

    natives = {r["threads"]: r for r in runs if r["peer"] == "wrx-native"}
    if not natives:
        raise SystemExit("report: no wrx-native run in the summaries")
    ref = natives[min(natives)]
    n = len(ref["recs"])
    for e in entries:
        if len(e["recs"]) != n or any(x["line"] != y["line"] for x, y in zip(e["recs"], ref["recs"])):
            raise SystemExit(f"report: {e['preds']}: not the same sentences as {ref['preds']}")

    # Agreement is checked on every pass of every run, not only the first.
    real = []
    for r in runs:
        agree, dlogit = 0, 0.0
        for e in r["passes"]:
            for x, y in zip(e["recs"], ref["recs"]):
                dlogit = max(dlogit, max(abs(p - q) for p, q in zip(x["logits"], y["logits"])))
                tie = a.tie_int8 if is_int8(r["peer"]) else a.tie
                if x["pred"] == y["pred"]:
                    agree += 1
                elif min(margin(x), margin(y)) >= tie and not is_lowbit(r["peer"]):
                    real.append((r, x, y))
        r["agree"], r["dlogit"] = agree / (n * len(r["passes"])), dlogit
        r["acc"] = sum(x["pred"] == x["gold"] for x in r["recs"]) / n
    all_agree = sum(len({e["recs"][i]["pred"] for e in entries if not is_lowbit(e["peer"])}) == 1 for i in range(n))

    head = ["peer", "threads", "median ms", "p95 ms", "mean ms", "accuracy", "agree %", "max |Δlogit|", "WRX-native/peer"]
    rows = []
    for r in runs:
        nat = natives.get(r["threads"])
        ratio = f"{nat['median'] / r['median']:.2f}" if nat else "-"
        rows.append([r["peer"], str(r["threads"]), f"{r['median']:.2f}", f"{r['p95']:.2f}", f"{r['mean']:.2f}",
                     f"{r['acc']:.4f}", f"{100 * r['agree']:.1f}", f"{r['dlogit']:.1e}", ratio])
    if a.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for row in rows:
            print("| " + " | ".join(row) + " |")
    else:
        w = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
        print("  ".join(h.rjust(w[i]) if i else h.ljust(w[i]) for i, h in enumerate(head)))
        for row in rows:
            print("  ".join(c.rjust(w[i]) if i else c.ljust(w[i]) for i, c in enumerate(row)))
    passes = max(len(r["passes"]) for r in runs)
    print(f"\n{n} sentences, {passes} pass(es) per run (latency: each sentence's fastest); all {len(entries)} "
          f"runs give the same label on {all_agree}/{n} ({100 * all_agree / n:.1f}%); "
          f"agree % and max |Δlogit| are against wrx-native at {ref['threads']} thread(s)")

    print("\nissue 5 targets (median latency, same sentences, same run):")
    for t, nat in sorted(natives.items()):
        ort = [r for r in runs if r["peer"] == "onnxruntime" and r["threads"] == t]
        if ort:
            ratio = nat["median"] / ort[0]["median"]
            print(f"  WRX native / ONNX Runtime, {t} thread(s): {nat['median']:.2f} / {ort[0]['median']:.2f} ms"
                  f" = {ratio:.2f}  (target <= 1.0: {'met' if ratio <= 1.0 else 'NOT met'})")
    torch_runs = [r for r in runs if r["peer"].startswith("pytorch")]
    if torch_runs:
        best_t = min(torch_runs, key=lambda r: r["median"])
        best_n = min(natives.values(), key=lambda r: r["median"])
        ratio = best_n["median"] / best_t["median"]
        print(f"  WRX native best ({best_n['threads']} thread(s)) / PyTorch best ({best_t['peer']}, "
              f"{best_t['threads']} thread(s)): {best_n['median']:.2f} / {best_t['median']:.2f} ms = {ratio:.2f}"
              f"  (target <= 0.5: {'met' if ratio <= 0.5 else 'NOT met'})")

    by = {(r["peer"], r["threads"]): r for r in runs}
    lines = []
    for t in sorted(natives):
        w8, o8, o32 = by.get(("wrx-native-8bit", t)), by.get(("onnxruntime-int8", t)), by.get(("onnxruntime", t))
        if w8 and o8:
            ratio = w8["median"] / o8["median"]
            lines.append(f"  WRX int8 / ONNX Runtime int8, {t} thread(s): p50 {w8['median']:.2f} / {o8['median']:.2f} ms = {ratio:.2f}"
                         f"  (target <= 1.0: {'met' if ratio <= 1.0 else 'NOT met'}); p95 {w8['p95']:.2f} / {o8['p95']:.2f} ms"
                         f"  (target <=: {'met' if w8['p95'] <= o8['p95'] else 'NOT met'})")
        if w8:
            d = 100 * (natives[t]["acc"] - w8["acc"])
            lines.append(f"  WRX int8 accuracy {w8['acc']:.4f}, float32 {natives[t]['acc']:.4f}: {d:+.2f} points below"
                         f"  (target within 0.5: {'met' if d <= 0.5 else 'NOT met'})")
        w4 = by.get(("wrx-native-4bit", t))
        if w4 and o8:
            ratio = w4["median"] / o8["median"]
            lines.append(f"  WRX 4-bit / ONNX Runtime int8, {t} thread(s): p50 {w4['median']:.2f} / {o8['median']:.2f} ms = {ratio:.2f}"
                         f"  (target <= 0.8: {'met' if ratio <= 0.8 else 'NOT met'}); p95 {w4['p95']:.2f} / {o8['p95']:.2f} ms"
                         f"  (target <=: {'met' if w4['p95'] <= o8['p95'] else 'NOT met'})")
        if w4:
            d = 100 * (natives[t]["acc"] - w4["acc"])
            lines.append(f"  WRX 4-bit accuracy {w4['acc']:.4f}, float32 {natives[t]['acc']:.4f}: {d:+.2f} points below"
                         f"  (target within 1: {'met' if d <= 1 else 'NOT met'}; interval below, from bench/e2e --compare)")
        if o32:
            ratio = natives[t]["median"] / o32["median"]
            lines.append(f"  WRX float32 / ONNX Runtime float32, {t} thread(s): p50 {natives[t]['median']:.2f} / {o32['median']:.2f} ms"
                         f" = {ratio:.2f}  (target <= 0.85: {'met' if ratio <= 0.85 else 'NOT met'})")
    if lines:
        print("\nissue 16 targets (same sentences, same run):")
        print("\n".join(lines))

    if real:
        print(f"\nreport: {len(real)} label disagreement(s) that are not near-ties (margin >= {a.tie:g}, "
              f"{a.tie_int8:g} for int8 runs):", file=sys.stderr)
        for r, x, y in real[:20]:
            print(f"  {r['peer']} @{r['threads']}: dev line {x['line']}: pred {x['pred']} logits {x['logits']}"
                  f" vs wrx-native pred {y['pred']} logits {y['logits']}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
