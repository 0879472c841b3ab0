"""`raqib report`: the channel transparency report from `raqib score` output (HTML, Markdown, JSON)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

log = logging.getLogger("raqib")

EPILOG = """examples:
  raqib score channel_a.json -o a.jsonl && raqib score channel_b.json -o b.jsonl
  raqib report a.jsonl b.jsonl --report out/transparency --review-share 0.05
  raqib report scores.jsonl --report out/t --posts export.json      # show example texts

Counts what 'raqib score' flagged per label, per channel and per day, lists channels whose share of
flagged posts is above --review-share, and shows the most confident flagged posts (texts only with
--posts, joined on channel and id). Writes DIR/report.html (self-contained), DIR/report.md with its
PNGs, and DIR/report.json.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="channel transparency report from 'raqib score' output",
        description="Summarise 'raqib score' JSON Lines output over one or many channels: flagged counts and "
        "rates per label, channel and day, the peak day, channels for review, examples and error counts.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "scores", type=Path, nargs="+", metavar="SCORES.jsonl", help="'raqib score' JSON Lines output"
    )
    p.add_argument(
        "--report", type=Path, required=True, metavar="DIR", help="folder to write the report into"
    )
    p.add_argument(
        "--review-share",
        type=float,
        default=0.05,
        metavar="SHARE",
        help="list channels whose flagged share (any label) is above this (default: %(default)s)",
    )
    p.add_argument(
        "--min-posts",
        type=int,
        default=1,
        metavar="N",
        help="... and that have at least N scored posts (default: %(default)s)",
    )
    p.add_argument(
        "--examples",
        type=int,
        default=10,
        metavar="N",
        help="most confident flagged posts shown per label (default: %(default)s)",
    )
    p.add_argument(
        "--posts",
        type=Path,
        metavar="INPUT",
        help="the scored input (Telegram export, JSONL, CSV...) to show example texts",
    )
    p.add_argument("--text-column", default="text", help="text column of --posts (default: %(default)s)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from raqib.transparency import (
        load_post_texts,
        read_scores,
        transparency_report,
        write_transparency_report,
    )

    if not 0.0 <= args.review_share <= 1.0:
        print(
            f"raqib report: error: --review-share must be within [0, 1], got {args.review_share}",
            file=sys.stderr,
        )
        return 2
    if args.examples < 0 or args.min_posts < 1:
        print("raqib report: error: --examples must be >= 0 and --min-posts >= 1", file=sys.stderr)
        return 2
    records, read = read_scores(args.scores)
    texts = None
    provenance = {"inputs": read["inputs"]}
    if args.posts:
        from raqib.labelled import file_sha256

        texts = load_post_texts(args.posts, text_column=args.text_column)
        provenance["posts"] = {
            "path": str(args.posts),
            "sha256": file_sha256(args.posts),
            "texts": len(texts),
        }
    result = transparency_report(
        records,
        review_share=args.review_share,
        min_posts=args.min_posts,
        examples=args.examples,
        texts=texts,
        provenance=provenance,
        unreadable_lines=read["unreadable_lines"],
    )
    files = write_transparency_report(result, args.report)
    t = result.totals
    print(
        f"{t['records']} records, {t['scored']} scored, {t['errors']} errors; flagged (any label) "
        f"{t['flagged_any']} ({t['share_any']:.1%})"
    )
    for lb in result.labels:
        print(f"  {lb}: {t['flagged'][lb]} ({t['share'][lb]:.1%})")
    if result.peak_day:
        print(f"peak day {result.peak_day['day']}: {result.peak_day['flagged_any']} flagged")
    print(f"{len(result.review_candidates)} channel(s) above {args.review_share:.1%} flagged")
    log.info("wrote %s, %s, %s", files.html, files.markdown, files.json)
    return 0
