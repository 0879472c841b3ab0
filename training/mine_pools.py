"""Hard-negative mining (issue 7): score what the recipe left out of its large pools, for a person to review.

The default recipe keeps a seeded sample of each large negative pool (the sources with a cap). The rest of each
pool is never trained on, validated on or tested on. This script scores that remainder with a model, and writes
the highest-scoring texts per label, for review, to ``OUT/review_<label>.tsv``. Reviewed labels go in
``src/raqib/mined.tsv``: each row is referenced by source and key hash, never by its text. The recipe then adds
those rows to the training split (see `raqib.recipes.read_mined`).

The hadith pool is skipped. Its remainder is the challenge suite's religious slice.

    python training/mine_pools.py --model models/raqib-ar-v1 --data-dir ../shared/data --out out/mine
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from raqib import load, recipes

NEVER_MINED = ("hadith_tirmidhi",)
"""Pools whose remainder is evaluation data."""


def pool_remainder(data_dir: Path) -> list[recipes.Row]:
    """Rows of the capped pools that the default recipe does not hold (by near-duplicate key), one per key."""
    base = tuple(s for s in recipes.DEFAULT_SOURCES if not s.train_only)
    rows, _ = recipes.build_rows(data_dir, sources=base)
    taken = {r["key"] for r in rows}
    out: list[recipes.Row] = []
    for spec in base:
        if spec.cap is None or spec.name in NEVER_MINED:
            continue
        for r in spec.read(data_dir):
            text = recipes.clean_source_text(r["text"])
            key = recipes.text_key(text)
            if len(key) < 3 or key in taken:
                continue
            taken.add(key)
            out.append({"text": text, "source": r["source"], "pool": spec.name, "key_hash": recipes.key_hash(key)})
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="models/raqib-ar-v1")
    ap.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, default=Path("out/mine"))
    ap.add_argument("--top", type=int, default=150, help="texts per label written for review")
    args = ap.parse_args(argv)

    args.out.mkdir(parents=True, exist_ok=True)
    scored_path = args.out / "pool_scores.jsonl"
    if scored_path.exists():  # scoring is the slow part: reuse it when only --top changes
        rows = [json.loads(line) for line in scored_path.open(encoding="utf-8")]
    else:
        rows = pool_remainder(args.data_dir)
        print(f"{len(rows)} texts in the pools' remainder")
        clf = load(args.model)
        for r, s in zip(rows, clf.score_batch([r["text"] for r in rows]), strict=True):
            r["p"] = s.probabilities
        with scored_path.open("w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    for label in recipes.LABELS:
        top = sorted((r for r in rows if r["p"]), key=lambda r: -r["p"][label])[: args.top]
        with (args.out / f"review_{label}.tsv").open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, delimiter="\t")
            w.writerow(["pool", "key_hash", "p", "text"])
            for r in top:
                w.writerow([r["pool"], r["key_hash"], f"{r['p'][label]:.3f}", " ".join(r["text"].split())])
        print(f"{label}: top {len(top)} written to {args.out / f'review_{label}.tsv'}")


if __name__ == "__main__":
    main()
