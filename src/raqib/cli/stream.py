"""`raqib stream`: JSON Lines in on stdin, one result line out on stdout per input line, as posts arrive.

For moderation pipelines that pipe posts through a long-running process: results are flushed as soon as
they are scored, and a batch is closed ``--max-wait-ms`` after its first post, so a slow trickle of posts
is never held back waiting for a full batch.
"""

from __future__ import annotations

import argparse
import logging
import sys

from raqib.cli.score import add_model_options, load_classifier, nonnegative_float, silence_stdout

log = logging.getLogger(__name__)

EPILOG = """examples:
  echo '{"id": "1", "text": "صباح الخير"}' | raqib stream
  tail -f posts.jsonl | raqib stream --max-wait-ms 20 --threshold violent_call=0.7 > scores.jsonl
  printf '"نص أول"\\n"نص ثان"\\n' | raqib stream --batch-size 8

Each input line is a JSON object with "text" and optional "id", "channel", "date" (other fields are
returned under "meta"), or a bare JSON string. Output lines follow input lines one for one, in order
(blank input lines are skipped); a post without an id gets its line number as id. A line that cannot
be read gives an error record in its place, e.g. {"id": null, "error": "line 7: invalid JSON: ...", ...};
with --strict the exit code is then 1.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "stream",
        help="score JSON Lines from stdin to stdout, as they arrive",
        description="Read posts as JSON Lines on stdin and write one result line per post to stdout,\n"
        "flushed as soon as it is scored.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_options(p)
    p.add_argument(
        "--max-wait-ms",
        type=nonnegative_float,
        default=50.0,
        metavar="MS",
        help="score a partly filled batch this long after its first post arrived (default: %(default)s)",
    )
    p.add_argument(
        "--text-column", default="text", metavar="NAME", help="field holding the text (default: %(default)s)"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from raqib.readers import read_posts
    from raqib.writers import Summary, open_writer

    clf, thresholds = load_classifier(args)
    if getattr(sys.stdin, "isatty", lambda: False)():
        log.info("reading JSON Lines from the terminal; end with Ctrl-D")
    with (
        read_posts("-", format="jsonl", text_column=args.text_column) as reader,
        open_writer("-", labels=clf.labels) as writer,
    ):
        summary = Summary(clf.labels, read_stats=reader.stats)
        results = clf.stream(
            reader, batch_size=args.batch_size, max_wait_ms=args.max_wait_ms, thresholds=thresholds
        )
        try:
            for result in results:
                writer.write_one(result)
                writer.flush()  # per result: whoever reads our stdout gets each result as soon as it exists
                summary.add(result)
        except BrokenPipeError:
            silence_stdout()
            return 0
    print(
        f"raqib stream: {summary.results:,} results, {summary.errors:,} error records, "
        f"{summary.flagged_any:,} flagged",
        file=sys.stderr,
    )
    if args.strict and summary.errors:
        print(f"raqib: error: {summary.errors} record(s) could not be scored (--strict)", file=sys.stderr)
        return 1
    return 0
