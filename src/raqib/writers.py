"""Result writers (JSON Lines, CSV, Parquet) and the `Summary` a scoring run prints at the end.

Writers take `PostScore`s one at a time and never hold more than one Parquet row group in memory, so a
channel dump of any size can be scored into a file. Use them as context managers: the file is complete
(and a Parquet footer written) when the block exits, even on Ctrl-C. A failed write (a full disk) is a
`RaqibError` naming the file, not a traceback.

JSON Lines and CSV files are only ever appended to, one whole record per write, so a run that is killed
leaves complete records and at most one torn last one; `scan_output` finds where they end and
``open_writer(..., append_at=...)`` continues from there (``raqib score --resume``).

    >>> from raqib.writers import open_writer
    >>> with open_writer("out/scores.csv", labels=clf.labels) as out:     # doctest: +SKIP
    ...     out.write(clf.stream(posts))
"""

from __future__ import annotations

import csv
import json
import logging
import os
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
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
    "ExistingOutput",
    "JsonlWriter",
    "ParquetWriter",
    "ResultWriter",
    "Summary",
    "csv_columns",
    "flat_record",
    "flat_schema",
    "open_writer",
    "scan_output",
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


class _TextStreamWriter(ResultWriter):
    """A writer over a text stream it may or may not own (stdout is flushed, never closed)."""

    def __init__(self, stream: IO[str], *, path: str, close_stream: bool) -> None:
        super().__init__(path)
        self._stream = stream
        self._close_stream = close_stream

    def flush(self) -> None:
        with _write_errors(self.path):
            self._stream.flush()

    def close(self) -> None:
        if self._closed:
            return
        super().close()
        with _write_errors(self.path):
            if self._close_stream:
                self._stream.close()
            else:
                self._stream.flush()


class JsonlWriter(_TextStreamWriter):
    """One `PostScore.to_dict()` per line, UTF-8, Arabic kept as is (``ensure_ascii=False``)."""

    def __init__(self, stream: IO[str], *, path: str, close_stream: bool = True) -> None:
        super().__init__(stream, path=path, close_stream=close_stream)
        encoding = (getattr(stream, "encoding", None) or "utf-8").lower().replace("_", "-")
        # A terminal or pipe that cannot encode Arabic still gets valid JSON, with \u escapes.
        self._ensure_ascii = encoding not in ("utf-8", "utf8", "utf-16", "utf-32")

    def write_one(self, score: PostScore) -> None:
        record = score.to_dict()
        with _write_errors(self.path):
            try:
                self._stream.write(json.dumps(record, ensure_ascii=self._ensure_ascii, default=str) + "\n")
            except UnicodeEncodeError:  # a lone surrogate in a caller's Post: escape it, keep the record
                self._stream.write(json.dumps(record, ensure_ascii=True, default=str) + "\n")
        self.count += 1


def csv_columns(labels: Sequence[str]) -> list[str]:
    """The flat CSV columns for a model's labels: id, channel, date, source, error, flagged, p_<label>..."""
    return ["id", "channel", "date", "source", "error", "flagged", *(f"p_{label}" for label in labels)]


class CsvWriter(_TextStreamWriter):
    """Flat columns (`csv_columns`): ``flagged`` joins the flagged labels with ``;``; errors leave p_ empty.

    Written as UTF-8 without a byte-order mark; spreadsheet users opening it directly may need to choose
    UTF-8 on import.
    """

    def __init__(
        self,
        stream: IO[str],
        *,
        path: str,
        labels: Sequence[str],
        close_stream: bool = True,
        header: bool = True,
    ) -> None:
        super().__init__(stream, path=path, close_stream=close_stream)
        self.labels = tuple(labels)
        self._writer = csv.writer(stream)
        if header:  # not when appending to a file that has it (--resume)
            with _write_errors(path):
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
        values = ["" if v is None else v for v in row]
        with _write_errors(self.path):
            try:
                self._writer.writerow(values)
            except UnicodeEncodeError:  # a lone surrogate in a caller's Post: escape it, keep the record
                self._writer.writerow([_utf8(v) if isinstance(v, str) else v for v in values])
        self.count += 1


def flat_schema(pa: Any, labels: Sequence[str]) -> Any:
    """The Parquet columns of `flat_record`, as a pyarrow schema."""
    return pa.schema(
        [
            ("id", pa.string()),
            ("channel", pa.string()),
            ("date", pa.string()),
            ("source", pa.string()),
            ("error", pa.string()),
            ("flagged", pa.list_(pa.string())),
            *((f"p_{label}", pa.float64()) for label in labels),
            ("n_windows", pa.int32()),
            ("normaliser_version", pa.string()),
            ("meta", pa.string()),
        ]
    )


def flat_record(score: PostScore, labels: Sequence[str]) -> dict[str, Any]:
    """One result as a flat row (`flat_schema`): a Parquet row, or a row of a Ray dataset."""
    record: dict[str, Any] = {
        "id": _utf8(score.post_id),
        "channel": _utf8(score.channel),
        "date": _utf8(score.date),
        "source": _utf8(score.source),
        "error": _utf8(score.error),
        "flagged": list(score.flagged),
    }
    for label in labels:
        record[f"p_{label}"] = _float_or_none(score.probabilities.get(label))
    record["n_windows"] = score.n_windows
    record["normaliser_version"] = score.normaliser_version
    meta = json.dumps(dict(score.meta), ensure_ascii=False, default=str) if score.meta else None
    record["meta"] = _utf8(meta)
    return record


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
        self.schema = flat_schema(pa, self.labels)
        self._columns: dict[str, list[Any]] = {name: [] for name in self.schema.names}
        self._writer = pq.ParquetWriter(path, self.schema)

    def write_one(self, score: PostScore) -> None:
        c = self._columns
        for name, value in flat_record(score, self.labels).items():
            c[name].append(value)
        self.count += 1
        if len(c["id"]) >= self.row_group_size:
            self._write_group()

    def _write_group(self) -> None:
        if not self._columns["id"]:
            return
        table = self._pa.Table.from_pydict(self._columns, schema=self.schema)
        with _write_errors(self.path):
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
            with _write_errors(self.path):
                self._writer.close()


def open_writer(
    path: str | Path,
    *,
    labels: Sequence[str],
    format: OutputFormat = "auto",
    row_group_size: int = 10_000,
    append_at: int | None = None,
) -> ResultWriter:
    """Open a results file, choosing the format from its extension; missing parent folders are created.

    An existing file is overwritten, unless ``append_at`` is given.

    Args:
        path: ``.jsonl``/``.ndjson``, ``.csv`` or ``.parquet`` file, or ``-`` for JSON Lines on stdout.
        labels: the model's labels, in order (they name the ``p_<label>`` columns).
        format: override the extension (e.g. ``csv`` to stdout).
        row_group_size: rows per Parquet row group (the most rows held in memory).
        append_at: continue an existing JSON Lines or CSV file: cut it to this many bytes (the end of
            its last complete record, `ExistingOutput.end` from `scan_output`) and append after them;
            CSV writes its header only when this is 0.

    Raises:
        RaqibError: an unknown extension, Parquet to stdout, pyarrow missing for Parquet, appending to
            Parquet or stdout, or a file that cannot be created.

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
    if append_at is not None and (name == STDOUT or fmt == "parquet"):
        raise RaqibError(f"cannot append to {name}: only .jsonl and .csv files can be continued")
    if fmt == "parquet":
        _pyarrow()  # fail before creating folders or files
    try:
        Path(name).parent.mkdir(parents=True, exist_ok=True)
        if fmt == "parquet":
            return ParquetWriter(name, labels=labels, row_group_size=row_group_size)
        if append_at:
            with open(name, "r+b") as existing:
                existing.truncate(append_at)  # drop a torn last record
        mode = "a" if append_at else "w"  # appending at 0 is starting afresh
        fh = open(name, mode, encoding="utf-8", newline="")  # noqa: SIM115 - closed by the writer
    except OSError as exc:
        raise RaqibError(f"cannot write {name}: {_reason(exc)}") from None
    if fmt == "csv":
        return CsvWriter(fh, path=name, labels=labels, header=not append_at)
    return JsonlWriter(fh, path=name)


@dataclass
class ExistingOutput:
    """What a results file left by an earlier (interrupted) run holds: where ``--resume`` continues."""

    path: str
    records: int = 0
    """Complete records (one per input item, in input order)."""
    end: int = 0
    """Byte offset just past the last complete record (a CSV header counts): where appending starts."""
    torn_bytes: int = 0
    """Bytes after ``end``: a record cut off mid-write, dropped when appending."""
    first_id: str | None = None
    """The first record's id (checked against the input's first item)."""
    last_id: str | None = None
    """The last complete record's id (checked against the input's item at the same position)."""


def scan_output(
    path: str | Path,
    *,
    labels: Sequence[str],
    thresholds: Mapping[str, float] | None = None,
    summary: Summary | None = None,
) -> ExistingOutput:
    """Check a JSON Lines or CSV results file record by record and find where its complete records end.

    Reads the file once, in bounded memory, and changes nothing. A missing or empty file holds no
    records. Only the last record may be incomplete (a run killed mid-write); anything else that is not
    a result record means the file is not what an interrupted ``raqib score`` left, and is refused.

    Args:
        path: the ``.jsonl``/``.ndjson`` or ``.csv`` results file.
        labels: the model's labels: the file's records must have been scored for the same ones.
        thresholds: when given, every JSON Lines record must have been decided with these thresholds.
        summary: counts every complete record into it, so a resumed run's summary covers the whole file.

    Raises:
        RaqibError: Parquet or stdout, a file that cannot be read, or one whose records do not fit.
    """
    name = str(path)
    fmt = _output_format(name)
    if name == STDOUT or fmt == "parquet":
        raise RaqibError(
            f"--resume continues a .jsonl or .csv results file, not {name!r}: a Parquet file is only "
            "readable once complete; score into .jsonl to be able to resume"
        )
    found = ExistingOutput(path=name)
    try:
        fh = open(name, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return found
    except OSError as exc:
        raise RaqibError(f"cannot read {name}: {_reason(exc)}") from None
    with fh:
        if fmt == "csv":
            _scan_csv(fh, found, labels, summary)
        else:
            _scan_jsonl(fh, found, labels, thresholds, summary)
    return found


def _scan_jsonl(
    fh: IO[bytes],
    found: ExistingOutput,
    labels: Sequence[str],
    thresholds: Mapping[str, float] | None,
    summary: Summary | None,
) -> None:
    for number, raw in enumerate(fh, 1):
        if not raw.endswith(b"\n"):
            found.torn_bytes = len(raw)
            return
        try:
            record = json.loads(raw)
        except (ValueError, RecursionError):
            record = None
        if (
            not isinstance(record, dict)
            or not {"id", "error", "flagged", "thresholds"} <= record.keys()
            or not isinstance(record["thresholds"], dict)
            or not isinstance(record["flagged"], list)
        ):
            raise _not_resumable(found.path, f"line {number} is not a raqib result record")
        if set(record["thresholds"]) != set(labels):
            raise _not_resumable(
                found.path,
                f"line {number} was scored for labels {', '.join(record['thresholds'])}; "
                f"this model has {', '.join(labels)}",
            )
        if thresholds is not None and record["thresholds"] != dict(thresholds):
            raise _not_resumable(
                found.path,
                f"line {number} was decided with thresholds {record['thresholds']}; this run uses "
                f"{dict(thresholds)} (use the same --threshold options)",
            )
        _count(found, record["id"], record["error"], record["flagged"], summary)
        found.end += len(raw)


def _scan_csv(fh: IO[bytes], found: ExistingOutput, labels: Sequence[str], summary: Summary | None) -> None:
    columns = csv_columns(labels)
    state = {"number": 0, "consumed": 0, "complete": True}

    def lines() -> Iterator[str]:
        for raw in fh:
            state["number"] += 1
            state["consumed"] += len(raw)
            state["complete"] = raw.endswith(b"\n")
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                if state["complete"]:
                    raise _not_resumable(found.path, f"line {state['number']} is not UTF-8") from None
                return  # a character cut in two by the interruption

    rows = csv.reader(lines(), strict=True)
    header = True
    while True:
        try:
            row = next(rows)
        except StopIteration:
            break
        except csv.Error:
            if not state["complete"]:
                break  # the file ends inside a quoted field: a torn record
            raise _not_resumable(found.path, f"line {state['number']} is not valid CSV") from None
        if not state["complete"]:
            break
        if header:
            if row != columns:
                raise _not_resumable(
                    found.path, f"its columns ({', '.join(row)}) are not this model's ({', '.join(columns)})"
                )
            header = False
        elif len(row) != len(columns):
            raise _not_resumable(
                found.path, f"line {state['number']} has {len(row)} fields, not {len(columns)}"
            )
        else:
            _count(found, row[0] or None, row[4] or None, row[5].split(";") if row[5] else [], summary)
        found.end = state["consumed"]
    fh.seek(0, os.SEEK_END)
    found.torn_bytes = fh.tell() - found.end


def _count(
    found: ExistingOutput, post_id: Any, error: Any, flagged: Sequence[str], summary: Summary | None
) -> None:
    found.records += 1
    found.last_id = None if post_id is None else str(post_id)
    if found.records == 1:
        found.first_id = found.last_id
    if summary is not None:
        summary.add_record(error, flagged)


def _not_resumable(path: str, why: str) -> RaqibError:
    return RaqibError(
        f"cannot resume {path}: {why}. --resume only continues a file an interrupted 'raqib score' "
        "wrote with the same model and options; remove it (or drop --resume to overwrite it)"
    )


@contextmanager
def _write_errors(path: str) -> Iterator[None]:
    """A failed write (full disk, lost mount) as a `RaqibError` naming the file; a closed pipe stays as is."""
    try:
        yield
    except BrokenPipeError:
        raise  # the reader of our stdout went away (| head): the CLI stops quietly
    except OSError as exc:
        where = "stdout" if path == STDOUT else path
        raise RaqibError(f"cannot write {where}: {_reason(exc)}") from None


def _reason(exc: OSError) -> str:
    if exc.errno is not None:
        return os.strerror(exc.errno)
    return exc.strerror or str(exc)


def _utf8(text: str | None) -> str | None:
    """Text as valid UTF-8: a lone surrogate (only in a caller's own `Post`) becomes ``\\udXXX``."""
    if text is None or text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


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
        self.add_record(score.error, score.flagged)

    def add_record(self, error: str | None, flagged: Sequence[str]) -> None:
        """Count one result from its error and flagged labels (e.g. a record read back from a file)."""
        self.results += 1
        if error is not None:
            self.errors += 1
            return
        self.scored += 1
        for label in flagged:
            self.flagged[label] += 1
        if flagged:
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
