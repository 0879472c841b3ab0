"""The Telegram Desktop export reader, and the shape of the bundled sample channel dump."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raqib.errors import ReaderError
from raqib.posts import BadRecord, Post
from raqib.readers import read_posts

DATA = Path(__file__).parent / "data"
SMALL = DATA / "telegram_export_small.json"
SAMPLE = DATA / "sample_channel" / "result.json"
SAMPLE_LABELS = DATA / "sample_channel" / "labels.jsonl"
NO_TEXT = "message without text"


def _read(path: Path) -> tuple[list[Post | BadRecord], object]:
    with read_posts(path) as reader:
        return list(reader), reader


def test_readers_telegram_every_message_shape():
    items, reader = _read(SMALL)
    assert reader.format == "telegram"
    by_id = {x.id: x for x in items}
    assert list(by_id) == ["2", "3", "5", "6", "8", "9", "10", "11", "13"]  # 1, 4 service; 7, 12 no text

    plain = by_id["2"]
    assert (plain.text, plain.channel, plain.date, plain.source) == (
        "صباح الخير يا جماعة",
        "قناة الاختبار",
        "2024-05-01T09:05:00",
        "telegram",
    )
    # Entity lists are joined in order; a text_link keeps its text, not its href.
    assert by_id["3"].text == (
        "عاجل: فاز الفريق في المباراة #الدوري تابعوا @sport_news والتفاصيل هنا https://example.org/live"
    )
    assert by_id["5"].meta["forwarded_from"] == "وكالة الأنباء"
    assert by_id["6"].text == "الطقس جميل اليوم ☀️" and by_id["6"].meta["media_type"] == "photo"
    assert by_id["8"].meta["reply_to_message_id"] == 5
    assert by_id["10"].meta["media_type"] == "document"
    assert by_id["13"].meta["forwarded_from"] is None  # hidden sender: still marked as a forward
    assert "forwarded_from" not in plain.meta and plain.meta["from"] == "قناة الاختبار"

    wrong_type, bad_entity = by_id["9"], by_id["11"]
    assert isinstance(wrong_type, BadRecord) and wrong_type.position == "messages[8]"
    assert "'text' is a number" in wrong_type.error and wrong_type.channel == "قناة الاختبار"
    assert isinstance(bad_entity, BadRecord) and bad_entity.position == "messages[10]"
    assert "text[1]" in bad_entity.error

    stats = reader.stats
    assert (stats.posts, stats.bad_records) == (7, 2)
    assert stats.skipped == {"service message": 2, NO_TEXT: 2}
    assert stats.records == 13  # every message accounted for


def test_readers_telegram_account_export_reads_every_chat():
    items, reader = _read(DATA / "readers" / "account_export.json")
    summary = [(x.id, x.channel, getattr(x, "text", None), getattr(x, "position", None)) for x in items]
    assert summary == [
        ("2", "مجموعة العائلة", "أهلاً بالجميع", None),
        ("5", None, "رابط مهم https://example.org", None),  # saved messages have no name
        ("6", None, None, "chats.list[1].messages[1]"),
        ("9", "قناة قديمة", "منشور قديم", None),
    ]
    assert reader.stats.skipped == {"service message": 1}


def test_readers_telegram_channel_argument_fills_unnamed_chats():
    items = list(read_posts(DATA / "readers" / "account_export.json", channel="حسابي"))
    assert [x.channel for x in items] == ["مجموعة العائلة", "حسابي", "حسابي", "قناة قديمة"]


def test_readers_telegram_top_level_array_of_posts(tmp_path: Path):
    path = tmp_path / "posts.json"
    path.write_text(
        json.dumps([{"id": "a", "text": "نص"}, {"text": 3}, "نص حر"], ensure_ascii=False), encoding="utf-8"
    )
    items = list(read_posts(path))
    assert [(type(x).__name__, x.id) for x in items] == [("Post", "a"), ("BadRecord", None), ("Post", "2")]
    assert items[1].position == "[1]" and items[0].source == "json"


def _full() -> tuple[bytes, list[str]]:
    data = SMALL.read_bytes()
    ids = [x.id for x in read_posts(SMALL)]
    return data, ids


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=1, max_value=len(SMALL.read_bytes()) - 3))
def test_readers_telegram_truncated_file_yields_posts_then_one_bad_record(tmp_path: Path, cut: int):
    data, ids = _full()
    path = tmp_path / "cut.json"
    path.write_bytes(data[:cut])
    items = list(read_posts(path))  # never a traceback
    assert items, "a truncated export always says so"
    *head, last = items
    assert isinstance(last, BadRecord)
    assert "truncated" in last.error or "corrupt" in last.error
    assert last.position is not None and (
        last.position.startswith("messages[") or last.position.startswith("byte ")
    )
    assert [x.id for x in head] == ids[: len(head)]  # everything before the cut, in order


def test_readers_telegram_truncation_names_the_message_and_byte(tmp_path: Path):
    messages = [{"id": i, "type": "message", "text": f"منشور {i}"} for i in range(2000)]
    data = json.dumps({"name": "c", "messages": messages}, ensure_ascii=False, indent=1).encode()
    path = tmp_path / "cut.json"
    path.write_bytes(data[: len(data) // 2])
    items = list(read_posts(path))
    last = items[-1]
    assert isinstance(last, BadRecord)
    assert last.position == f"messages[{len(items) - 1}]"
    assert f"truncated at byte {len(data) // 2:,}" in last.error
    assert 900 < len(items) < 1100 and all(isinstance(x, Post) for x in items[:-1])


def test_readers_telegram_corrupt_bytes_in_the_middle(tmp_path: Path):
    data = SMALL.read_bytes()
    middle = data.index(b'"id": 8')
    path = tmp_path / "corrupt.json"
    path.write_bytes(data[:middle] + b"\x00@@" + data[middle:])
    items = list(read_posts(path))
    assert [x.id for x in items[:-1]] == ["2", "3", "5", "6"]
    assert isinstance(items[-1], BadRecord) and "corrupt JSON" in items[-1].error
    assert items[-1].position == "messages[7]"


def test_readers_telegram_invalid_utf8_stops_with_a_bad_record(tmp_path: Path):
    path = tmp_path / "x.json"
    path.write_bytes(b'{"name": "c", "messages": [{"id": 1, "text": "ok"}, {"id": 2, "text": "\xff"}]}')
    items = list(read_posts(path))
    assert items[0].text == "ok" and isinstance(items[1], BadRecord) and "UTF8" in items[1].error


def test_readers_telegram_not_an_export(tmp_path: Path):
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    with pytest.raises(ReaderError, match="empty"):
        read_posts(empty)
    html = tmp_path / "page.json"
    html.write_text("<html>not json</html>", encoding="utf-8")
    with pytest.raises(ReaderError, match="not JSON"):
        read_posts(html)
    other = tmp_path / "other.json"
    other.write_text('{\n "about": "something else",\n "list": [1, 2]\n}', encoding="utf-8")
    reader = read_posts(other)
    with pytest.raises(ReaderError, match="no 'messages' list"):
        list(reader)


def test_readers_telegram_bom_is_tolerated(tmp_path: Path):
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + SMALL.read_bytes())
    assert [x.id for x in read_posts(path)] == [x.id for x in read_posts(SMALL)]


# ---------------------------------------------------------------------------------------------- sample dump
def test_sample_channel_is_a_clean_export_matching_its_labels():
    items, reader = _read(SAMPLE)
    assert all(isinstance(x, Post) for x in items), "the demo dump has no bad records"
    labels = [json.loads(line) for line in SAMPLE_LABELS.read_text(encoding="utf-8").splitlines()]
    assert [x.id for x in items] == [row["id"] for row in labels]  # one label row per post, same order
    assert 75 <= len(items) <= 90
    assert reader.stats.skipped["service message"] >= 3 and reader.stats.skipped[NO_TEXT] >= 1

    violent = sum(row["violent_call"] for row in labels)
    propaganda = sum(row["propaganda"] for row in labels)
    assert 5 <= violent <= 8 and 5 <= propaganda <= 8
    assert all(set(row) >= {"id", "violent_call", "propaganda"} for row in labels)

    texts = {x.id: x.text for x in items}
    long_posts = [x for x in items if len(x.text) >= 1500]
    assert len(long_posts) >= 2 and all(len(x.text) <= 3000 for x in long_posts)
    assert all("forwarded_from" in x.meta for x in long_posts)
    label_of = {row["id"]: row for row in labels}
    assert {label_of[x.id]["violent_call"] for x in long_posts} == {0, 1}
    assert any("#" in t for t in texts.values()) and any("@" in t for t in texts.values())
    assert any("https://" in t for t in texts.values())
    assert any(x.meta.get("media_type") == "photo" for x in items)
    assert any("reply_to_message_id" in x.meta for x in items)
    days = {datetime.fromisoformat(x.date).date() for x in items}
    assert len(days) >= 4
    assert {x.channel for x in items} == {"ملتقى أهالي الحي الشرقي"}


def test_sample_channel_looks_like_a_real_export():
    export = json.loads(SAMPLE.read_text(encoding="utf-8"))
    assert set(export) == {"name", "type", "id", "messages"}
    for message in export["messages"]:
        assert {"id", "type", "date", "date_unixtime", "text", "text_entities"} <= set(message)
        assert "label" not in json.dumps(message)  # labels live in labels.jsonl only
    ids = [m["id"] for m in export["messages"]]
    assert ids == sorted(ids)
    dates = [m["date"] for m in export["messages"]]
    assert dates == sorted(dates)
