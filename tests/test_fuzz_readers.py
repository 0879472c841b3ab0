"""Fuzzing the readers (issue 9): whatever bytes a dump holds, a reader yields `Post`s and `BadRecord`s.

The contract every input is held to (`check_reader`):

- no traceback: only `Post` / `BadRecord` items, or a `ReaderError` for a file that cannot be read at all;
- a `BadRecord` names its position (``line N``, ``messages[i]``, ``byte N`` ...);
- everything a reader yields can be written: every string is valid UTF-8 and ``meta`` serialises, so a
  hostile input cannot make a writer fail later (checked by writing every item through the JSON Lines
  and CSV writers);
- ``ReadStats`` counts what was yielded;
- damage costs only what follows it: every record before the first damaged byte is yielded exactly as
  from the undamaged file (`test_fuzz_readers_damage_costs_only_what_follows_it`, and cutting a file at
  every byte offset).

The hypothesis runs here are short and seeded (``derandomize``); ``make fuzz`` runs the same fuzzers for
minutes (``benchmarks/fuzz_readers.py``). Inputs that once crashed a reader live in
``tests/data/fuzz_regressions/`` and are replayed by ``test_issue_9_*``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raqib.errors import ReaderError
from raqib.posts import BadRecord, Post
from raqib.readers import ReadStats, read_posts
from raqib.results import PostScore
from raqib.writers import CsvWriter, JsonlWriter, open_writer

REPO = Path(__file__).resolve().parent.parent
REGRESSIONS = Path(__file__).parent / "data" / "fuzz_regressions"
LABELS = ("violent_call", "propaganda")
FORMATS = ("telegram", "jsonl", "csv", "tsv", "text")
SUFFIX = {"telegram": ".json", "jsonl": ".jsonl", "csv": ".csv", "tsv": ".tsv", "text": ".txt"}
BOM = b"\xef\xbb\xbf"
DEEP = 10_000

FUZZ = settings(
    max_examples=200,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)

_POSITION = {
    "telegram": re.compile(r"((left_)?chats\.list\[\d+\]\.messages|messages)(\[\d+\])?|\[\d+\]|byte \d+"),
    "jsonl": re.compile(r"line \d+"),
    "csv": re.compile(r"line \d+"),
    "tsv": re.compile(r"line \d+"),
    "text": re.compile(r"line \d+"),
}


# ---------------------------------------------------------------------------------------------- the contract
def check_reader(data: bytes, fmt: str, path: Path) -> list[Post | BadRecord] | None:
    """Read ``data`` as ``fmt`` and hold the result to the contract; None when it is a `ReaderError`.

    Any other exception escapes: that is the crash a fuzzer looks for.
    """
    path.write_bytes(data)
    try:
        reader = read_posts(path, format=fmt)  # type: ignore[arg-type]
    except ReaderError:
        return None
    items: list[Post | BadRecord] = []
    try:
        with reader:
            items.extend(reader)
    except ReaderError:
        # Only "this JSON holds no messages list" is raised mid-read, and only before any item.
        assert fmt == "telegram" and not items, items
        return None
    check_items(items, fmt, reader.stats)
    return items


def check_items(items: list[Post | BadRecord], fmt: str, stats: ReadStats) -> None:
    """Every item is a Post or a BadRecord naming its position, and every string in it is writable."""
    for item in items:
        assert isinstance(item, (Post, BadRecord)), type(item)
        for name in ("id", "channel", "date", "source"):
            value = getattr(item, name, None)
            assert value is None or isinstance(value, str), (name, value)
            _assert_utf8(value)
        if isinstance(item, Post):
            assert isinstance(item.text, str)
            _assert_utf8(item.text)
            assert isinstance(item.meta, dict)
            json.dumps(item.meta, ensure_ascii=False, default=str).encode("utf-8")
        else:
            assert isinstance(item.error, str) and item.error
            _assert_utf8(item.error)
            assert item.position and _POSITION[fmt].fullmatch(item.position), item.position
    assert stats.posts == sum(isinstance(x, Post) for x in items)
    assert stats.bad_records == sum(isinstance(x, BadRecord) for x in items)
    assert stats.finished
    write_through(items)


def _assert_utf8(value: str | None) -> None:
    if value is not None:
        value.encode("utf-8")  # raises on a lone surrogate


def as_score(item: Post | BadRecord) -> PostScore:
    """The result a scorer makes of an item (as `Classifier` does), without a model."""
    thresholds = dict.fromkeys(LABELS, 0.5)
    if isinstance(item, BadRecord):
        error = f"{item.position}: {item.error}" if item.position else item.error
        return PostScore(
            post_id=item.id,
            probabilities={},
            flagged=(),
            thresholds=thresholds,
            normaliser_version="1",
            error=error,
            channel=item.channel,
            source=item.source,
            n_windows=0,
        )
    return PostScore(
        post_id=item.id,
        probabilities=dict.fromkeys(LABELS, 0.1),
        flagged=(),
        thresholds=thresholds,
        normaliser_version="1",
        channel=item.channel,
        date=item.date,
        source=item.source,
        meta=item.meta,
    )


def write_through(items: list[Post | BadRecord]) -> None:
    """Write every item's result as JSON Lines and CSV into strict UTF-8 streams: nothing may fail."""
    jsonl = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", newline="")
    table = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", newline="")
    with (
        JsonlWriter(jsonl, path="x.jsonl", close_stream=False) as j,
        CsvWriter(table, path="x.csv", labels=LABELS, close_stream=False) as c,
    ):
        for item in items:
            score = as_score(item)
            j.write_one(score)
            c.write_one(score)
    lines = jsonl.buffer.getvalue().decode("utf-8").split("\n")[:-1]  # type: ignore[attr-defined]
    assert [json.loads(line)["id"] for line in lines] == [x.id for x in items]


def _summary(items: list[Post | BadRecord] | None) -> list[tuple[Any, ...]] | None:
    """Items as comparable tuples (a Post's meta is not part of its equality)."""
    if items is None:
        return None
    return [
        ("post", x.id, x.text, x.channel, x.date, json.dumps(x.meta, sort_keys=True, default=str))
        if isinstance(x, Post)
        else ("bad", x.id, x.error, x.position, x.channel)
        for x in items
    ]


# ---------------------------------------------------------------------------------------------- strategies
PLAIN_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=24)
ARABIC = st.text(st.characters(min_codepoint=0x0600, max_codepoint=0x06FF), min_size=1, max_size=24)
NASTY = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "\ufeff",
        "\u202e",
        "\u2028",
        "\r",
        "\n",
        "\r\n",
        '"',
        "\\",
        ",",
        "\t",
        "a\x00b",
        "\ud800",
        "\udfff",
        "[" * 50,
        "x" * 300,
        "\U0001f52a",
    ]
)
HOSTILE_TEXT = st.one_of(PLAIN_TEXT, ARABIC, NASTY, st.text(max_size=8))
VALID_TEXT = st.one_of(
    PLAIN_TEXT, ARABIC, NASTY.filter(lambda s: not any(0xD800 <= ord(c) <= 0xDFFF for c in s))
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**62), max_value=2**62),
    st.floats(allow_nan=False, allow_infinity=False),
    HOSTILE_TEXT,
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(HOSTILE_TEXT, inner, max_size=4),
    max_leaves=10,
)
INTERESTING = [
    b"\x00",
    b"\xff",
    b"\xc3",
    b"\xed\xa0\x80",
    BOM,
    b'"',
    b"\\",
    b"\n",
    b"\r",
    b"\r\n",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"\\ud800",
    b"1e999",
    b"99999999999999999999999",
    b"null",
    b"\t",
    b"[" * 200,
]


def _dumps(value: Any, ascii_only: bool) -> str:
    return json.dumps(value, ensure_ascii=ascii_only)


@st.composite
def jsonl_files(draw: st.DrawFn, *, valid: bool = False) -> bytes:
    """JSON Lines: objects with any field types, bare strings, garbage lines, blank lines, CRLF, a BOM."""
    text = VALID_TEXT if valid else HOSTILE_TEXT
    record = st.fixed_dictionaries(
        {},
        optional={
            "id": st.one_of(st.integers(0, 10**6), text, JSON_VALUES) if not valid else st.integers(0, 10**6),
            "text": st.one_of(text, text, JSON_VALUES) if not valid else text,
            "channel": st.one_of(text, JSON_VALUES),
            "date": st.one_of(text, st.integers(0, 2**40), JSON_VALUES),
            "likes": JSON_VALUES,
        },
    )
    line = st.one_of(
        record.map(lambda r: _dumps(r, draw(st.booleans()))),
        text.map(lambda t: _dumps(t, True)),
        st.just(""),
        *([] if valid else [JSON_VALUES.map(lambda v: _dumps(v, True)), st.text(max_size=20)]),
    )
    lines = draw(st.lists(line, max_size=12))
    sep = draw(st.sampled_from(["\n", "\r\n"]))
    body = sep.join(lines) + draw(st.sampled_from([sep, ""]))
    data = body.encode("utf-8", "surrogatepass")
    return (BOM if draw(st.booleans()) else b"") + data


@st.composite
def text_files(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(HOSTILE_TEXT, max_size=12))
    data = "\n".join(lines).encode("utf-8", "surrogatepass")
    return (BOM if draw(st.booleans()) else b"") + data


@st.composite
def csv_files(draw: st.DrawFn, *, delimiter: str = ",") -> bytes:
    """A header with a text column, then rows of the header's width, or one field more or less."""
    extra = draw(st.lists(st.sampled_from(["id", "channel", "date", "likes", "url", "ملاحظة"]), unique=True))
    header = draw(st.permutations(["text", *extra]))
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(header)
    for _ in range(draw(st.integers(0, 8))):
        width = len(header) + draw(st.sampled_from([0, 0, 0, 1, -1]))
        writer.writerow(draw(st.lists(VALID_TEXT, min_size=max(width, 0), max_size=max(width, 0))))
    return buffer.getvalue().encode("utf-8")


def _message(draw: st.DrawFn, number: int) -> Any:
    entity = st.fixed_dictionaries({"type": st.sampled_from(["bold", "link", "mention"]), "text": VALID_TEXT})
    text = st.one_of(
        VALID_TEXT,
        st.lists(st.one_of(VALID_TEXT, entity), max_size=4),
        JSON_VALUES,
        st.lists(JSON_VALUES, min_size=1, max_size=3),
    )
    message: dict[str, Any] = {"id": number, "type": draw(st.sampled_from(["message"] * 5 + ["service"]))}
    if draw(st.integers(0, 9)):
        message["text"] = draw(text)
    if draw(st.booleans()):
        message["date"] = draw(st.one_of(st.just("2024-05-01T09:05:00"), JSON_VALUES))
    for key in ("from", "forwarded_from", "reply_to_message_id", "photo", "media_type"):
        if not draw(st.integers(0, 4)):
            message[key] = draw(JSON_VALUES)
    if not draw(st.integers(0, 19)):
        return draw(JSON_VALUES)  # not a message object at all
    return message


@st.composite
def telegram_files(draw: st.DrawFn) -> bytes:
    """Single-chat and account exports and top-level arrays, with messages of every shape and type."""
    kind = draw(st.sampled_from(["chat", "chat", "account", "array"]))
    count = iter(range(1, 10**6))

    def messages() -> list[Any]:
        return [_message(draw, next(count)) for _ in range(draw(st.integers(0, 6)))]

    if kind == "chat":
        value: Any = {
            "name": draw(st.one_of(VALID_TEXT, st.none())),
            "type": "public_channel",
            "id": 1,
            "messages": messages() if draw(st.integers(0, 9)) else draw(JSON_VALUES),
        }
    elif kind == "account":
        chats = [{"name": draw(VALID_TEXT), "messages": messages()} for _ in range(draw(st.integers(0, 3)))]
        value = {"chats": {"list": chats}, "left_chats": {"list": [{"name": "old", "messages": messages()}]}}
    else:
        value = [
            draw(st.one_of(VALID_TEXT, JSON_VALUES, st.fixed_dictionaries({"text": VALID_TEXT})))
            for _ in range(draw(st.integers(0, 6)))
        ]
    text = json.dumps(value, ensure_ascii=draw(st.booleans()), indent=draw(st.sampled_from([None, 1])))
    return (BOM if not draw(st.integers(0, 9)) else b"") + text.encode("utf-8", "surrogatepass")


VALID = {
    "telegram": telegram_files(),
    "jsonl": jsonl_files(),
    "csv": csv_files(),
    "tsv": csv_files(delimiter="\t"),
    "text": text_files(),
}


@st.composite
def mutations(draw: st.DrawFn, base: st.SearchStrategy[bytes]) -> tuple[bytes, bytes]:
    """``(original, damaged)``: a generated file cut, spliced with bytes that break parsers, or flipped."""
    original = draw(base)
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["cut", "insert", "insert", "delete", "flip", "repeat"]))
        pos = draw(st.integers(0, len(data)))
        if op == "cut":
            del data[pos:]
        elif op == "insert":
            data[pos:pos] = draw(st.one_of(st.sampled_from(INTERESTING), st.binary(min_size=1, max_size=4)))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 8))]
        elif op == "flip" and pos < len(data):
            data[pos] = draw(st.integers(0, 255))
        elif op == "repeat":
            data[pos:pos] = data[pos : pos + draw(st.integers(1, 16))]
    return original, bytes(data)


def fuzz_inputs(fmt: str) -> st.SearchStrategy[bytes]:
    """Everything a fuzzer throws at one reader: random bytes, generated files, damaged generated files."""
    return st.one_of(
        st.binary(max_size=400),
        VALID[fmt],
        mutations(VALID[fmt]).map(lambda pair: pair[1]),
    )


# ---------------------------------------------------------------------------------------------- fuzzing
@pytest.mark.parametrize("fmt", FORMATS)
def test_fuzz_readers_never_raise_on_any_input(tmp_path: Path, fmt: str):
    @FUZZ
    @given(data=fuzz_inputs(fmt))
    def fuzz(data: bytes) -> None:
        check_reader(data, fmt, tmp_path / f"input{SUFFIX[fmt]}")

    fuzz()


def first_difference(a: bytes, b: bytes) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


def intact_prefix(original: bytes, damaged: bytes, fmt: str) -> bytes:
    """The part of the damaged file that no damage reaches: up to the first changed byte (whole lines)."""
    cut = first_difference(original, damaged)
    if fmt == "telegram":
        return damaged[:cut]
    return damaged[: damaged.rfind(b"\n", 0, cut) + 1]


def check_damage_costs_only_what_follows_it(original: bytes, damaged: bytes, fmt: str, tmp: Path) -> None:
    """Every record the undamaged part of a file holds comes out of the damaged file, unchanged."""
    got = check_reader(damaged, fmt, tmp / f"damaged{SUFFIX[fmt]}")
    before = check_reader(intact_prefix(original, damaged, fmt), fmt, tmp / f"prefix{SUFFIX[fmt]}")
    if got is None or before is None:
        return
    if fmt in ("telegram", "csv", "tsv") and before:
        before = before[:-1]  # may be a record (or the "truncated" one) the cut went through
    assert _summary(got[: len(before)]) == _summary(before)


@pytest.mark.parametrize("fmt", FORMATS)
def test_fuzz_readers_damage_costs_only_what_follows_it(tmp_path: Path, fmt: str):
    @FUZZ
    @given(pair=mutations(VALID[fmt]))
    def fuzz(pair: tuple[bytes, bytes]) -> None:
        check_damage_costs_only_what_follows_it(*pair, fmt, tmp_path)

    fuzz()


# ---------------------------------------------------------------------------------------------- truncation
def _sample(fmt: str) -> bytes:
    """A small valid file of each format with multi-byte text, a multi-line CSV field and entities."""
    posts = ["صباح الخير", "اقتلوهم يا شباب", 'نص "مقتبس", مع فاصلة', "الخلافة باقية 🔪", "سطر\u2028فاصل"]
    if fmt == "telegram":
        messages = [
            {"id": i, "type": "message", "date": "2024-05-01T09:05:00", "text": t}
            for i, t in enumerate(posts, 1)
        ]
        messages.insert(2, {"id": 9, "type": "service", "action": "pin_message"})
        messages.append({"id": 10, "type": "message", "text": [{"type": "bold", "text": "عاجل"}, ": خبر"]})
        return json.dumps(
            {"name": "قناة", "type": "public_channel", "id": 7, "messages": messages},
            ensure_ascii=False,
            indent=1,
        ).encode()
    if fmt == "jsonl":
        lines = [json.dumps({"id": f"p{i}", "text": t}, ensure_ascii=False) for i, t in enumerate(posts)]
        return ("\n".join([*lines, '"نص حر"', ""])).encode()
    if fmt == "text":
        return "\n".join(posts).encode()
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t" if fmt == "tsv" else ",")
    writer.writerow(["id", "text", "channel"])
    for i, t in enumerate([*posts, "سطران\nفي حقل"]):
        writer.writerow([f"p{i}", t, "قناة"])
    return buffer.getvalue().encode()


@pytest.mark.parametrize("fmt", FORMATS)
def test_fuzz_readers_cut_at_every_byte_keeps_everything_before_the_cut(tmp_path: Path, fmt: str):
    data = _sample(fmt)
    full = check_reader(data, fmt, tmp_path / f"full{SUFFIX[fmt]}")
    assert full and all(isinstance(x, Post) for x in full)
    for cut in range(len(data)):
        check_damage_costs_only_what_follows_it(data, data[:cut], fmt, tmp_path)
        items = check_reader(data[:cut], fmt, tmp_path / f"cut{SUFFIX[fmt]}")
        if fmt == "telegram" and cut > 0 and items is not None:  # the export always says it was cut
            assert isinstance(items[-1], BadRecord), cut
            assert "truncated at byte" in items[-1].error or "corrupt JSON" in items[-1].error, items[-1]
            if data[cut - 1] >= 0x80 and data[cut] & 0xC0 == 0x80:  # cut inside an Arabic letter
                assert f"truncated at byte {cut:,}" in items[-1].error


# ---------------------------------------------------------------------------------------------- wrong types
def _expected_jsonl(value: Any, number: int) -> tuple[str, str | None]:
    """What a JSON Lines line decoding to ``value`` must give: ("post", text) or ("bad", None)."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return "bad", None  # a lone surrogate, escaped as \udXXX in the file
    if isinstance(value, str):
        return "post", value
    if isinstance(value, dict) and isinstance(value.get("text"), str):
        return "post", value["text"]
    return "bad", None


@FUZZ
@given(
    values=st.lists(
        st.one_of(
            JSON_VALUES, st.dictionaries(st.sampled_from(["id", "text", "channel", "date"]), JSON_VALUES)
        ),
        max_size=10,
    )
)
def test_fuzz_readers_jsonl_wrong_types_are_bad_records_in_place(tmp_path: Path, values: list[Any]):
    data = "".join(json.dumps(v) + "\n" for v in values).encode()
    items = check_reader(data, "jsonl", tmp_path / "types.jsonl")
    assert items is not None and len(items) == len(values)
    for number, (value, item) in enumerate(zip(values, items, strict=True), 1):
        kind, text = _expected_jsonl(value, number)
        if kind == "post":
            assert isinstance(item, Post) and item.text == text
            expected_id = value.get("id") if isinstance(value, dict) else None
            assert item.id is not None
            if expected_id is None:
                assert item.id == str(number)
        else:
            assert isinstance(item, BadRecord) and item.position == f"line {number}"


def _expected_telegram(message: Any) -> tuple[str, str | None] | None:
    """("post", text), ("bad", None), or None for a message that is skipped (service, no text)."""
    if not isinstance(message, dict):
        return "bad", None
    if message.get("type") == "service":
        return None
    text = message.get("text", "")
    if isinstance(text, list):
        parts = []
        for part in text:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            else:
                return "bad", None
        text = "".join(parts)
    if not isinstance(text, str):
        return "bad", None
    return ("post", text) if text.strip() else None


@FUZZ
@given(
    messages=st.lists(
        st.one_of(
            JSON_VALUES,
            st.fixed_dictionaries(
                {"id": st.integers(1, 10**9), "text": JSON_VALUES},
                optional={"type": st.sampled_from(["service", "message"])},
            ),
        ),
        max_size=8,
    )
)
def test_fuzz_readers_telegram_wrong_types_are_bad_records_naming_the_message(
    tmp_path: Path, messages: list[Any]
):
    safe = json.loads(json.dumps(messages).replace("\\ud", "\\u0"))  # yajl turns lone surrogates into "?"
    data = json.dumps({"name": "c", "messages": safe}).encode()
    items = check_reader(data, "telegram", tmp_path / "types.json")
    assert items is not None
    expected = [(i, e) for i, m in enumerate(safe) if (e := _expected_telegram(m)) is not None]
    assert len(items) == len(expected)
    for (index, (kind, text)), item in zip(expected, items, strict=True):
        if kind == "post":
            assert isinstance(item, Post) and item.text == text
        else:
            assert isinstance(item, BadRecord) and item.position == f"messages[{index}]"


@pytest.mark.parametrize(
    ("document", "error"),
    [
        ({"name": "c", "messages": 5}, "'messages' is a number, not a list of messages"),
        ({"name": "c", "messages": {"0": {"text": "x"}}}, "'messages' is an object"),
        ({"name": "c", "messages": "نص"}, "'messages' is a string"),
        (
            {
                "chats": {
                    "list": [
                        {"name": "a", "messages": [{"id": 1, "text": "نص"}]},
                        {"name": "b", "messages": None},
                    ]
                }
            },
            "'chats.list[1].messages' is null",
        ),
    ],
)
def test_fuzz_readers_telegram_messages_not_a_list_is_a_bad_record(tmp_path: Path, document: Any, error: str):
    items = check_reader(json.dumps(document).encode(), "telegram", tmp_path / "x.json")
    assert items is not None and isinstance(items[-1], BadRecord)
    assert error in items[-1].error and items[-1].position.endswith("messages")


# ---------------------------------------------------------------------------------------------- hostile
def _deep(kind: str = "[") -> str:
    return ("[" * DEEP + "]" * DEEP) if kind == "[" else ('{"a":' * DEEP + "1" + "}" * DEEP)


DEEP_CASES = {
    "telegram": [
        '{"name": "c", "messages": [{"id": 1, "text": "قبل"}, {"id": 2, "text": %s},'
        ' {"id": 3, "text": "بعد"}]}',
        '{"name": "c", "messages": [{"id": 1, "text": "قبل"}, {"id": %s, "text": "x"},'
        ' {"id": 3, "text": "بعد"}]}',
        '{"name": "c", "messages": [{"id": 1, "text": "قبل"}, {"id": 2, "text": "x", "from": %s},'
        ' {"id": 3, "text": "بعد"}]}',
        '{"name": "c", "messages": [{"id": 1, "text": "قبل"}, %s, {"id": 3, "text": "بعد"}]}',
        '{"about": %s, "name": "c", "messages": [{"id": 1, "text": "قبل"}, {"id": 3, "text": "بعد"}]}',
        '[{"id": 1, "text": "قبل"}, %s, {"id": 3, "text": "بعد"}]',
    ],
    "jsonl": [
        '{"id": 1, "text": "قبل"}\n{"id": 2, "text": %s}\n{"id": 3, "text": "بعد"}\n',
        '{"id": 1, "text": "قبل"}\n{"id": %s, "text": "x"}\n{"id": 3, "text": "بعد"}\n',
        '{"id": 1, "text": "قبل"}\n{"id": 2, "text": "x", "extra": %s}\n{"id": 3, "text": "بعد"}\n',
        '{"id": 1, "text": "قبل"}\n%s\n{"id": 3, "text": "بعد"}\n',
    ],
}


@pytest.mark.parametrize("kind", ["[", "{"])
@pytest.mark.parametrize(
    ("fmt", "case"), [(fmt, i) for fmt, cases in DEEP_CASES.items() for i in range(len(cases))]
)
def test_fuzz_readers_nesting_10000_deep_is_one_bad_record(tmp_path: Path, fmt: str, case: int, kind: str):
    data = (DEEP_CASES[fmt][case] % _deep(kind)).encode()
    items = check_reader(data, fmt, tmp_path / f"deep{SUFFIX[fmt]}")
    assert items is not None
    texts = [x.text for x in items if isinstance(x, Post)]
    assert texts[0] == "قبل" and texts[-1] == "بعد", "the records around the deep one are read"
    bad = [x for x in items if isinstance(x, BadRecord)]
    if "about" not in DEEP_CASES[fmt][case]:
        assert len(bad) == 1 and "nested more than" in bad[0].error, bad


def test_fuzz_readers_moderate_nesting_is_kept(tmp_path: Path):
    value = json.loads("[" * 50 + "]" * 50)
    data = json.dumps({"id": 1, "text": "نص", "extra": value}).encode() + b"\n"
    (post,) = check_reader(data, "jsonl", tmp_path / "x.jsonl")  # type: ignore[misc]
    assert isinstance(post, Post) and post.meta["extra"] == value


@pytest.mark.parametrize("fmt", ["text", "csv"])
def test_fuzz_readers_nesting_characters_in_plain_text_are_just_text(tmp_path: Path, fmt: str):
    text = "[" * DEEP + "{" * DEEP
    data = (f"text\n{text}\n" if fmt == "csv" else f"{text}\n").encode()
    (post,) = check_reader(data, fmt, tmp_path / f"x{SUFFIX[fmt]}")  # type: ignore[misc]
    assert isinstance(post, Post) and post.text == text


HUGE = ("سوف " * 25_000)[:100_000]


def _file_with(fmt: str, texts: list[str], *, raw: bool = False) -> bytes:
    """A file of ``fmt`` holding ``texts`` as posts (``raw``: text bytes put in as is, unescaped)."""
    if fmt == "telegram":
        parts = [
            f'{{"id": {i}, "type": "message", "text": {_json_or_raw(t, raw)}}}'
            for i, t in enumerate(texts, 1)
        ]
        return ('{"name": "c", "messages": [' + ", ".join(parts) + "]}").encode("utf-8", "surrogatepass")
    if fmt == "jsonl":
        return "".join(
            f'{{"id": {i}, "text": {_json_or_raw(t, raw)}}}\n' for i, t in enumerate(texts, 1)
        ).encode("utf-8", "surrogatepass")
    if fmt == "text":
        return "".join(f"{t}\n" for t in texts).encode("utf-8", "surrogatepass")
    delimiter = "\t" if fmt == "tsv" else ","
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(["id", "text"])
    for i, t in enumerate(texts, 1):
        writer.writerow([str(i), t])
    return buffer.getvalue().encode("utf-8", "surrogatepass")


def _json_or_raw(text: str, raw: bool) -> str:
    return '"' + text + '"' if raw else json.dumps(text, ensure_ascii=False)


@pytest.mark.parametrize("fmt", FORMATS)
def test_fuzz_readers_a_100000_character_post(tmp_path: Path, fmt: str):
    items = check_reader(_file_with(fmt, ["قبل", HUGE, "بعد"]), fmt, tmp_path / f"huge{SUFFIX[fmt]}")
    assert items is not None and len(items) == 3
    assert items[0].text == "قبل" and items[2].text == "بعد"  # type: ignore[union-attr]
    assert isinstance(items[1], Post) and items[1].text == HUGE


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_fuzz_readers_csv_field_over_the_limit_is_one_bad_record(tmp_path: Path, fmt: str):
    """csv's field limit (131,072 characters) is kept: an unbalanced quote costs one record, not the file."""
    data = _file_with(fmt, ["قبل", "س" * 140_000, "بعد"])
    items = check_reader(data, fmt, tmp_path / f"over{SUFFIX[fmt]}")
    assert items is not None and [type(x).__name__ for x in items] == ["Post", "BadRecord", "Post"]
    assert "field limit" in items[1].error and items[1].position == "line 3"


@pytest.mark.parametrize("fmt", ["jsonl", "text", "csv"])
def test_fuzz_readers_a_line_past_the_limit_is_skipped_in_bounded_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
):
    from raqib.readers import lines

    monkeypatch.setattr(lines, "MAX_LINE_BYTES", 1000)
    items = check_reader(_file_with(fmt, ["قبل", "x" * 5000, "بعد"]), fmt, tmp_path / f"long{SUFFIX[fmt]}")
    assert items is not None and [type(x).__name__ for x in items] == ["Post", "BadRecord", "Post"]
    assert "longer than 1,000 bytes" in items[1].error and items[1].position.startswith("line ")
    assert items[2].text == "بعد"  # type: ignore[union-attr]


@pytest.mark.parametrize("fmt", FORMATS)
def test_fuzz_readers_nul_bytes(tmp_path: Path, fmt: str):
    """A NUL escaped in JSON, or raw in text and CSV, is part of the post; raw NUL in JSON is bad JSON."""
    items = check_reader(_file_with(fmt, ["قبل", "a\x00b", "بعد"]), fmt, tmp_path / f"nul{SUFFIX[fmt]}")
    assert items is not None and [x.text for x in items] == ["قبل", "a\x00b", "بعد"]  # type: ignore[union-attr]
    raw = check_reader(
        _file_with(fmt, ["قبل", "a\x00b", "بعد"], raw=True), fmt, tmp_path / f"raw{SUFFIX[fmt]}"
    )
    assert raw is not None and raw[0].text == "قبل"  # type: ignore[union-attr]
    if fmt in ("jsonl", "telegram"):
        assert isinstance(raw[1], BadRecord)
    if fmt == "jsonl":
        assert raw[2].text == "بعد"  # type: ignore[union-attr]


@pytest.mark.parametrize("fmt", FORMATS)
def test_fuzz_readers_bom_at_the_start_and_inside(tmp_path: Path, fmt: str):
    data = _file_with(fmt, ["قبل", "\ufeffبعد"])
    plain = check_reader(data, fmt, tmp_path / f"plain{SUFFIX[fmt]}")
    with_bom = check_reader(BOM + data, fmt, tmp_path / f"bom{SUFFIX[fmt]}")
    assert _summary(with_bom) == _summary(plain)
    assert plain is not None and [x.text for x in plain] == ["قبل", "\ufeffبعد"]  # type: ignore[union-attr]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("bad", [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf"])
def test_fuzz_readers_invalid_utf8(tmp_path: Path, fmt: str, bad: bytes):
    data = _file_with(fmt, ["قبل", "@@", "بعد"]).replace(b"@@", b"a" + bad + b"b")
    items = check_reader(data, fmt, tmp_path / f"utf{SUFFIX[fmt]}")
    assert items is not None and items[0].text == "قبل"  # type: ignore[union-attr]
    assert isinstance(items[1], BadRecord)
    if fmt != "telegram":  # a line-based reader loses only that line
        assert items[1].position == ("line 3" if fmt in ("csv", "tsv") else "line 2")
        assert items[2].text == "بعد"  # type: ignore[union-attr]


def test_fuzz_readers_lone_surrogate_escapes_are_bad_records(tmp_path: Path):
    """``"\\ud800"`` is valid JSON but not Unicode: it would break every writer, so it is a BadRecord."""
    lines = [
        '{"id": "a", "text": "\\ud800"}',
        '{"id": "\\udc00", "text": "x"}',
        '{"id": "c", "text": "x", "channel": "\\udfff"}',
        '{"id": "d", "text": "x", "extra": {"\\ud800": 1}}',
        '{"id": "e", "text": "\\ud83d\\udd2a"}',  # a valid pair: 🔪
    ]
    items = check_reader("\n".join(lines).encode(), "jsonl", tmp_path / "s.jsonl")
    assert items is not None
    assert [type(x).__name__ for x in items] == ["BadRecord"] * 4 + ["Post"]
    assert [x.id for x in items] == ["a", None, "c", "d", "e"]
    assert "lone surrogate" in items[0].error and items[4].text == "🔪"  # type: ignore[union-attr]


def test_fuzz_readers_writers_keep_a_callers_lone_surrogate_as_an_escape(tmp_path: Path):
    """Readers never yield one, but a library caller's own Post may: the record is written, escaped."""
    post = Post(text="x", id="a\ud800", channel="\udcff", meta={"k": "\ud83d"})
    for name in ("s.jsonl", "s.csv"):
        with open_writer(tmp_path / name, labels=LABELS) as writer:
            writer.write_one(as_score(post))
    assert json.loads((tmp_path / "s.jsonl").read_bytes().decode("utf-8"))["id"] == "a\ud800"
    assert "a\\ud800" in (tmp_path / "s.csv").read_bytes().decode("utf-8")
    pq = pytest.importorskip("pyarrow.parquet")
    with open_writer(tmp_path / "s.parquet", labels=LABELS) as writer:
        writer.write_one(as_score(post))
    assert pq.read_table(tmp_path / "s.parquet").to_pylist()[0]["id"] == "a\\ud800"


# ---------------------------------------------------------------------------------------------- regressions
def _regression_files() -> list[Path]:
    return sorted(p for p in REGRESSIONS.iterdir() if p.suffix in (".json", ".jsonl", ".csv", ".tsv", ".txt"))


_FORMAT_OF = {".json": "telegram", ".jsonl": "jsonl", ".csv": "csv", ".tsv": "tsv", ".txt": "text"}


@pytest.mark.parametrize("path", _regression_files(), ids=lambda p: p.name)
def test_fuzz_readers_regression_inputs_hold_the_contract(tmp_path: Path, path: Path):
    """Every input that once crashed a reader or a writer behind it, read and written in all three formats."""
    fmt = _FORMAT_OF[path.suffix]
    items = check_reader(path.read_bytes(), fmt, tmp_path / path.name)
    assert items is not None
    for out in ("scores.jsonl", "scores.csv", "scores.parquet"):
        if out.endswith(".parquet"):
            pytest.importorskip("pyarrow")
        with open_writer(tmp_path / out, labels=LABELS) as writer:
            writer.write(as_score(x) for x in items)


def _read_regression(name: str, tmp_path: Path) -> list[Post | BadRecord]:
    path = REGRESSIONS / name
    items = check_reader(path.read_bytes(), _FORMAT_OF[path.suffix], tmp_path / name)
    assert items is not None
    return items


def test_issue_9_telegram_id_nested_10000_deep(tmp_path: Path):
    """Was a RecursionError: the reader turned the nested id into text with json.dumps."""
    items = _read_regression("telegram_id_nested_10000.json", tmp_path)
    assert [type(x).__name__ for x in items] == ["Post", "BadRecord", "Post"]
    assert items[1].position == "messages[1]" and "nested more than 100" in items[1].error


def test_issue_9_telegram_meta_nested_10000_deep(tmp_path: Path):
    """Was a RecursionError in the writer: a 10,000-deep 'from' field went to the output record's meta."""
    items = _read_regression("telegram_from_nested_10000.json", tmp_path)
    assert [type(x).__name__ for x in items] == ["Post", "BadRecord", "Post"]


def test_issue_9_jsonl_meta_nested_990_deep(tmp_path: Path):
    """Was a RecursionError in the writer: json.loads takes 990 levels, json.dumps deeper in the stack not."""
    items = _read_regression("jsonl_meta_nested_990.jsonl", tmp_path)
    assert [type(x).__name__ for x in items] == ["Post", "BadRecord", "Post"]
    assert "nested more than 100 levels deep" in items[1].error


def test_issue_9_jsonl_sniffing_a_deep_first_line(tmp_path: Path):
    """Was a RecursionError from read_posts itself, while guessing whether a .json file is JSON Lines."""
    path = REGRESSIONS / "jsonl_sniff_deep_first_line.json"
    target = tmp_path / path.name
    target.write_bytes(path.read_bytes())
    with read_posts(target) as reader:  # format "auto": sniffed
        items = list(reader)
    assert reader.format == "jsonl"
    assert [type(x).__name__ for x in items] == ["BadRecord", "Post"]
    assert items[0].position == "line 1" and "nested more than" in items[0].error


def test_issue_9_jsonl_lone_surrogate_id(tmp_path: Path):
    """Was a UnicodeEncodeError in the writer: an id of "\\ud800" reached the UTF-8 output file."""
    items = _read_regression("jsonl_lone_surrogate_id.jsonl", tmp_path)
    assert [type(x).__name__ for x in items] == ["Post", "BadRecord", "Post"]
    assert "lone surrogate" in items[1].error


def test_issue_9_csv_header_not_utf8(tmp_path: Path):
    """Was a UnicodeEncodeError in the writer: a header byte that is not UTF-8 became a meta key."""
    items = _read_regression("csv_header_invalid_utf8.csv", tmp_path)
    assert all(isinstance(x, Post) for x in items)
    assert list(items[0].meta) == ["likes\ufffd"]  # type: ignore[union-attr]


def test_issue_9_csv_short_row_with_invalid_utf8_id(tmp_path: Path):
    """Was a UnicodeEncodeError in the writer: a row of the wrong width kept its undecodable id."""
    items = _read_regression("csv_bad_row_invalid_utf8_id.csv", tmp_path)
    assert [type(x).__name__ for x in items] == ["Post", "BadRecord", "Post"]
    assert items[1].id is None and "invalid UTF-8" in items[1].error


def test_issue_9_telegram_surrogate_bytes_in_a_string(tmp_path: Path):
    """Was a UnicodeDecodeError out of ijson: yajl passes CESU-8 surrogate bytes (ED A0 80), Python not."""
    items = _read_regression("telegram_cesu8_surrogate_in_string.json", tmp_path)
    assert [type(x).__name__ for x in items] == ["Post", "BadRecord"]
    assert items[1].position == "messages[1]" and "invalid UTF-8 in a string: byte 0xed" in items[1].error


def test_issue_9_telegram_messages_not_a_list_in_an_account_export(tmp_path: Path):
    """Was silently skipped: a chat whose 'messages' is not a list now gives a BadRecord naming it."""
    items = _read_regression("telegram_account_messages_null.json", tmp_path)
    assert [x.id for x in items if isinstance(x, Post)] == ["1", "3"]
    (bad,) = [x for x in items if isinstance(x, BadRecord)]
    assert bad.position == "chats.list[1].messages"


# ---------------------------------------------------------------------------------------------- memory
_RSS_PROBE = """
import json, sys
from raqib.readers import read_posts
path, fmt = sys.argv[1], sys.argv[2]
def status_mb(key):  # VmHWM, not ru_maxrss: ru_maxrss survives exec, so it starts at the parent's size
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
before = status_mb("VmRSS")
counts = {"posts": 0, "bad": 0}
with read_posts(path, format=fmt) as reader:
    for item in reader:
        counts["posts" if type(item).__name__ == "Post" else "bad"] += 1
counts["bytes"] = reader.stats.bytes_read
print(json.dumps({"before_mb": before, "peak_mb": status_mb("VmHWM"), **counts}))
"""


def _big_file(path: Path, fmt: str, size: int) -> int:
    """Write a file of about ``size`` bytes; returns how many posts it holds."""
    line = "منشور رقم {} عن الطقس جميل اليوم"
    n = 0
    with path.open("w", encoding="utf-8") as f:
        if fmt == "jsonl-one-line":
            chunk = "x" * (1 << 20)
            f.write('{"text": "')
            for _ in range(size >> 20):
                f.write(chunk)
            return 0
        f.write(
            {
                "telegram": '{"name": "c", "type": "public_channel", "id": 1, "messages": [',
                "csv": "id,text\n",
            }.get(fmt, "")
        )
        while f.tell() < size:
            block = []
            for _ in range(10_000):
                n += 1
                text = line.format(n)
                if fmt == "telegram":
                    block.append(
                        ("," if n > 1 else "")
                        + json.dumps({"id": n, "type": "message", "text": text}, ensure_ascii=False)
                    )
                elif fmt == "jsonl":
                    block.append(json.dumps({"id": n, "text": text}, ensure_ascii=False) + "\n")
                elif fmt == "csv":
                    block.append(f"{n},{text}\n")
                else:
                    block.append(text + "\n")
            f.write("".join(block))
        if fmt == "telegram":
            f.write("]}")
    return n


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads VmHWM from /proc")
@pytest.mark.parametrize("fmt", ["telegram", "jsonl", "csv", "text", "jsonl-one-line"])
def test_fuzz_readers_a_big_file_streams_in_bounded_memory(tmp_path: Path, fmt: str):
    """A multi-hundred-MB file (``RAQIB_BIG_FILE_MB``, default 300) reads with a flat peak RSS."""
    size = int(os.environ.get("RAQIB_BIG_FILE_MB", "300")) << 20
    path = tmp_path / f"big{SUFFIX.get(fmt, '.jsonl')}"
    n = _big_file(path, fmt, size)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    reader_fmt = "jsonl" if fmt == "jsonl-one-line" else fmt
    out = subprocess.run(
        [sys.executable, "-c", _RSS_PROBE, str(path), reader_fmt],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout)
    assert result["bytes"] == path.stat().st_size
    assert result["posts"] == n and result["bad"] == (1 if fmt == "jsonl-one-line" else 0)
    growth = result["peak_mb"] - result["before_mb"]
    assert growth < 80, f"peak RSS grew by {growth:.0f} MB reading {path.stat().st_size >> 20} MB"
