"""`raqib evaluate`: score a labelled file with a model and write a report (HTML, Markdown, JSON)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

log = logging.getLogger("raqib")

EPILOG = """examples:
  raqib evaluate test.jsonl --report out/eval
  raqib evaluate test.csv --report out/eval --model models/my-model --text-column post \\
      --label-column violent_call=is_threat --group-column dialect
  raqib evaluate test.jsonl --report out/eval --baseline tfidf --train train.jsonl
  raqib evaluate test.jsonl --report out/eval --prediction-column gpt4:violent_call=llm_violence

The model is scored at its own thresholds (chosen on its validation split); never choose thresholds on
the file you evaluate on. --baseline tfidf trains a character n-gram TF-IDF + logistic regression on
80% of --train, chooses its thresholds by max F1 on the other 20%, and scores DATA beside the model.
Writes DIR/report.html (self-contained, opens offline), DIR/report.md with its PNGs, DIR/metrics.json.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="evaluate a model on a labelled file and write a report",
        description="Score a labelled file (CSV, TSV, JSON Lines, or a datasets directory) and report "
        "precision, recall, F1, PR-AUC and ROC-AUC with bootstrap intervals, curves, calibration, errors "
        "and per-group numbers, beside any baseline or shipped predictions.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "data", type=Path, metavar="LABELLED_FILE", help="labelled CSV, TSV, JSONL or saved dataset dir"
    )
    p.add_argument(
        "--report", type=Path, required=True, metavar="DIR", help="folder to write the report into"
    )
    p.add_argument("--model", "-m", default=None, help="model directory or name (default: the bundled model)")
    p.add_argument("--text-column", default="text", help="(default: %(default)s)")
    p.add_argument(
        "--label-column",
        action="append",
        default=[],
        type=_pair,
        metavar="LABEL=COLUMN",
        help="read LABEL's gold from COLUMN (default: the column named like the label); repeatable",
    )
    p.add_argument("--group-column", help="break metrics down by this column (dialect, source, platform...)")
    p.add_argument("--id-column", help="example id column (default: 'id' when present, else the row number)")
    p.add_argument("--split", help="split of a saved DatasetDict")
    p.add_argument(
        "--prediction-column",
        action="append",
        default=[],
        type=_pair,
        metavar="[SYSTEM:]LABEL=COLUMN",
        help="precomputed predictions (0/1 or probabilities) to compare, e.g. an LLM's labels; "
        "SYSTEM defaults to COLUMN; repeatable",
    )
    p.add_argument("--baseline", choices=["tfidf"], help="also train and evaluate a baseline (needs --train)")
    p.add_argument("--train", type=Path, metavar="FILE", help="labelled file to train the baseline on")
    p.add_argument(
        "--bootstrap",
        type=int,
        default=1000,
        metavar="N",
        help="bootstrap resamples for the 95%% intervals; 0 for none (default: %(default)s)",
    )
    p.add_argument("--seed", type=int, default=0, help="bootstrap and baseline seed (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=32, help="(default: %(default)s)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: %(default)s)")
    p.set_defaults(run=run)


def _pair(value: str) -> tuple[str, str]:
    """``KEY=COLUMN`` from the command line (argparse turns the error into a usage message, exit 2)."""
    key, sep, column = value.partition("=")
    if not sep or not key or not column:
        raise argparse.ArgumentTypeError(f"expected KEY=COLUMN, got {value!r}")
    return key, column


def _prediction_columns(pairs: list[tuple[str, str]]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for key, column in pairs:
        system, sep, label = key.rpartition(":")
        out.setdefault(system if sep else column, {})[label] = column
    return out


def run(args: argparse.Namespace) -> int:
    import raqib
    from raqib.evaluation import evaluate_classifier
    from raqib.labelled import read_labelled
    from raqib.reports import write_evaluation_report

    if args.baseline and not args.train:
        print(
            "raqib evaluate: error: --baseline tfidf needs --train FILE (the baseline's training data)",
            file=sys.stderr,
        )
        return 2
    if args.train and not args.baseline:
        print("raqib evaluate: error: --train is only used with --baseline tfidf", file=sys.stderr)
        return 2
    if args.bootstrap < 0:
        print("raqib evaluate: error: --bootstrap must be >= 0", file=sys.stderr)
        return 2
    labels = dict(args.label_column)
    unknown = [lb for lb in labels if lb not in raqib.LABELS]
    if unknown:
        print(
            f"raqib evaluate: error: unknown label(s) {unknown} in --label-column; labels are "
            f"{list(raqib.LABELS)}",
            file=sys.stderr,
        )
        return 2
    label_columns = {lb: labels.get(lb, lb) for lb in raqib.LABELS}
    predictions = _prediction_columns(args.prediction_column)
    data = read_labelled(
        args.data,
        text_column=args.text_column,
        label_columns=label_columns,
        group_column=args.group_column,
        id_column=args.id_column,
        prediction_columns=predictions,
        split=args.split,
    )
    train = None
    if args.train:
        train = read_labelled(
            args.train,
            text_column=args.text_column,
            label_columns=label_columns,
            id_column=None,
            split=args.split if args.train.is_dir() else None,
        )
    log.info("read %d labelled examples from %s", len(data), args.data)
    clf = raqib.load(args.model, device=args.device)
    result = evaluate_classifier(
        clf,
        data,
        batch_size=args.batch_size,
        n_bootstrap=args.bootstrap,
        seed=args.seed,
        baseline_train=train,
    )
    files = write_evaluation_report(result, args.report)
    for label in result.labels:
        m = result.metrics[label]
        f1_ci = m.ci.get("f1")
        ci = f" [{f1_ci[0]:.3f}, {f1_ci[1]:.3f}]" if f1_ci else ""
        ap = f"{m.average_precision:.3f}" if m.average_precision is not None else "n/a"
        print(
            f"{label}: threshold {m.threshold:.3g}  precision {m.precision:.3f}  recall {m.recall:.3f}  "
            f"F1 {m.f1:.3f}{ci}  PR-AUC {ap}  (n={m.n}, positives={m.support})"
        )
        for c in result.comparisons:
            if label in c.metrics:
                cm = c.metrics[label]
                print(
                    f"  {c.name} ({c.kind}): precision {cm.precision:.3f}  recall {cm.recall:.3f}  "
                    f"F1 {cm.f1:.3f}"
                )
    for note in result.notes:
        log.warning("%s", note)
    log.info("wrote %s, %s, %s", files.html, files.markdown, files.json)
    return 0
