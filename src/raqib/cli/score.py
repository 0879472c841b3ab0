"""`raqib score`: score a file of posts (Telegram export, JSON Lines, CSV/TSV, text) into a results file.

Also holds the model options `raqib stream` shares (``--model``, ``--threshold``, ``--batch-size``,
``--device``, ``--strict``) and their parsing.
"""

from __future__ import annotations

import argparse
import difflib
import logging
import math
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from raqib.readers import ReadStats

log = logging.getLogger(__name__)

Threshold = tuple["str | None", float]

EPILOG = """examples:
  raqib score result.json -o out/scores.jsonl      # a Telegram Desktop export
  raqib score posts.csv --text-column body --id-column post_id -o scores.csv
  raqib score posts.jsonl -o scores.parquet --threshold violent_call=0.7 --threshold propaganda=0.6
  raqib score posts.txt --threshold 0.8 | jq -c 'select(.flagged != [])'
  cat posts.jsonl | raqib score - -o scores.jsonl --strict
  RAY_ADDRESS=ray://head:10001 raqib score dump.parquet --engine ray --workers 16 -o scores.parquet

input formats (--format auto picks by extension):
  .json             Telegram Desktop "Machine-readable JSON" export (result.json); service messages and
                    media without a caption are skipped and counted in the summary
  .jsonl, .ndjson   one JSON object per line with a "text" field (and optional id, channel, date), or a
                    bare JSON string
  .csv, .tsv        a header row and a text column (--text-column); id, channel and date columns
                    are used when present
  .txt              one post per line; the line number is the id
  .parquet          (--engine ray only) a file or folder of them, read in parallel by Ray: a text column
                    (--text-column), optional id, channel and date columns; the row number is the default id

output (-o, by extension): .jsonl one record per post (default: JSON Lines on stdout), .csv flat columns
(id, channel, date, source, error, flagged, p_<label>...), .parquet (needs pip install "raqib[parquet]").
A record that cannot be read becomes an error record in its place, naming its line or message, and the
run goes on; with --strict the exit code is then 1. Progress and the summary go to stderr.

an existing OUT is overwritten. A run that is interrupted (Ctrl-C, exit code 130) or killed leaves OUT
holding complete records, in input order; run the same command with --resume to continue it: the records
already in OUT are kept (a torn last line is cut), that many input records are skipped without being
scored, and the rest is appended, so OUT ends up as an uninterrupted run would have written it.
--resume works for .jsonl and .csv outputs (a Parquet file is unreadable until complete).

A flag is a candidate for human review, not a verdict.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "score",
        help="score a file of posts (Telegram export, JSONL, CSV, text)",
        description="Score every post of a file for calls to violence and jihadist propaganda,\n"
        "writing one result per post in input order.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", metavar="INPUT", help="the file to score, or - for stdin")
    p.add_argument(
        "-o",
        "--output",
        default="-",
        metavar="OUT",
        help="results file: .jsonl, .csv or .parquet, or - for JSON Lines on stdout (default: %(default)s)",
    )
    from raqib.readers import FORMATS

    p.add_argument("--format", choices=FORMATS, default="auto", help="input format (default: %(default)s)")
    p.add_argument(
        "--text-column",
        default="text",
        metavar="NAME",
        help="JSONL field or CSV column holding the text (default: %(default)s)",
    )
    p.add_argument(
        "--id-column",
        metavar="NAME",
        help="field or column holding the post id (default: id if present, "
        "else the line number; Telegram: the message id)",
    )
    p.add_argument("--channel", metavar="NAME", help="channel name for posts whose input names none")
    add_model_options(p)
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the .jsonl or .csv OUT an interrupted run left, instead of overwriting it",
    )
    p.add_argument(
        "--no-progress", action="store_true", help="no progress bar (it is shown only on a terminal)"
    )
    p.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="local: this process; ray: a pool of classifier actors on Ray Data, on the cluster RAY_ADDRESS "
        'names or a local one (pip install "raqib[ray]"); same output either way (default: %(default)s)',
    )
    p.add_argument(
        "--workers", type=positive_int, default=2, metavar="N",
        help="--engine ray: classifier actors, one CPU each (default: %(default)s)",
    )
    p.set_defaults(run=run)


def add_model_options(p: argparse.ArgumentParser) -> None:
    """The options `score` and `stream` share: which model, where it runs, how it decides."""
    from raqib.devices import DTYPES

    p.add_argument(
        "--model",
        metavar="NAME_OR_DIR",
        help="model name or directory (default: the bundled default model; see 'raqib models')",
    )
    p.add_argument(
        "--threshold",
        action="append",
        type=parse_threshold,
        metavar="[LABEL=]VALUE",
        help="decision threshold in [0, 1] replacing the model's own: LABEL=VALUE for one label "
        "(repeatable), "
        "or a bare VALUE for every label; label-specific values win (default: the model's thresholds)",
    )
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=32,
        metavar="N",
        help="posts per batch (default: %(default)s)",
    )
    p.add_argument(
        "--device", type=device_name, default="auto", help="auto, cpu, cuda or cuda:N (default: %(default)s)"
    )
    p.add_argument(
        "--dtype",
        choices=DTYPES,
        default="auto",
        help="precision: auto picks bf16 on CPUs that compute it natively, fp16 on CUDA, else fp32 "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--strict", action="store_true", help="exit with status 1 if any record could not be scored"
    )


def parse_threshold(value: str) -> Threshold:
    """``violent_call=0.7`` -> ``("violent_call", 0.7)``; ``0.7`` -> ``(None, 0.7)`` (every label)."""
    label, sep, number = value.rpartition("=")
    label = label.strip()
    if sep and not label:
        raise argparse.ArgumentTypeError(f"{value!r}: the label before '=' is empty (e.g. violent_call=0.7)")
    try:
        threshold = float(number)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r}: expected LABEL=VALUE or a bare VALUE, with VALUE a number in [0, 1] "
            "(e.g. violent_call=0.7)"
        ) from None
    if math.isnan(threshold) or not 0.0 <= threshold <= 1.0:
        raise argparse.ArgumentTypeError(f"{value!r}: a threshold must be within [0, 1]")
    return (label if sep else None), threshold


def resolve_thresholds(
    specs: Sequence[Threshold] | None, labels: Sequence[str], *, option: str = "--threshold"
) -> dict[str, float] | None:
    """Per-label thresholds from ``--threshold`` values: a bare value sets every label, LABEL=VALUE wins.

    Raises:
        RaqibError: a label the model does not have (with the closest one).
    """
    from raqib.errors import RaqibError

    if not specs:
        return None
    out: dict[str, float] = {}
    for label, value in specs:
        if label is None:
            out.update(dict.fromkeys(labels, value))
    for label, value in specs:
        if label is None:
            continue
        if label not in labels:
            close = difflib.get_close_matches(label, labels, n=1)
            hint = f"; did you mean {close[0]}={value:g}?" if close else ""
            raise RaqibError(
                f"{option}: unknown label {label!r}; the model's labels are {', '.join(labels)}{hint}"
            )
        out[label] = value
    return out


def positive_int(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def nonnegative_float(value: str) -> float:
    try:
        x = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if math.isnan(x) or x < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return x


_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?|mps")


def device_name(value: str) -> str:
    if not _DEVICE.fullmatch(value):
        raise argparse.ArgumentTypeError(f"{value!r}: use auto, cpu, cuda or cuda:N")
    return value


def load_classifier(args: argparse.Namespace) -> tuple[Any, dict[str, float] | None]:
    """The model named by ``--model`` on ``--device``, and ``--threshold`` checked against its labels."""
    import raqib

    start = time.perf_counter()
    clf = raqib.load(args.model, device=args.device, dtype=getattr(args, "dtype", "auto"))
    log.info("loaded model %s in %.1f s", getattr(clf, "name", args.model), time.perf_counter() - start)
    return clf, resolve_thresholds(args.threshold, clf.labels)


def run(args: argparse.Namespace) -> int:
    from raqib.errors import RaqibError
    from raqib.readers import read_posts
    from raqib.writers import Summary, open_writer

    if args.output != "-" and args.input != "-" and _same_file(args.input, args.output):
        raise RaqibError(f"the output {args.output} is the input file; choose another output path")
    resume = getattr(args, "resume", False)
    if resume:
        _check_resumable(args.output)
    if getattr(args, "engine", "local") == "ray":
        return _run_on_ray(args)
    # The input is opened (and a CSV header checked) before the model loads, so mistakes fail fast.
    with read_posts(
        args.input,
        format=args.format,
        text_column=args.text_column,
        id_column=args.id_column,
        channel=args.channel,
    ) as reader:
        clf, thresholds = load_classifier(args)
        summary = Summary(clf.labels, read_stats=reader.stats)
        kept, append_at = _resume(args, reader, clf, thresholds, summary) if resume else (0, None)
        results = clf.stream(reader, batch_size=args.batch_size, thresholds=thresholds)
        with (
            open_writer(args.output, labels=clf.labels, append_at=append_at) as writer,
            _Progress(reader.stats, enabled=not args.no_progress, done=kept) as progress,
        ):
            try:
                for result in results:
                    writer.write_one(result)
                    summary.add(result)
                    progress.tick()
                    if writer.count % args.batch_size == 0:
                        writer.flush()  # a batch at a time, so a killed run loses at most the last batch
            except BrokenPipeError:
                silence_stdout()
                return 0
            except KeyboardInterrupt:
                if args.output != "-":
                    print(
                        f"raqib score: interrupted; {args.output} holds {kept + writer.count:,} complete "
                        "records: run the same command with --resume to continue",
                        file=sys.stderr,
                    )
                raise
    print(f"raqib score: {reader.path} ({reader.format}) -> {args.output}", file=sys.stderr)
    if kept:
        print(f"  resumed: {kept:,} records were already in {args.output}", file=sys.stderr)
    print(summary.format_table(), file=sys.stderr)
    cache = clf.cache_info() if hasattr(clf, "cache_info") else None
    if cache and cache["hits"]:
        looked_up = cache["hits"] + cache["misses"]
        print(f"  duplicates scored once: {cache['hits']:,} of {looked_up:,} posts "
              f"({100.0 * cache['hits'] / looked_up:.1f}% cache hits)", file=sys.stderr)
    if args.strict and summary.errors:
        print(f"raqib: error: {summary.errors} record(s) could not be scored (--strict)", file=sys.stderr)
        return 1
    return 0


def _run_on_ray(args: argparse.Namespace) -> int:
    """`raqib score --engine ray`: read, score on a pool of Ray actors, write here in input order."""
    from raqib import distributed
    from raqib import model_dir as md
    from raqib.errors import RaqibError
    from raqib.readers import ReadStats
    from raqib.writers import Summary

    if args.resume:
        raise RaqibError("--resume works with --engine local only; rerun without --resume to start afresh")
    if args.input == "-":
        raise RaqibError("--engine ray reads a file (its records are spread over the cluster), not stdin")
    ray = distributed._ray()
    _, cfg = md.read_config(md.resolve(args.model))
    thresholds = resolve_thresholds(args.threshold, cfg.labels)
    if not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    stats = ReadStats()
    summary = Summary(cfg.labels)
    with _Progress(stats, enabled=not args.no_progress) as progress:
        written = distributed.score_file(
            args.input, args.output, args.model, workers=args.workers, batch_size=args.batch_size,
            thresholds=thresholds, dtype=args.dtype, summary=summary, on_result=progress.tick,
            read_options={"format": args.format, "text_column": args.text_column, "id_column": args.id_column,
                          "channel": args.channel},
        )
    print(f"raqib score: {args.input} -> {args.output} (Ray, {args.workers} workers, {written:,} records)",
          file=sys.stderr)
    print(summary.format_table(), file=sys.stderr)
    if args.strict and summary.errors:
        print(f"raqib: error: {summary.errors} record(s) could not be scored (--strict)", file=sys.stderr)
        return 1
    return 0


def _check_resumable(output: str) -> None:
    """Refuse ``--resume`` for outputs that cannot be continued, before the model is loaded."""
    from raqib.errors import RaqibError
    from raqib.writers import OUTPUT_EXTENSIONS

    if output == "-":
        raise RaqibError("--resume continues a results file: give it with -o (e.g. -o scores.jsonl)")
    if OUTPUT_EXTENSIONS.get(Path(output).suffix.lower()) == "parquet":
        raise RaqibError(
            f"--resume cannot continue {output}: a Parquet file is only readable once complete; "
            "score into .jsonl or .csv to be able to resume (and convert afterwards)"
        )


def _resume(
    args: argparse.Namespace,
    reader: Any,
    clf: Any,
    thresholds: dict[str, float] | None,
    summary: Any,
) -> tuple[int, int]:
    """Check what an earlier run left in the output and skip that many input records, unscored.

    Returns how many records are kept and the byte offset to append at. The ids of the first and last
    kept records must match the input's at the same positions, so the output of another file, or of
    a changed input, is refused instead of being continued out of step.
    """
    from raqib.errors import RaqibError
    from raqib.writers import scan_output

    decided = None
    if hasattr(clf, "thresholds"):
        decided = {**clf.thresholds, **(thresholds or {})}
    found = scan_output(args.output, labels=clf.labels, thresholds=decided, summary=summary)
    if found.torn_bytes:
        log.info("dropping a torn last record (%d bytes) at the end of %s", found.torn_bytes, args.output)
    for position in range(found.records):
        item = next(reader, None)
        if item is None:
            raise RaqibError(
                f"cannot resume {args.output}: it holds {found.records:,} records but {args.input} has only "
                f"{position:,}; it is not this input's output (drop --resume to overwrite it)"
            )
        expected = found.first_id if position == 0 else found.last_id
        if position in (0, found.records - 1) and _item_id(item) != expected:
            raise RaqibError(
                f"cannot resume {args.output}: its record {position + 1:,} has id {expected!r} but input "
                f"record {position + 1:,} of {args.input} has id {_item_id(item)!r}; it is not this "
                "input's output (drop --resume to overwrite it)"
            )
    if found.records:
        log.info("resuming %s after %d records", args.output, found.records)
    return found.records, found.end


def _item_id(item: Any) -> str | None:
    """The id an input item's result record carries (None and "" alike: CSV writes None as "")."""
    post_id = getattr(item, "id", None)
    return None if post_id in (None, "") else str(post_id)


def _same_file(a: str, b: str) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


def silence_stdout() -> None:
    """The reader of our stdout went away (``| head``): stop quietly, without a second error at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


class _Progress:
    """A tqdm bar on stderr counting posts and posts/s, with a total and an ETA when the input size is known.

    The total is estimated from the share of the file's bytes read so far (exact once the reader is
    done), so a multi-gigabyte export gets an ETA without being read twice.
    """

    ESTIMATE_EVERY_S = 0.5

    def __init__(self, stats: ReadStats, *, enabled: bool, done: int = 0) -> None:
        from tqdm import tqdm

        self.stats = stats
        self._next = 0.0
        self.bar = tqdm(
            unit=" posts",
            file=sys.stderr,
            disable=None if enabled else True,
            dynamic_ncols=True,
            initial=done,
        )

    def tick(self) -> None:
        self.bar.update(1)
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self.ESTIMATE_EVERY_S
            self._estimate_total()

    def _estimate_total(self) -> None:
        yielded = self.stats.posts + self.stats.bad_records
        fraction = self.stats.fraction_read
        if self.stats.finished:
            self.bar.total = yielded
        elif fraction and fraction < 1.0:  # at 1.0 the parser's last buffer may still hold many posts
            self.bar.total = max(round(yielded / fraction), self.bar.n)

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self._estimate_total()
        self.bar.close()
