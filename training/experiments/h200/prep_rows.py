"""Write one recipe's train/validation rows as JSONL (run with PYTHONPATH pointing at the recipe's src)."""
import json
import sys
from pathlib import Path

import raqib
from raqib.recipes import build_rows

name, out = sys.argv[1], Path(sys.argv[2])
print(name, raqib.__file__, file=sys.stderr)
rows, counts = build_rows("../shared/data")
out.mkdir(parents=True, exist_ok=True)
for split in ("train", "validation"):
    with open(out / f"{name}_{split}.jsonl", "w", encoding="utf-8") as fh:
        for r in rows:
            if r["split"] == split:
                rec = {k: r[k] for k in ("text", "source", "violent_call", "propaganda", "unannotated", "normalised")}
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
(out / f"{name}_counts.json").write_text(json.dumps(counts, ensure_ascii=False))
print(name, {s: sum(r["split"] == s for r in rows) for s in ("train", "validation", "test")}, file=sys.stderr)
