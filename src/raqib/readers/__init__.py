"""Input readers: turn a file of posts into a lazy stream of `Post`s, with bad records kept in place.

Every reader streams (memory stays bounded however big the file is), keeps each post's id, date and
channel so scores can be joined back to the source, and turns a record it cannot read into a
`BadRecord` at the same position instead of raising, so one bad line never costs a whole run. Only a
file that cannot be read at all raises `ReaderError`.

    >>> from raqib.readers import read_posts
    >>> with read_posts("result.json") as posts:          # doctest: +SKIP
    ...     for post in posts: ...
    ...     print(posts.stats.skipped)                     # e.g. Counter({'service message': 4})
"""

from __future__ import annotations

import json
import logging
import os
import stat
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from raqib.errors import ReaderError
from raqib.posts import BadRecord, Post

log = logging.getLogger(__name__)

Format = Literal["auto", "telegram", "jsonl", "csv", "tsv", "text"]
FORMATS: tuple[str, ...] = ("auto", "telegram", "jsonl", "csv", "tsv", "text")
"""The values `read_posts(format=...)` accepts."""

EXTENSIONS: dict[str, str] = {
    ".json": "telegram",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
    ".txt": "text",
}
"""How ``format="auto"`` maps a file extension to a reader (a ``.json`` file is sniffed for JSON Lines)."""

STDIN = "-"
_SNIFF_BYTES = 64 * 1024
_ARCHIVES = (
    (b"\x1f\x8b", "gzip", "decompress it first, e.g. gunzip -c FILE | raqib score - --format jsonl"),
    (b"PK\x03\x04", "zip", "unpack it first (a Telegram export's messages are in result.json)"),
    (b"\x28\xb5\x2f\xfd", "zstd", "decompress it first, e.g. zstd -dc FILE | raqib score - --format jsonl"),
)

__all__ = ["EXTENSIONS", "FORMATS", "Format", "PostReader", "ReadStats", "read_posts"]


@dataclass
class ReadStats:
    """What a reader has seen so far; updated while it is iterated, so it can drive a progress bar."""

    posts: int = 0
    """Posts yielded."""
    bad_records: int = 0
    """`BadRecord`s yielded (malformed lines, wrong types, a truncated file)."""
    skipped: Counter[str] = field(default_factory=Counter)
    """Input records that are not posts, by reason (e.g. ``service message``, ``blank line``): never
    dropped silently, always counted here."""
    bytes_read: int = 0
    """Bytes consumed from the input so far."""
    bytes_total: int | None = None
    """Size of the input in bytes, when it is a regular file (``None`` for stdin and pipes)."""
    finished: bool = False
    """True once the input has been read to its end (the counts are then final)."""

    @property
    def records(self) -> int:
        """Every input record seen: posts, bad records and skipped ones."""
        return self.posts + self.bad_records + sum(self.skipped.values())

    @property
    def fraction_read(self) -> float | None:
        """Share of the file consumed, for an ETA; ``None`` when the size is unknown."""
        if not self.bytes_total:
            return None
        return min(1.0, self.bytes_read / self.bytes_total)

    def to_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "posts": self.posts,
            "bad_records": self.bad_records,
            "skipped": dict(self.skipped),
            "bytes_read": self.bytes_read,
            "bytes_total": self.bytes_total,
            "finished": self.finished,
        }


class PostReader(Iterator["Post | BadRecord"]):
    """An open input: iterate it for `Post`/`BadRecord` items, read `stats` for counts, close it when done."""

    def __init__(
        self,
        items: Iterator[Post | BadRecord],
        *,
        path: str,
        format: str,
        stats: ReadStats,
        close: Callable[[], None],
    ) -> None:
        self._items = items
        self._close = close
        self.path = path
        """The input path as given (``-`` for stdin)."""
        self.format = format
        """The format actually read (``auto`` resolved)."""
        self.stats = stats
        """Counts, updated as the reader is iterated."""

    def __iter__(self) -> PostReader:
        return self

    def __next__(self) -> Post | BadRecord:
        try:
            item = next(self._items)
        except StopIteration:
            self.stats.finished = True
            self.close()
            raise
        except OSError as exc:  # the disk or pipe failed mid-file: not a record problem
            self.close()
            raise ReaderError(self.path, f"read failed: {exc}", position=self.stats.bytes_read) from exc
        if isinstance(item, Post):
            self.stats.posts += 1
        else:
            self.stats.bad_records += 1
        return item

    def close(self) -> None:
        """Release the file (stdin is left open). Safe to call twice."""
        close = getattr(self._items, "close", None)
        if close is not None:
            try:
                close()
            except ValueError:  # still running in a scorer's reader thread (e.g. after Ctrl-C)
                pass
        self._close()

    def __enter__(self) -> PostReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PostReader(path={self.path!r}, format={self.format!r}, posts={self.stats.posts})"


def read_posts(
    path: str | Path,
    *,
    format: Format = "auto",
    text_column: str = "text",
    id_column: str | None = None,
    channel: str | None = None,
) -> PostReader:
    """Open a file of posts and return a lazy iterator over its `Post`s and `BadRecord`s, in file order.

    The file is opened (and a CSV header checked) now, so a missing file or column fails before any
    model is loaded; records are read only as the result is iterated.

    Args:
        path: a Telegram Desktop export (``.json``), JSON Lines (``.jsonl``/``.ndjson``), ``.csv``,
            ``.tsv`` or ``.txt`` (one post per line) file; ``-`` reads stdin (JSON Lines unless
            ``format`` says otherwise).
        format: ``auto`` picks the reader from the extension and, for ``.json`` or an unknown
            extension, from the first bytes.
        text_column: the field (JSON Lines) or column (CSV/TSV) holding the post text.
        id_column: the field or column holding the post id; by default ``id`` when present, else the
            line number (Telegram exports always use the message id).
        channel: channel name for posts whose input does not name one.

    Returns:
        A `PostReader`: an iterator (and context manager) with a live `ReadStats` in ``.stats``.

    Raises:
        ReaderError: the file does not exist, cannot be read, is empty where it must not be, or has
            no column ``text_column``.
        ValueError: an unknown ``format``.

    Example:
        >>> for post in read_posts("posts.jsonl"):          # doctest: +SKIP
        ...     print(post.id, post.text[:40])
    """
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; use one of {', '.join(FORMATS)}")
    name = str(path)
    fh, close, total = _open(name)
    try:
        fmt = _detect(name, fh) if format == "auto" else format
        stats = ReadStats(bytes_total=total)
        items = _reader(fmt)(
            fh, path=name, stats=stats, text_column=text_column, id_column=id_column, channel=channel
        )
    except BaseException:
        close()
        raise
    log.debug("reading %s as %s", name, fmt)
    return PostReader(items, path=name, format=fmt, stats=stats, close=close)


def _reader(fmt: str) -> Callable[..., Iterator[Post | BadRecord]]:
    if fmt == "telegram":
        from raqib.readers.telegram import read_telegram

        return read_telegram
    if fmt == "jsonl":
        from raqib.readers.lines import read_jsonl

        return read_jsonl
    if fmt == "text":
        from raqib.readers.lines import read_text

        return read_text
    from raqib.readers.tabular import read_csv, read_tsv

    return read_csv if fmt == "csv" else read_tsv


def _open(name: str) -> tuple[IO[bytes], Callable[[], None], int | None]:
    """The input as a binary file, how to close it, and its size when known."""
    if name == STDIN:
        buffer = getattr(sys.stdin, "buffer", None)
        return (buffer if buffer is not None else _EncodedText(sys.stdin)), (lambda: None), None
    try:
        fh = open(name, "rb")  # noqa: SIM115 - closed by PostReader
    except FileNotFoundError:
        raise ReaderError(name, "no such file") from None
    except IsADirectoryError:
        raise ReaderError(name, "is a directory; give the file inside it (e.g. result.json)") from None
    except PermissionError:
        raise ReaderError(name, "permission denied") from None
    except OSError as exc:
        raise ReaderError(name, f"cannot open: {exc.strerror or exc}") from None
    info = os.fstat(fh.fileno())
    if stat.S_ISDIR(info.st_mode):  # open() succeeds on directories on some platforms
        fh.close()
        raise ReaderError(name, "is a directory; give the file inside it (e.g. result.json)")
    total = info.st_size if stat.S_ISREG(info.st_mode) else None
    return fh, fh.close, total


def _detect(name: str, fh: IO[bytes]) -> str:
    """Pick a reader from the extension, looking at the first bytes where the extension is ambiguous."""
    if name == STDIN:
        return "jsonl"
    peek = getattr(fh, "peek", None)
    head = peek(_SNIFF_BYTES)[:_SNIFF_BYTES] if peek is not None else b""
    for magic, kind, hint in _ARCHIVES:
        if head.startswith(magic):
            raise ReaderError(name, f"is a {kind} archive, not a text file; {hint}")
    fmt = EXTENSIONS.get(Path(name).suffix.lower())
    if fmt is not None and fmt != "telegram":
        return fmt
    head = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if head[:1] in (b"{", b'"') and _first_line_is_record(head):
        return "jsonl"  # JSON Lines saved as .json (or with no extension)
    if fmt is not None or head[:1] in (b"{", b"["):
        return "telegram"
    return "text"


def _first_line_is_record(head: bytes) -> bool:
    """True when the first line alone is a complete JSON post record (so the file is JSON Lines)."""
    end = head.find(b"\n")
    if end < 0:
        return False
    try:
        value = json.loads(head[:end])
    except RecursionError:  # one whole line, nested past any limit: a (hostile) JSON Lines record
        return True
    except ValueError:
        return False
    if isinstance(value, str):
        return True
    return isinstance(value, dict) and "messages" not in value and "chats" not in value


class _EncodedText:
    """A text stream (e.g. a replaced ``sys.stdin``) seen as bytes, so every reader decodes the same way."""

    def __init__(self, text: IO[str]) -> None:
        self._text = text

    def __iter__(self) -> Iterator[bytes]:
        for line in self._text:
            yield line.encode("utf-8", "surrogatepass")

    def read(self, size: int = -1) -> bytes:
        return self._text.read(size).encode("utf-8", "surrogatepass")

    def readline(self, size: int = -1) -> bytes:
        return self._text.readline(size).encode("utf-8", "surrogatepass")
