"""How fast the normaliser is on one core, on a realistic mix of posts from shared/data.

The mix: short tweets from several corpora (OSACT 2022, dangerous speech, alfifi ISIS, ArSarcasm, ASTD,
L-HSAB, ArMI) plus long MSA news paragraphs from ant_news. The data is read by path, never copied into the
repository.

    PYTHONPATH=src .venv/bin/python benchmarks/normaliser_speed.py [--data ../shared/data] [--per-source 1000]

Prints posts/s and chars/s for ``normalise`` and ``normalise_with_offsets``, short posts and news separately,
as the best of --repeat runs (the machine is shared: the best run is the least disturbed one).
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

_DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# (file, column) where the column is a header name, or an index for files without a header.
_TWEET_SOURCES: list[tuple[str, str | int]] = [
    ("osact2022/OSACT2022-sharedTask-train.tsv", 1),
    ("dangerous_speech/Dangerous_Dataset.tsv", "Tweet"),
    ("alfifi_isis/alfifi_isis_1400.tsv", "text"),
    ("arsarcasm/ArSarcasm_train.csv", "tweet"),
    ("astd/Tweets.tsv", 0),
    ("l_hsab/L-HSAB.tsv", "Tweet"),
    ("armi2021/ArMI2021_training.tsv", "text"),
]
_NEWS_SOURCES: list[tuple[str, str | int]] = [
    ("ant_news/news_terrorism_train.tsv", "text"),
    ("ant_news/news_general_train.tsv", "text"),
]


def _read_column(path: Path, column: str | int) -> list[str]:
    """One text column of a TSV/CSV file, as published."""
    csv.field_size_limit(1 << 30)
    delimiter = "," if path.suffix == ".csv" else "\t"
    quoting = csv.QUOTE_MINIMAL if path.suffix == ".csv" else csv.QUOTE_NONE
    with path.open(encoding="utf-8", newline="") as f:
        rows = csv.reader(f, delimiter=delimiter, quoting=quoting)
        if isinstance(column, str):
            column = next(rows).index(column)
        return [row[column] for row in rows if len(row) > column and row[column].strip()]


def _sample(
    data: Path, sources: list[tuple[str, str | int]], per_source: int, rng: random.Random
) -> list[str]:
    out: list[str] = []
    for rel, column in sources:
        texts = _read_column(data / rel, column)
        out += rng.sample(texts, min(per_source, len(texts)))
    rng.shuffle(out)
    return out


def _time(fn: Callable[[str], object], posts: list[str], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for p in posts:
            fn(p)
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data", type=Path, default=_DEFAULT_DATA, help="shared/data folder (default: %(default)s)"
    )
    parser.add_argument(
        "--per-source", type=int, default=1000, help="tweets per corpus (default: %(default)s)"
    )
    parser.add_argument(
        "--news", type=int, default=250, help="news paragraphs per news file (default: %(default)s)"
    )
    parser.add_argument(
        "--repeat", type=int, default=5, help="runs; the best is reported (default: %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    from raqib.normalise import normalise, normalise_with_offsets, normaliser_info

    rng = random.Random(args.seed)
    tweets = _sample(args.data, _TWEET_SOURCES, args.per_source, rng)
    news = _sample(args.data, _NEWS_SOURCES, args.news, rng)
    normalise("تهيئة")  # builds the rule tables once (camel_tools' charsets import), outside the timing

    info = normaliser_info()
    print(
        f"normaliser {info['name']} v{info['version']} (Unicode {info['unicode_version']}, "
        f"camel_tools {info['camel_tools']}), Python {sys.version.split()[0]}, "
        f"one core, best of {args.repeat}"
    )
    print(f"{'set':<28}{'function':<26}{'posts':>7}{'mean chars':>12}{'posts/s':>12}{'chars/s':>14}")
    for label, posts in (
        ("short posts (tweets)", tweets),
        ("news paragraphs (ant_news)", news),
        ("mix", tweets + news),
    ):
        chars = sum(map(len, posts))
        for fn in (normalise, normalise_with_offsets):
            seconds = _time(fn, posts, args.repeat)
            print(
                f"{label:<28}{fn.__name__:<26}{len(posts):>7}{chars / len(posts):>12.0f}"
                f"{len(posts) / seconds:>12,.0f}{chars / seconds:>14,.0f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
