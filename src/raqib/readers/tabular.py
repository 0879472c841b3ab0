"""CSV and TSV readers, on the standard `csv` module (quoted fields may span lines).

The header is read when the file is opened, so a wrong ``text_column`` fails at once with the list of
columns. Bytes are decoded line by line with ``surrogateescape``: a record holding invalid UTF-8 becomes a
`BadRecord` instead of stopping the file. csv's field size limit (128 KiB) is kept on purpose: an
unbalanced quote then costs one bad record rather than reading the rest of the file into one field
(so a field over 131,072 characters is a `BadRecord` naming the limit; a 100,000-character post reads).
"""

from __future__ import annotations

import csv
import difflib
import logging
from collections.abc import Iterable, Iterator

from raqib.errors import ReaderError
from raqib.posts import BadRecord, Post
from raqib.readers import ReadStats
from raqib.readers.lines import numbered_lines, too_long_error

log = logging.getLogger(__name__)


def read_csv(
    fh: Iterable[bytes],
    *,
    path: str,
    stats: ReadStats,
    text_column: str = "text",
    id_column: str | None = None,
    channel: str | None = None,
    delimiter: str = ",",
) -> Iterator[Post | BadRecord]:
    """Posts from a CSV file with a header row; other columns go to `Post.meta`.

    Raises:
        ReaderError: the file has no header, or no column ``text_column`` (or ``id_column``).
    """
    source = "tsv" if delimiter == "\t" else "csv"
    lines = _Lines(fh, stats)
    rows = csv.reader(lines, delimiter=delimiter)
    header = _header(rows, path)
    text_index = _column(header, text_column, path, "text_column")
    id_index = None
    if id_column is not None:
        id_index = _column(header, id_column, path, "id_column")
    elif "id" in header:
        id_index = header.index("id")
    channel_index = header.index("channel") if "channel" in header else None
    date_index = header.index("date") if "date" in header else None
    used = {text_index, id_index, channel_index, date_index}
    return _records(
        lines, rows, header, source, text_index, id_index, channel_index, date_index, used, channel
    )


def read_tsv(
    fh: Iterable[bytes],
    *,
    path: str,
    stats: ReadStats,
    text_column: str = "text",
    id_column: str | None = None,
    channel: str | None = None,
) -> Iterator[Post | BadRecord]:
    """`read_csv` with tabs between fields."""
    return read_csv(
        fh,
        path=path,
        stats=stats,
        text_column=text_column,
        id_column=id_column,
        channel=channel,
        delimiter="\t",
    )


def _records(
    lines: _Lines,
    rows: Iterator[list[str]],
    header: list[str],
    source: str,
    text_index: int,
    id_index: int | None,
    channel_index: int | None,
    date_index: int | None,
    used: set[int | None],
    channel: str | None,
) -> Iterator[Post | BadRecord]:
    width = len(header)
    while True:
        start = lines.number + 1
        where = f"line {start}"
        try:
            row = next(rows)
        except StopIteration:
            return
        except csv.Error as exc:
            yield BadRecord(
                error=f"malformed {source.upper()}: {exc}", position=where, source=source, channel=channel
            )
            continue
        except _LineTooLong:
            yield BadRecord(error=too_long_error(), position=where, source=source, channel=channel)
            continue
        if not row:
            lines.stats.skipped["blank line"] += 1
            continue
        try:
            "".join(row).encode("utf-8")
        except UnicodeEncodeError:  # checked first: no field of it (an id, say) may reach a writer
            yield BadRecord(error="invalid UTF-8", position=where, source=source, channel=channel)
            continue
        if len(row) > width and not any(f.strip() for f in row[width:]):
            row = row[:width]  # trailing empty fields (a trailing delimiter): harmless
        post_id = _field(row, id_index)
        if len(row) != width:
            hint = " (an unquoted delimiter inside the text?)" if len(row) > width else ""
            yield BadRecord(
                error=f"{len(row)} fields, but the header has {width}{hint}",
                id=post_id,
                position=where,
                source=source,
                channel=channel,
            )
            continue
        row_channel = _field(row, channel_index) or channel
        yield Post(
            text=row[text_index],
            id=post_id if post_id else str(start),
            source=source,
            channel=row_channel,
            date=_field(row, date_index) or None,
            meta={name: row[i] for i, name in enumerate(header) if i not in used},
        )


def _field(row: list[str], index: int | None) -> str | None:
    if index is None or index >= len(row):
        return None
    return row[index]


def _header(rows: Iterator[list[str]], path: str) -> list[str]:
    """The column names; bytes that are not UTF-8 become U+FFFD, since the names reach every output record."""
    try:
        for row in rows:
            if row:
                return [_valid(name.strip()) for name in row]
    except csv.Error as exc:
        raise ReaderError(path, f"the header row is malformed: {exc}") from None
    except _LineTooLong:
        raise ReaderError(path, f"the header row is a {too_long_error()}") from None
    raise ReaderError(path, "the file is empty: expected a header row naming the columns")


def _column(header: list[str], name: str, path: str, option: str) -> int:
    """The index of a column, or a ReaderError listing the columns and the closest match."""
    if name in header:
        return header.index(name)
    close = difflib.get_close_matches(name, header, n=1, cutoff=0.6)
    folded = [h for h in header if h.casefold() == name.casefold()]
    suggestion = (folded or close or [None])[0]
    hint = f"; did you mean {suggestion!r}?" if suggestion is not None else ""
    columns = ", ".join(repr(h) for h in header)
    raise ReaderError(path, f"no column {name!r} (set with {option}); the columns are {columns}{hint}")


def _valid(name: str) -> str:
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


class _LineTooLong(Exception):
    """Raised through `csv.reader` for a line past `MAX_LINE_BYTES`; the reader resets at its next row."""


class _Lines:
    """Decoded lines for `csv.reader`, counting line numbers and bytes as they are consumed."""

    def __init__(self, fh: Iterable[bytes], stats: ReadStats) -> None:
        self._lines = numbered_lines(fh, stats, keepends=True)
        self.stats = stats
        self.number = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        self.number, raw = next(self._lines)
        if raw is None:
            raise _LineTooLong
        return raw.decode("utf-8", "surrogateescape")
