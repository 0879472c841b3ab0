"""Write the default recipe's train/validation/test splits as JSON Lines (the same rows training used).

    python evaluation/make_splits.py [--data-dir ../shared/data] [--out out/splits]

The recipe is deterministic (seeded samples, hash-based splits), so this reproduces the shipped model's
splits exactly; the files are derived from ../shared/data and are never committed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from raqib.recipes import build_rows, write_splits


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, default=Path("out/splits"))
    args = ap.parse_args()
    rows, _ = build_rows(args.data_dir)
    for split, path in write_splits(rows, args.out).items():
        print(f"{split}: {sum(r['split'] == split for r in rows)} rows -> {path}")


if __name__ == "__main__":
    main()
