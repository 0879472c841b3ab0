"""Telegram Desktop export reader (``result.json``, "Machine-readable JSON"), streamed with ijson.

Reads a single-chat export ``{"name", "type", "id", "messages": [...]}`` and a whole-account export
``{"chats": {"list": [{"name", "messages": [...]}, ...]}, "left_chats": {...}}``; the file is parsed
event by event and one message is built at a time, so a multi-gigabyte export reads in bounded memory.
(A top-level JSON array of post objects, as some scrapers write, is read too.)

- ``text`` is a string or a list of strings and entity objects (``{"type": "bold", "text": "..."}``);
  the parts are joined in order. For a photo or file the caption is this same field.
- ``type: "service"`` messages (joins, pins, title changes) and messages with no text (media without a
  caption, stickers, polls) are not posts: they are skipped and counted in `ReadStats.skipped`.
- A message whose ``text`` has the wrong type, that is nested deeper than `MAX_DEPTH` or holds a lone
  surrogate becomes a `BadRecord` naming ``messages[i]``; a ``messages`` field that is not a list becomes
  one `BadRecord` naming it.
- A truncated or corrupt file yields the posts before the damage, then one `BadRecord` saying where the
  reading stopped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import ijson

from raqib.errors import ReaderError
from raqib.posts import BadRecord, Post
from raqib.readers import ReadStats
from raqib.readers.lines import BOM, MAX_DEPTH, id_text, json_type, record_to_post, value_problem

log = logging.getLogger(__name__)

BUFFER_SIZE = 64 * 1024
"""Bytes handed to the parser at a time: also how precisely a corrupt spot can be located."""

META_FIELDS = ("forwarded_from", "reply_to_message_id", "from")
"""Message fields copied to `Post.meta` when present (with ``media_type``)."""

# ijson event prefixes
_MESSAGE_ARRAYS = {
    "messages": "messages",
    "chats.list.item.messages": "chats.list[{chat}].messages",
    "left_chats.list.item.messages": "left_chats.list[{chat}].messages",
}
_CHAT_ITEMS = {"chats.list.item": "chats", "left_chats.list.item": "left_chats"}
_CHAT_NAMES = {"name": None, "chats.list.item.name": "chats", "left_chats.list.item.name": "left_chats"}
_NOT_A_LIST = {
    "start_map": "an object",
    "string": "a string",
    "number": "a number",
    "integer": "a number",
    "double": "a number",
    "boolean": "a boolean",
    "null": "null",
}
"""ijson events that start a value other than an array, with the JSON type they start."""


def read_telegram(
    fh: IO[bytes],
    *,
    path: str,
    stats: ReadStats,
    text_column: str = "text",
    id_column: str | None = None,
    channel: str | None = None,
) -> Iterator[Post | BadRecord]:
    """Posts from a Telegram Desktop JSON export; channel is the chat's name (else ``channel``).

    ``text_column`` and ``id_column`` apply only to a top-level array of post objects; Telegram messages
    always use ``text`` and the message ``id``.

    Raises:
        ReaderError: the file is empty or does not start like JSON (checked now); while iterating,
            the JSON holds no ``messages`` list (not a Telegram export).
    """
    peek = getattr(fh, "peek", None)
    if peek is not None:
        head = peek(BUFFER_SIZE)
        if head.startswith(BOM):
            stats.bytes_read += len(fh.read(len(BOM)))
            head = head[len(BOM) :]
        first = head.lstrip()[:1]
        if not first and stats.bytes_total is not None and stats.bytes_total <= len(BOM):
            raise ReaderError(path, "the file is empty: expected a Telegram Desktop export (result.json)")
        if first and first not in (b"{", b"["):
            raise ReaderError(
                path,
                f"not JSON (starts with {head.lstrip()[:20]!r}): expected a Telegram Desktop export; "
                "for one post per line use format 'text' or 'jsonl'",
            )
    return _read(fh, path, stats, text_column, id_column, channel)


@dataclass
class _Cursor:
    """Where the parser is, for naming a bad message or the spot where a corrupt file stopped."""

    array: str | None = None
    index: int = -1

    def position(self) -> str | None:
        if self.array is None:
            return None
        return f"{self.array}[{max(self.index, 0)}]"


def _read(
    fh: IO[bytes], path: str, stats: ReadStats, text_column: str, id_column: str | None, channel: str | None
) -> Iterator[Post | BadRecord]:
    source = _CountingReader(fh, stats)
    events = ijson.parse(source, buf_size=BUFFER_SIZE, use_float=True)
    cursor = _Cursor()
    chats = {"chats": -1, "left_chats": -1}
    chat_name: str | None = None
    found = False
    try:
        for prefix, event, value in events:
            if prefix in _CHAT_NAMES and event in ("string", "null"):
                chat_name = value
            elif event == "start_map" and prefix in _CHAT_ITEMS:
                chats[_CHAT_ITEMS[prefix]] += 1
                chat_name = None
            elif prefix in _MESSAGE_ARRAYS and event in _NOT_A_LIST:
                found = True  # "messages": 5 or {...}: say so in place, and read on
                kind = "left_chats" if prefix.startswith("left_chats") else "chats"
                where = _MESSAGE_ARRAYS[prefix].format(chat=chats[kind])
                yield BadRecord(
                    error=f"{where!r} is {_NOT_A_LIST[event]}, not a list of messages",
                    position=where,
                    source="telegram",
                    channel=chat_name or channel,
                )
            elif event == "start_array" and prefix in _MESSAGE_ARRAYS:
                found = True
                kind = "left_chats" if prefix.startswith("left_chats") else "chats"
                cursor.array = _MESSAGE_ARRAYS[prefix].format(chat=chats[kind])
                for message in _items(events, prefix, cursor):
                    item = _message(message, cursor.position() or "", stats, chat_name or channel)
                    if item is not None:
                        yield item
                cursor.array = None
            elif event == "start_array" and prefix == "":
                found = True
                cursor.array = ""
                for record in _items(events, prefix, cursor):
                    if record is _TOO_DEEP:
                        yield BadRecord(
                            error=f"nested more than {MAX_DEPTH} levels deep",
                            position=f"[{cursor.index}]",
                            source="json",
                            channel=channel,
                        )
                        continue
                    yield record_to_post(
                        record,
                        default_id=str(cursor.index),
                        position=f"[{cursor.index}]",
                        source="json",
                        text_column=text_column,
                        id_column=id_column,
                        channel=channel,
                    )
                cursor.array = None
    except (ijson.JSONError, UnicodeDecodeError) as exc:  # yajl passes CESU-8 surrogates that Python refuses
        yield _stopped(exc, cursor, stats, chat_name or channel, cut_mid_character=source.cut_mid_character())
        return
    if not found:
        raise ReaderError(
            path,
            "no 'messages' list: not a Telegram Desktop export. Export the chat (or the account) from "
            "Telegram Desktop with format 'Machine-readable JSON', or use format 'jsonl' for JSON Lines",
        )
    skipped = ", ".join(f"{n} {reason}" for reason, n in stats.skipped.items())
    log.debug("%s: %d posts, %d bad; skipped %s", path, stats.posts, stats.bad_records, skipped or "nothing")


class _TooDeep:
    """Stands in for an array item nested deeper than `MAX_DEPTH` (never built, so never held in memory)."""


_TOO_DEEP = _TooDeep()


def _items(events: Iterator[tuple[str, str, Any]], array: str, cursor: _Cursor) -> Iterator[Any]:
    """Build the array's items one at a time from the event stream (which is left after the array).

    An item nested deeper than `MAX_DEPTH` is read past without being built and comes back as `_TOO_DEEP`.
    """
    cursor.index = -1
    for prefix, event, value in events:
        if event == "end_array" and prefix == array:
            return
        cursor.index += 1
        if event not in ("start_map", "start_array"):
            yield value
            continue
        builder: ijson.ObjectBuilder | None = ijson.ObjectBuilder()
        builder.event(event, value)
        depth = 1
        for _prefix, event, value in events:
            if event in ("start_map", "start_array"):
                depth += 1
                if depth > MAX_DEPTH:
                    builder = None
            elif event in ("end_map", "end_array"):
                depth -= 1
            if builder is not None:
                builder.event(event, value)
            if depth == 0:
                break
        yield builder.value if builder is not None else _TOO_DEEP
    cursor.index = -1


def _message(message: Any, position: str, stats: ReadStats, channel: str | None) -> Post | BadRecord | None:
    """A Post for a message with text; None (counted) for a service or text-less message; else a BadRecord."""
    if message is _TOO_DEEP:
        return BadRecord(
            error=f"message nested more than {MAX_DEPTH} levels deep",
            position=position,
            source="telegram",
            channel=channel,
        )
    problem = value_problem(message)
    if problem is not None:
        raw_id = message.get("id") if isinstance(message, dict) else None
        safe_id = raw_id if isinstance(raw_id, (str, int, float)) and value_problem(raw_id) is None else None
        return BadRecord(
            error=problem, id=id_text(safe_id), position=position, source="telegram", channel=channel
        )
    if not isinstance(message, dict):
        return BadRecord(
            error=f"message is {json_type(message)}, not an object",
            position=position,
            source="telegram",
            channel=channel,
        )
    message_id = id_text(message.get("id"))
    if message.get("type") == "service":
        stats.skipped["service message"] += 1
        return None
    text = _text(message.get("text", ""))
    if not isinstance(text, str):
        return BadRecord(
            error=text.error, id=message_id, position=position, source="telegram", channel=channel
        )
    if not text.strip():
        stats.skipped["message without text"] += 1
        return None
    meta: dict[str, Any] = {}
    if "forwarded_from" in message:  # null when the original sender is hidden: still a forward
        meta["forwarded_from"] = message["forwarded_from"]
    media_type = message.get("media_type") or (
        "photo" if "photo" in message else "file" if "file" in message else None
    )
    if media_type is not None:
        meta["media_type"] = media_type
    for key in META_FIELDS[1:]:
        if message.get(key) is not None:
            meta[key] = message[key]
    date = message.get("date")
    return Post(
        text=text,
        id=message_id,
        source="telegram",
        channel=channel,
        date=date if isinstance(date, str) else None,
        meta=meta,
    )


@dataclass
class _BadText:
    error: str


def _text(value: Any) -> str | _BadText:
    """The message text: a string, or the list of strings and entities joined in order."""
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        return _BadText(f"'text' is {json_type(value)}; expected a string or a list of strings and entities")
    parts: list[str] = []
    for i, part in enumerate(value):
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, dict) and isinstance(part.get("text"), str):
            parts.append(part["text"])
        else:
            what = (
                json_type(part)
                if not isinstance(part, dict)
                else f"an entity whose 'text' is {json_type(part.get('text'))}"
            )
            return _BadText(f"'text[{i}]' is {what}; expected a string or an entity with a string 'text'")
    return "".join(parts)


def _stopped(
    exc: Exception, cursor: _Cursor, stats: ReadStats, channel: str | None, *, cut_mid_character: bool = False
) -> BadRecord:
    """The one record that ends a truncated or corrupt export, saying where reading stopped."""
    detail = str(exc).strip()
    if isinstance(exc, UnicodeDecodeError):
        detail = f"invalid UTF-8 in a string: byte 0x{exc.object[exc.start]:02x}"
    if detail.startswith(("b'", 'b"')):  # yajl hands some messages over as bytes reprs
        detail = detail[2:]
    detail = detail.replace("\\n", "\n").splitlines()[0].strip().rstrip(".") if detail else "parse error"
    end = stats.bytes_read
    at_end = stats.bytes_total is not None and end >= stats.bytes_total
    if at_end and ("premature EOF" in detail or cut_mid_character):
        error = (
            f"the file ends in the middle of the JSON (truncated at byte {end:,}); nothing more could be read"
        )
    else:
        start = max(0, end - BUFFER_SIZE)
        error = f"corrupt JSON between bytes {start:,} and {end:,} ({detail}); nothing after it could be read"
    position = cursor.position() or f"byte {end}"
    log.warning("%s: %s", position, error)
    return BadRecord(error=error, position=position, source="telegram", channel=channel)


class _CountingReader:
    """The file as ijson sees it, counting bytes for progress and for locating a corrupt spot."""

    def __init__(self, fh: IO[bytes], stats: ReadStats) -> None:
        self._fh = fh
        self._stats = stats
        self._tail = b""

    def read(self, size: int = -1) -> bytes:
        data = self._fh.read(size)
        self._stats.bytes_read += len(data)
        if data:
            self._tail = data[-4:]
        return data

    def cut_mid_character(self) -> bool:
        """True when the bytes read so far end inside a UTF-8 character (a file cut there is truncated)."""
        for back in range(1, min(4, len(self._tail)) + 1):
            byte = self._tail[-back]
            if byte & 0xC0 == 0x80:  # a continuation byte: look further back for the lead byte
                continue
            needed = (
                2 if byte >> 5 == 0b110 else 3 if byte >> 4 == 0b1110 else 4 if byte >> 3 == 0b11110 else 1
            )
            return needed > back
        return False
