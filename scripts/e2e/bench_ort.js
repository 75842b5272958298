#!/usr/bin/env node
// Times ONNX Runtime (npm's onnxruntime-node, CPU execution provider) on the
// token ids written by bench/e2e, one sentence per run (batch 1), for the
// end-to-end comparison in scripts/bench-e2e.sh:
//
//   node scripts/e2e/bench_ort.js --model out/e2e/model.onnx --ids out/e2e/ids.jsonl \
//       --threads 1,2 --out-dir out/e2e [--warmup 10] [--rounds 1] [--node-modules DIR] \
//       [--peer onnxruntime-int8]
//
// Only session.run is timed: the input tensors are built beforehand. Graph
// optimisation is "all", the inter-op pool has one thread (the graph is one
// chain), and the intra-op pool has --threads threads. The first --warmup
// sentences run untimed first; with --rounds R each sentence keeps its
// fastest of R timings, the same rule as bench/e2e.
//
// For each thread count it writes DIR/PEER-T.jsonl (one line per sentence:
// i, line, gold, pred, logits, ms, tokens) and prints one JSON summary line
// naming the peer --peer (default onnxruntime, whose file is DIR/ort-T.jsonl).
'use strict';

const fs = require('fs');
const path = require('path');

function parseArgs(argv) {
  const a = {
    model: '', ids: '', threads: '1,2', outDir: '', warmup: 10, rounds: 1, peer: 'onnxruntime',
    nodeModules: path.resolve(__dirname, '..', '..', 'out', 'e2e', 'node_modules'),
  };
  const names = { '--model': 'model', '--ids': 'ids', '--threads': 'threads', '--out-dir': 'outDir',
    '--warmup': 'warmup', '--rounds': 'rounds', '--node-modules': 'nodeModules', '--peer': 'peer' };
  for (let i = 0; i < argv.length; i++) {
    const key = names[argv[i]];
    if (!key || i + 1 >= argv.length) throw new Error(`unknown flag or missing value: ${argv[i]}`);
    a[key] = argv[++i];
  }
  for (const k of ['model', 'ids', 'outDir']) if (!a[k]) throw new Error(`--${k === 'outDir' ? 'out-dir' : k} is required`);
  a.warmup = Number(a.warmup);
  a.rounds = Number(a.rounds);
  a.threads = String(a.threads).split(',').map(Number);
  if (!(a.warmup >= 0) || !(a.rounds >= 1) || a.threads.some((t) => !(t >= 1) || !Number.isInteger(t))) {
    throw new Error('--warmup must be >= 0, --rounds >= 1, --threads a list of integers >= 1');
  }
  return a;
}

// summarize uses the same definitions as bench/e2e and report.py.
function summarize(ms) {
  const s = [...ms].sort((x, y) => x - y);
  const n = s.length;
  const med = n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  const rank = Math.min(Math.max(Math.ceil(0.95 * n - 1e-9), 1), n);
  return { n, median_ms: med, p95_ms: s[rank - 1], mean_ms: s.reduce((x, y) => x + y, 0) / n, min_ms: s[0], max_ms: s[n - 1] };
}

function loadORT(dir) {
  try {
    return require(path.join(dir, 'onnxruntime-node'));
  } catch (e) {
    throw new Error(`cannot load onnxruntime-node from ${dir} (install it with ` +
      `"ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node" there): ${e.message}`);
  }
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const ort = loadORT(a.nodeModules);
  const sents = fs.readFileSync(a.ids, 'utf8').split('\n').filter((l) => l.trim()).map((l, i) => {
    try { return JSON.parse(l); } catch (e) { throw new Error(`${a.ids} line ${i + 1}: ${e.message}`); }
  });
  if (sents.length === 0) throw new Error(`${a.ids}: no sentences`);
  const feeds = sents.map((s) => {
    const n = s.input_ids.length;
    return {
      input_ids: new ort.Tensor('int64', BigInt64Array.from(s.input_ids, BigInt), [1, n]),
      token_type_ids: new ort.Tensor('int64', BigInt64Array.from(s.token_type_ids, BigInt), [1, n]),
    };
  });
  const version = (ort.env && ort.env.versions && ort.env.versions.common) || 'unknown';

  for (const t of a.threads) {
    const session = await ort.InferenceSession.create(a.model, {
      executionProviders: ['cpu'], graphOptimizationLevel: 'all', executionMode: 'sequential',
      intraOpNumThreads: t, interOpNumThreads: 1,
    });
    for (let i = 0; i < Math.min(a.warmup, feeds.length); i++) await session.run(feeds[i]);
    const best = new Array(feeds.length).fill(Infinity);
    const recs = [];
    for (let r = 0; r < a.rounds; r++) {
      for (let i = 0; i < feeds.length; i++) {
        const start = process.hrtime.bigint();
        const out = await session.run(feeds[i]);
        const ms = Number(process.hrtime.bigint() - start) / 1e6;
        best[i] = Math.min(best[i], ms);
        if (r === 0) {
          const logits = Array.from(out.logits.data);
          const pred = logits.indexOf(Math.max(...logits));
          recs.push({ i, line: sents[i].line, gold: sents[i].gold, pred, logits, ms: 0, tokens: sents[i].input_ids.length });
        }
      }
    }
    recs.forEach((rec, i) => { rec.ms = best[i]; });
    const file = path.join(a.outDir, `${a.peer === 'onnxruntime' ? 'ort' : a.peer}-${t}.jsonl`);
    fs.writeFileSync(file, recs.map((r) => JSON.stringify(r)).join('\n') + '\n');
    await session.release();
    const correct = recs.filter((r) => r.pred === r.gold).length;
    console.log(JSON.stringify({
      peer: a.peer, version, threads: t, timed: 'session.run, batch 1, graph optimisation all',
      warmup: Math.min(a.warmup, feeds.length), rounds: a.rounds, sentences: recs.length,
      accuracy: correct / recs.length, preds: file, ...summarize(best),
    }));
  }
}

main().catch((e) => {
  console.error(`bench_ort: ${e.message}`);
  process.exit(1);
});
