"""Write the default recipe's train/validation/test splits as JSON Lines (the same rows training used).

    python evaluation/make_splits.py [--data-dir ../shared/data] [--out out/splits]

The recipe is deterministic (seeded samples, hash-based splits), so this reproduces the shipped model's
splits exactly; the files are derived from ../shared/data and are never committed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from raqib import LABELS
from raqib.recipes import build_rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, default=Path("out/splits"))
    args = ap.parse_args()
    rows, _ = build_rows(args.data_dir)
    args.out.mkdir(parents=True, exist_ok=True)
    for split in ("train", "validation", "test"):
        part = [r for r in rows if r["split"] == split]
        with open(args.out / f"{split}.jsonl", "w", encoding="utf-8") as fh:
            for r in part:
                rec = {"text": r["text"], "source": r["source"], **{lb: r[lb] for lb in LABELS}}
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        print(f"{split}: {len(part)} rows -> {args.out / (split + '.jsonl')}")


if __name__ == "__main__":
    main()
