// Tokenizer side of gen.sh, run with Hugging Face's Rust tokenizer (the
// npm package "tokenizers", the library behind AutoTokenizer and
// tokenizer.json):
//
//   node tokenizers.js pieces VOCAB TEXTS.jsonl OUT.json
//       every token id the texts give with VOCAB, before truncation
//   node tokenizers.js write VOCAB OUT/tokenizer.json [--max-len N] [--cased]
//       the tokenizer.json BertTokenizerFast would save for VOCAB
//   node tokenizers.js check TOKENIZER.json REFERENCE.jsonl MAXLEN [ids]
//       fails unless the tokenizer gives every reference line's ids and
//       token type ids (with "ids", the ids only: DistilBERT's references
//       carry zero type ids, as its tokenizer gives the model none)
'use strict';
const fs = require('fs');
const tk = require('tokenizers');

function readVocab(path) {
  const lines = fs.readFileSync(path, 'utf8').replace(/\n$/, '').split('\n');
  const vocab = {};
  lines.forEach((w, i) => { vocab[w.replace(/\r$/, '')] = i; });
  return vocab;
}

// bert builds the tokenizer transformers' BertConverter makes from a
// vocab.txt (convert_slow_tokenizer.py): BertNormalizer, BertPreTokenizer,
// WordPiece, the [CLS] A [SEP] B [SEP] template.
function bert(vocab, cased) {
  const t = new tk.Tokenizer(tk.WordPiece.init(vocab, { unkToken: '[UNK]', continuingSubwordPrefix: '##', maxInputCharsPerWord: 100 }));
  t.setNormalizer(tk.bertNormalizer({ cleanText: true, handleChineseChars: true, lowercase: !cased }));
  t.setPreTokenizer(tk.bertPreTokenizer());
  t.setPostProcessor(tk.templateProcessing('[CLS]:0 $A:0 [SEP]:0', '[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1',
    [['[CLS]', vocab['[CLS]']], ['[SEP]', vocab['[SEP]']]]));
  t.setDecoder(tk.wordPieceDecoder('##'));
  t.addSpecialTokens(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']);
  return t;
}

function readJSONL(path) {
  return fs.readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l));
}

async function main() {
  const [mode, a, b, ...rest] = process.argv.slice(2);
  if (mode === 'pieces') {
    const t = bert(readVocab(a), false);
    const ids = new Set();
    for (const r of readJSONL(b)) {
      const e = await t.encode(r.text, r.text_pair === null ? undefined : r.text_pair);
      e.getIds().forEach((i) => ids.add(i));
    }
    fs.writeFileSync(rest[0], JSON.stringify([...ids].sort((x, y) => x - y)));
  } else if (mode === 'write') {
    const t = bert(readVocab(a), rest.includes('--cased'));
    const i = rest.indexOf('--max-len');
    if (i >= 0) t.setTruncation(Number(rest[i + 1]));
    t.save(b, false);
  } else if (mode === 'check') {
    const t = tk.Tokenizer.fromFile(a);
    t.setTruncation(Number(rest[0]));
    let n = 0;
    for (const r of readJSONL(b)) {
      const e = await t.encode(r.text, r.text_pair === null ? undefined : r.text_pair);
      const idsOnly = rest[1] === 'ids';
      const got = JSON.stringify(idsOnly ? e.getIds() : [e.getIds(), e.getTypeIds()]);
      const want = JSON.stringify(idsOnly ? r.input_ids : [r.input_ids, r.token_type_ids]);
      if (got !== want) throw new Error(`${b} line ${n + 1}: tokenizer gives ${got}, reference has ${want}`);
      n++;
    }
    console.log(`${a}: ${n} reference inputs tokenized to their ids`);
  } else {
    throw new Error('usage: node tokenizers.js pieces|write|check ...');
  }
}
main().catch((e) => { console.error(e.message || e); process.exit(1); });
