"""`raqib challenge`: the challenge suite's per-slice table for a model and the TF-IDF baseline."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

log = logging.getLogger("raqib")

EPILOG = """examples:
  raqib challenge --model models/raqib-ar-v1 --out out/challenge/report.md
  raqib challenge --model out/train/raqib-ar-v1 --baseline none
  raqib challenge --model none --baseline tfidf            # the baseline alone
  raqib challenge --model M --baseline none --slices violent_functional,violent_obfuscated

Slices and targets are in evaluation/challenge/manifest.json. Slices from shared/data are the training
recipe's held-out rows (never trained on); the model is scored at its own thresholds. The baseline is a
character n-gram TF-IDF + logistic regression trained on the recipe's train split, thresholds by max F1 on
its validation split. The table goes to stdout; --out FILE.md also writes FILE.json.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "challenge",
        help="run the challenge suite: per-slice table and the issue's targets, model beside baseline",
        description="Score the challenge suite (news, counter-speech, religious and everyday text, insults, "
        "functional threats and their obfuscations, propaganda contrasts) and print per-slice recall or "
        "false-positive rate with 95% intervals, and PASS/MISS per target.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", "-m", default=None,
                   help="model directory or name (default: the bundled model); 'none' for the baseline alone")
    p.add_argument("--data-dir", type=Path, default=Path("../shared/data"),
                   help="the shared labelled data (default: %(default)s)")
    p.add_argument("--baseline", choices=["tfidf", "none"], default="tfidf", help="(default: %(default)s)")
    p.add_argument("--out", type=Path, metavar="FILE.md", help="write the table as Markdown, and FILE.json")
    p.add_argument("--manifest", type=Path, default=None,
                   help="suite manifest (default: evaluation/challenge/manifest.json)")
    p.add_argument("--slices", type=lambda v: [s for s in v.split(",") if s], default=None,
                   metavar="A,B", help="only these slices (default: all)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=32, help="(default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap and baseline seed (default: %(default)s)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from raqib import challenge as ch

    no_model = args.model is not None and args.model.lower() == "none"
    if no_model and args.baseline == "none":
        print("raqib challenge: error: nothing to run (--model none and --baseline none)", file=sys.stderr)
        return 2
    manifest = ch.read_manifest(args.manifest)
    wanted = args.slices or [s["name"] for s in manifest["slices"]]
    specs = {s["name"]: s for s in manifest["slices"]}
    unknown = [n for n in wanted if n not in specs]
    if unknown:
        print(f"raqib challenge: error: unknown slice(s) {unknown}; known: {', '.join(specs)}",
              file=sys.stderr)
        return 2
    rows = None
    if args.baseline == "tfidf" or any("shared" in specs[n] for n in wanted):
        if not args.data_dir.is_dir():
            print(f"raqib challenge: error: data directory {args.data_dir} not found; the held-out slices "
                  "and the baseline need it (--data-dir), or choose written slices with --slices and "
                  "--baseline none", file=sys.stderr)
            return 2
        from raqib.recipes import build_rows

        t0 = time.perf_counter()
        rows, _ = build_rows(args.data_dir)
        log.info("recipe rows built from %s in %.1fs", args.data_dir, time.perf_counter() - t0)
    suite = ch.load_suite(args.data_dir if rows is not None else None, manifest=manifest["_path"],
                          names=wanted, rows=rows)
    for sl in suite:
        log.info("slice %-30s %5d examples (%s)", sl.name, len(sl), sl.origin)
    provenance: dict[str, object] = {"manifest": manifest["_path"], "data_dir": str(args.data_dir),
                                     "slices": {sl.name: len(sl) for sl in suite}}
    if rows is not None:
        overlap = ch.training_overlap(suite, rows)
        provenance["training_overlap"] = len(overlap)
        if overlap:
            log.warning("%d suite texts are also in train/validation rows (first: %s/%s)", len(overlap),
                        overlap[0][0], overlap[0][1])
    results: dict[str, list[ch.SliceResult]] = {}
    if not no_model:
        import raqib

        clf = raqib.load(args.model, device=args.device)
        scorer = ch.ClassifierScorer(clf, batch_size=args.batch_size)
        provenance["model"] = {"name": scorer.name, "path": args.model, "thresholds": scorer.thresholds}
        t0 = time.perf_counter()
        results[scorer.name] = ch.run_suite(scorer, suite, seed=args.seed)
        log.info("scored the suite with %s in %.1fs", scorer.name, time.perf_counter() - t0)
    if args.baseline == "tfidf":
        assert rows is not None
        t0 = time.perf_counter()
        base = ch.fit_tfidf_scorer(rows, seed=args.seed)
        log.info("baseline fitted in %.1fs (thresholds %s)", time.perf_counter() - t0,
                 {k: round(v, 3) for k, v in base.thresholds.items()})
        provenance["baseline"] = base.provenance
        results[base.name] = ch.run_suite(base, suite, seed=args.seed)
    targets = ch.load_targets(manifest["_path"])
    table = ch.format_table(results, targets=targets)
    sys.stdout.write(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table, encoding="utf-8")
        payload = ch.results_to_json(results, targets=targets, provenance=provenance)
        json_path = args.out.with_suffix(".json")
        json_path.write_text(json.dumps(payload, ensure_ascii=False, indent=2), encoding="utf-8")
        log.info("wrote %s and %s", args.out, json_path)
    return 0
