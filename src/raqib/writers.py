"""Result writers (JSON Lines, CSV, Parquet) and the `Summary` a scoring run prints at the end.

Writers take `PostScore`s one at a time and never hold more than one Parquet row group in memory, so a
channel dump of any size can be scored into a file. Use them as context managers: the file is complete
(and a Parquet footer written) when the block exits, even on Ctrl-C.

    >>> from raqib.writers import open_writer
    >>> with open_writer("out/scores.csv", labels=clf.labels) as out:     # doctest: +SKIP
    ...     out.write(clf.stream(posts))
"""

from __future__ import annotations

import csv
import json
import logging
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

from raqib.errors import RaqibError
from raqib.results import PostScore

if TYPE_CHECKING:
    from raqib.readers import ReadStats

log = logging.getLogger(__name__)

OutputFormat = Literal["auto", "jsonl", "csv", "parquet"]
OUTPUT_EXTENSIONS: dict[str, str] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
}
"""How `open_writer` maps an output file extension to a format; ``-`` is stdout JSON Lines."""

STDOUT = "-"
PARQUET_HINT = 'pip install "raqib[parquet]"'

__all__ = [
    "OUTPUT_EXTENSIONS",
    "CsvWriter",
    "JsonlWriter",
    "ParquetWriter",
    "ResultWriter",
    "Summary",
    "csv_columns",
    "open_writer",
]


class ResultWriter:
    """Writes `PostScore`s to one output. Subclasses implement `write_one`, and `flush`/`close` as needed."""

    path: str
    """Where the results go (``-`` for stdout)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.count = 0
        """Results written so far."""
        self._closed = False

    def write_one(self, score: PostScore) -> None:
        """Write one result."""
        raise NotImplementedError

    def write(self, scores: Iterable[PostScore]) -> int:
        """Write every result of an iterable (consumed lazily) and return how many were written."""
        n = 0
        for score in scores:
            self.write_one(score)
            n += 1
        return n

    def flush(self) -> None:
        """Push what has been written to the file or pipe, so a reader downstream sees it now."""

    def close(self) -> None:
        """Finish the output (Parquet writes its footer here). Safe to call twice."""
        self._closed = True

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(path={self.path!r}, count={self.count})"


class JsonlWriter(ResultWriter):
    """One `PostScore.to_dict()` per line, UTF-8, Arabic kept as is (``ensure_ascii=False``)."""

    def __init__(self, stream: IO[str], *, path: str, close_stream: bool = True) -> None:
        super().__init__(path)
        self._stream = stream
        self._close_stream = close_stream
        encoding = (getattr(stream, "encoding", None) or "utf-8").lower().replace("_", "-")
        # A terminal or pipe that cannot encode Arabic still gets valid JSON, with \u escapes.
        self._ensure_ascii = encoding not in ("utf-8", "utf8", "utf-16", "utf-32")

    def write_one(self, score: PostScore) -> None:
        self._stream.write(json.dumps(score.to_dict(), ensure_ascii=self._ensure_ascii, default=str) + "\n")
        self.count += 1

    def flush(self) -> None:
        self._stream.flush()

    def close(self) -> None:
        if self._closed:
            return
        super().close()
        if self._close_stream:
            self._stream.close()
        else:
            self._stream.flush()


def csv_columns(labels: Sequence[str]) -> list[str]:
    """The flat CSV columns for a model's labels: id, channel, date, source, error, flagged, p_<label>..."""
    return ["id", "channel", "date", "source", "error", "flagged", *(f"p_{label}" for label in labels)]


class CsvWriter(ResultWriter):
    """Flat columns (`csv_columns`): ``flagged`` joins the flagged labels with ``;``; errors leave p_ empty.

    Written as UTF-8 without a byte-order mark; spreadsheet users opening it directly may need to choose
    UTF-8 on import.
    """

    def __init__(
        self, stream: IO[str], *, path: str, labels: Sequence[str], close_stream: bool = True
    ) -> None:
        super().__init__(path)
        self.labels = tuple(labels)
        self._stream = stream
        self._close_stream = close_stream
        self._writer = csv.writer(stream)
        self._writer.writerow(csv_columns(self.labels))

    def write_one(self, score: PostScore) -> None:
        row: list[Any] = [
            score.post_id,
            score.channel,
            score.date,
            score.source,
            score.error,
            ";".join(score.flagged),
        ]
        row.extend(_float_or_none(score.probabilities.get(label)) for label in self.labels)
        self._writer.writerow(["" if v is None else v for v in row])
        self.count += 1

    def flush(self) -> None:
        self._stream.flush()

    def close(self) -> None:
        if self._closed:
            return
        super().close()
        if self._close_stream:
            self._stream.close()
        else:
            self._stream.flush()


class ParquetWriter(ResultWriter):
    """A Parquet file written in row groups of ``row_group_size`` rows, so memory stays bounded.

    Columns are those of the CSV, with ``flagged`` a list of strings, plus ``n_windows``,
    ``normaliser_version`` and ``meta`` (JSON text). The file is readable once closed.
    """

    def __init__(self, path: str, *, labels: Sequence[str], row_group_size: int = 10_000) -> None:
        pa, pq = _pyarrow()
        super().__init__(path)
        if row_group_size < 1:
            raise ValueError(f"row_group_size must be >= 1, got {row_group_size}")
        self.labels = tuple(labels)
        self.row_group_size = row_group_size
        self._pa = pa
        self.schema = pa.schema(
            [
                ("id", pa.string()),
                ("channel", pa.string()),
                ("date", pa.string()),
                ("source", pa.string()),
                ("error", pa.string()),
                ("flagged", pa.list_(pa.string())),
                *((f"p_{label}", pa.float64()) for label in self.labels),
                ("n_windows", pa.int32()),
                ("normaliser_version", pa.string()),
                ("meta", pa.string()),
            ]
        )
        self._columns: dict[str, list[Any]] = {name: [] for name in self.schema.names}
        self._writer = pq.ParquetWriter(path, self.schema)

    def write_one(self, score: PostScore) -> None:
        c = self._columns
        c["id"].append(score.post_id)
        c["channel"].append(score.channel)
        c["date"].append(score.date)
        c["source"].append(score.source)
        c["error"].append(score.error)
        c["flagged"].append(list(score.flagged))
        for label in self.labels:
            c[f"p_{label}"].append(_float_or_none(score.probabilities.get(label)))
        c["n_windows"].append(score.n_windows)
        c["normaliser_version"].append(score.normaliser_version)
        c["meta"].append(
            json.dumps(dict(score.meta), ensure_ascii=False, default=str) if score.meta else None
        )
        self.count += 1
        if len(c["id"]) >= self.row_group_size:
            self._write_group()

    def _write_group(self) -> None:
        if not self._columns["id"]:
            return
        table = self._pa.Table.from_pydict(self._columns, schema=self.schema)
        self._writer.write_table(table, row_group_size=self.row_group_size)
        for values in self._columns.values():
            values.clear()

    def close(self) -> None:
        if self._closed:
            return
        super().close()
        try:
            self._write_group()
        finally:
            self._writer.close()


def open_writer(
    path: str | Path,
    *,
    labels: Sequence[str],
    format: OutputFormat = "auto",
    row_group_size: int = 10_000,
) -> ResultWriter:
    """Open a results file, choosing the format from its extension; missing parent folders are created.

    Args:
        path: ``.jsonl``/``.ndjson``, ``.csv`` or ``.parquet`` file, or ``-`` for JSON Lines on stdout.
        labels: the model's labels, in order (they name the ``p_<label>`` columns).
        format: override the extension (e.g. ``csv`` to stdout).
        row_group_size: rows per Parquet row group (the most rows held in memory).

    Raises:
        RaqibError: an unknown extension, Parquet to stdout, pyarrow missing for Parquet, or a file
            that cannot be created.

    Example:
        >>> with open_writer("scores.jsonl", labels=("violent_call", "propaganda")) as out:  # doctest: +SKIP
        ...     out.write(results)
    """
    name = str(path)
    fmt = format if format != "auto" else _output_format(name)
    if fmt not in ("jsonl", "csv", "parquet"):
        raise ValueError(f"unknown output format {format!r}; use auto, jsonl, csv or parquet")
    if name == STDOUT:
        if fmt == "parquet":
            raise RaqibError("Parquet cannot be written to stdout; give a file name ending in .parquet")
        stream = sys.stdout
        if fmt == "csv":
            return CsvWriter(stream, path=name, labels=labels, close_stream=False)
        return JsonlWriter(stream, path=name, close_stream=False)
    if fmt == "parquet":
        _pyarrow()  # fail before creating folders or files
    try:
        Path(name).parent.mkdir(parents=True, exist_ok=True)
        if fmt == "parquet":
            return ParquetWriter(name, labels=labels, row_group_size=row_group_size)
        fh = open(name, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed by the writer
    except OSError as exc:
        raise RaqibError(f"cannot write {name}: {exc.strerror or exc}") from None
    if fmt == "csv":
        return CsvWriter(fh, path=name, labels=labels)
    return JsonlWriter(fh, path=name)


def _output_format(name: str) -> str:
    if name == STDOUT:
        return "jsonl"
    suffix = Path(name).suffix.lower()
    if suffix not in OUTPUT_EXTENSIONS:
        allowed = ", ".join(OUTPUT_EXTENSIONS)
        raise RaqibError(
            f"cannot tell the output format of {name!r} from its extension {suffix or '(none)'!r}; "
            f"use one of {allowed}, or '-' for JSON Lines on stdout"
        )
    return OUTPUT_EXTENSIONS[suffix]


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise RaqibError(f"writing Parquet needs pyarrow, which is not installed: {PARQUET_HINT}") from exc
    return pa, pq


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


class Summary:
    """Counts over a run's results (and its reader's stats) for the table the CLI prints at the end."""

    def __init__(self, labels: Sequence[str], *, read_stats: ReadStats | None = None) -> None:
        self.labels = tuple(labels)
        self.read_stats = read_stats
        """The reader's counts (service messages skipped, ...), shown in the table when set."""
        self.results = 0
        """Results seen (scored posts and error records)."""
        self.scored = 0
        self.errors = 0
        self.flagged: Counter[str] = Counter({label: 0 for label in self.labels})
        self.flagged_any = 0

    def add(self, score: PostScore) -> None:
        """Count one result."""
        self.results += 1
        if score.error is not None:
            self.errors += 1
            return
        self.scored += 1
        for label in score.flagged:
            self.flagged[label] += 1
        if score.flagged:
            self.flagged_any += 1

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "results": self.results,
            "scored": self.scored,
            "errors": self.errors,
            "flagged": dict(self.flagged),
            "flagged_any": self.flagged_any,
        }
        if self.read_stats is not None:
            out["input"] = self.read_stats.to_dict()
        return out

    def format_table(self) -> str:
        """A plain-text table: input counts, results, and flagged per label with its share of scored posts."""
        rows: list[tuple[str, str, str]] = []
        stats = self.read_stats
        if stats is not None:
            rows.append(("posts read", f"{stats.posts:,}", ""))
            for reason, n in sorted(stats.skipped.items()):
                rows.append((f"skipped: {reason}", f"{n:,}", ""))
        rows.append(("scored", f"{self.scored:,}", ""))
        rows.append(("error records", f"{self.errors:,}", ""))
        for label in self.labels:
            rows.append((f"flagged {label}", f"{self.flagged[label]:,}", self._share(self.flagged[label])))
        if len(self.labels) > 1:
            rows.append(("flagged (any label)", f"{self.flagged_any:,}", self._share(self.flagged_any)))
        name_width = max(len(r[0]) for r in rows)
        count_width = max(len(r[1]) for r in rows)
        lines = [
            f"  {name:<{name_width}}  {count:>{count_width}}  {share}".rstrip() for name, count, share in rows
        ]
        return "\n".join(lines)

    def _share(self, n: int) -> str:
        return f"{100.0 * n / self.scored:5.1f}%" if self.scored else ""
