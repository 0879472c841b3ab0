"""Line-based readers: JSON Lines (one object or string per line) and plain text (one post per line).

Lines are read as bytes and decoded one at a time, so invalid UTF-8 costs one `BadRecord` for that line,
not the file. Lines end only at ``\\n`` (``\\r\\n`` too): U+2028 and other Unicode separators that
``str.splitlines`` would break on are ordinary characters inside a post.

A line is never held in memory past `MAX_LINE_BYTES` (a 2 GB file with no newline reads in bounded memory:
the line becomes one `BadRecord`), and a record nested deeper than `MAX_DEPTH` or holding a lone surrogate
(``"\\ud800"``, valid JSON but not valid Unicode) is a `BadRecord`, so nothing a reader yields can make
a writer fail later.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from functools import partial
from typing import Any

from raqib.posts import BadRecord, Post
from raqib.readers import ReadStats

log = logging.getLogger(__name__)

BOM = b"\xef\xbb\xbf"

MAX_LINE_BYTES = 16 * 1024 * 1024
"""Longest line read (16 MiB, some 8 million Arabic characters); a longer one is skipped as a `BadRecord`."""

MAX_DEPTH = 100
"""Deepest nesting of arrays and objects kept in a record; deeper ones (hostile input) are `BadRecord`s."""

_SKIP_CHUNK = 1024 * 1024

RESERVED_FIELDS = ("channel", "date")
"""Record fields that fill `Post` attributes (with the text and id fields); the others go to `Post.meta`."""


def numbered_lines(
    fh: Iterable[bytes], stats: ReadStats, *, keepends: bool = False
) -> Iterator[tuple[int, bytes | None]]:
    """``(line number, raw bytes)`` per line, counting bytes as they are consumed; a UTF-8 BOM is dropped.

    A line longer than `MAX_LINE_BYTES` comes back as ``(number, None)`` once the rest of it has been read
    past in chunks, so memory stays bounded whatever the input.
    """
    limit = MAX_LINE_BYTES
    readline = getattr(fh, "readline", None)
    lines: Iterator[bytes] = iter(partial(readline, limit + 1), b"") if readline is not None else iter(fh)
    for number, raw in enumerate(lines, 1):
        stats.bytes_read += len(raw)
        if len(raw) > limit and not raw.endswith(b"\n"):
            while readline is not None and not raw.endswith(b"\n"):
                raw = readline(_SKIP_CHUNK)
                if not raw:
                    break
                stats.bytes_read += len(raw)
            yield number, None
            continue
        if number == 1 and raw.startswith(BOM):
            raw = raw[len(BOM) :]
        if not keepends:
            if raw.endswith(b"\n"):
                raw = raw[:-1]
            if raw.endswith(b"\r"):
                raw = raw[:-1]
        yield number, raw


def too_long_error() -> str:
    return f"line longer than {MAX_LINE_BYTES:,} bytes; not read"


def decode_error(exc: UnicodeDecodeError) -> str:
    return f"invalid UTF-8 (byte {exc.start + 1} of the line is 0x{exc.object[exc.start]:02x})"


def read_jsonl(
    fh: Iterable[bytes],
    *,
    path: str,
    stats: ReadStats,
    text_column: str = "text",
    id_column: str | None = None,
    channel: str | None = None,
) -> Iterator[Post | BadRecord]:
    """Posts from JSON Lines: each line an object with a text field, or a bare JSON string.

    A post without an id gets its line number. Blank lines are skipped and counted. A line that is not
    JSON, not UTF-8, or has no string text becomes a `BadRecord` with ``position="line N"``.
    """
    for number, raw in numbered_lines(fh, stats):
        where = f"line {number}"
        if raw is None:
            yield BadRecord(error=too_long_error(), position=where, source="jsonl", channel=channel)
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield BadRecord(error=decode_error(exc), position=where, source="jsonl", channel=channel)
            continue
        if not line.strip():
            stats.skipped["blank line"] += 1
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            yield BadRecord(
                error=f"invalid JSON: {exc.msg} (column {exc.colno})",
                position=where,
                source="jsonl",
                channel=channel,
            )
            continue
        except ValueError as exc:  # an int over the digit limit
            yield BadRecord(error=f"invalid JSON: {exc}", position=where, source="jsonl", channel=channel)
            continue
        except RecursionError:  # hundreds of levels deep: past MAX_DEPTH anyway
            error = f"nested more than {MAX_DEPTH} levels deep"
            yield BadRecord(error=error, position=where, source="jsonl", channel=channel)
            continue
        yield record_to_post(
            value,
            default_id=str(number),
            position=where,
            source="jsonl",
            text_column=text_column,
            id_column=id_column,
            channel=channel,
        )


def read_text(
    fh: Iterable[bytes],
    *,
    path: str,
    stats: ReadStats,
    text_column: str = "text",
    id_column: str | None = None,
    channel: str | None = None,
) -> Iterator[Post | BadRecord]:
    """Posts from plain text, one per line, the line number as id. Blank lines are skipped and counted."""
    for number, raw in numbered_lines(fh, stats):
        if raw is None:
            yield BadRecord(
                error=too_long_error(),
                id=str(number),
                position=f"line {number}",
                source="text",
                channel=channel,
            )
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield BadRecord(
                error=decode_error(exc),
                id=str(number),
                position=f"line {number}",
                source="text",
                channel=channel,
            )
            continue
        if not line.strip():
            stats.skipped["blank line"] += 1
            continue
        yield Post(text=line, id=str(number), source="text", channel=channel)


def record_to_post(
    value: Any,
    *,
    default_id: str,
    position: str,
    source: str,
    text_column: str = "text",
    id_column: str | None = None,
    channel: str | None = None,
) -> Post | BadRecord:
    """One decoded JSON record as a `Post`, or a `BadRecord` saying what is wrong with it.

    Fields other than the text, id, ``channel`` and ``date`` are kept in `Post.meta`, so they come back
    with the score.
    """
    problem = value_problem(value)
    if problem is not None:
        raw_id = value.get(id_column or "id") if isinstance(value, dict) else None
        safe_id = raw_id if isinstance(raw_id, (str, int, float)) and value_problem(raw_id) is None else None
        return BadRecord(
            error=problem, id=id_text(safe_id), position=position, source=source, channel=channel
        )
    if isinstance(value, str):
        return Post(text=value, id=default_id, source=source, channel=channel)
    if not isinstance(value, dict):
        return BadRecord(
            error=f"expected an object with a {text_column!r} field or a JSON string, got {json_type(value)}",
            position=position,
            source=source,
            channel=channel,
        )
    id_key = id_column or "id"
    post_id = id_text(value.get(id_key))
    record_channel = value.get("channel")
    if not isinstance(record_channel, str):
        record_channel = channel
    if text_column not in value:
        fields = ", ".join(_short(str(k)) for k in list(value)[:10]) or "none"
        return BadRecord(
            error=f"no {text_column!r} field (fields: {fields})",
            id=post_id,
            position=position,
            source=source,
            channel=record_channel,
        )
    text = value[text_column]
    if not isinstance(text, str):
        return BadRecord(
            error=f"{text_column!r} is {json_type(text)}, not a string",
            id=post_id,
            position=position,
            source=source,
            channel=record_channel,
        )
    date = value.get("date")
    meta = {k: v for k, v in value.items() if k not in (text_column, id_key, *RESERVED_FIELDS)}
    return Post(
        text=text,
        id=post_id if post_id is not None else default_id,
        source=source,
        channel=record_channel,
        date=date_text(date),
        meta=meta,
    )


def value_problem(value: Any) -> str | None:
    """Why a decoded JSON value cannot become a record (nested past `MAX_DEPTH`, a lone surrogate), or None.

    Walks the value level by level without recursion, so a hostile value cannot exhaust the stack here;
    once it passes, `json.dumps` of it (the writers) is safe too.
    """
    if type(value) is str:
        return _LONE_SURROGATE if not value.isascii() and not _is_unicode(value) else None
    level = [value] if isinstance(value, (list, dict)) else []
    depth = 1
    while level:
        if depth > MAX_DEPTH:
            return f"nested more than {MAX_DEPTH} levels deep"
        inner: list[Any] = []
        for container in level:
            if type(container) is dict:
                for key in container:
                    if not key.isascii() and not _is_unicode(key):
                        return _LONE_SURROGATE
                items = container.values()
            else:
                items = container
            for item in items:
                if type(item) is str:
                    if not item.isascii() and not _is_unicode(item):
                        return _LONE_SURROGATE
                elif isinstance(item, (list, dict)):
                    inner.append(item)
        level = inner
        depth += 1
    return None


_LONE_SURROGATE = "a string holds a lone surrogate (e.g. \\ud800): not valid Unicode"


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def id_text(value: Any) -> str | None:
    """An id as text: ``12`` and ``12.0`` both become ``"12"``; ``None`` stays ``None``."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def date_text(value: Any) -> str | None:
    """A date as given (ISO text is kept verbatim; a Unix timestamp number becomes its digits)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return id_text(value)
    return None


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
