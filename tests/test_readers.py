"""Readers for JSON Lines, plain text and CSV/TSV, and `read_posts` dispatch (Telegram: its own file)."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raqib.errors import RaqibError, ReaderError
from raqib.posts import BadRecord, Post
from raqib.readers import ReadStats, read_posts

DATA = Path(__file__).parent / "data" / "readers"

# Text that can be written as UTF-8: no lone surrogates.
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


def _kinds(items: list[Post | BadRecord]) -> list[str]:
    return ["post" if isinstance(x, Post) else "bad" for x in items]


# ---------------------------------------------------------------------------------------------- JSON Lines
def test_readers_jsonl_keeps_order_and_turns_bad_lines_into_records():
    with read_posts(DATA / "posts.jsonl") as reader:
        items = list(reader)
    assert reader.format == "jsonl"
    assert _kinds(items) == ["post", "post", "bad", "bad", "bad", "bad", "bad", "post", "post"]
    first, bare = items[0], items[1]
    assert (first.id, first.text, first.channel, first.date, first.source) == (
        "a1",
        "صباح الخير",
        "قناة أ",
        "2024-05-01T08:00:00",
        "jsonl",
    )
    assert first.meta == {"lang": "ar"}  # extra fields travel to the output record
    assert (bare.id, bare.text) == ("2", "نص بدون معرف")  # no id: the line number
    positions = [x.position for x in items if isinstance(x, BadRecord)]
    assert positions == ["line 3", "line 5", "line 6", "line 7", "line 8"]
    errors = {x.position: x.error for x in items if isinstance(x, BadRecord)}
    assert errors["line 3"].startswith("invalid JSON")
    assert "array" in errors["line 5"]
    assert "no 'text' field" in errors["line 6"] and "body" in errors["line 6"]
    assert "'text' is a number" in errors["line 7"]
    assert errors["line 8"].startswith("invalid UTF-8")
    assert [x.id for x in items if isinstance(x, BadRecord)] == [None, None, "7", "a8", None]
    assert items[-2].text == "سطر\u2028فاصل يونيكود"  # U+2028 is not a line break
    assert items[-1].id == "10"  # 10.0 -> "10"
    assert reader.stats.posts == 4 and reader.stats.bad_records == 5
    assert reader.stats.skipped == {"blank line": 1}
    assert reader.stats.records == 10
    assert reader.stats.bytes_read == reader.stats.bytes_total


def test_readers_jsonl_text_and_id_columns(tmp_path: Path):
    path = tmp_path / "x.ndjson"
    path.write_text('{"post_id": 5, "body": "نص", "text": "ignored"}\n', encoding="utf-8")
    (post,) = read_posts(path, text_column="body", id_column="post_id", channel="fallback")
    assert (post.id, post.text, post.channel) == ("5", "نص", "fallback")
    assert post.meta == {"text": "ignored"}


def test_readers_jsonl_absurd_lines_are_bad_records_not_crashes(tmp_path: Path):
    path = tmp_path / "x.jsonl"
    path.write_text("[" * 100_000 + "\n" + "1" * 5000 + "\n" + '{"text": NaN}\n' + '"ok"\n', encoding="utf-8")
    items = list(read_posts(path))
    assert _kinds(items) == ["bad", "bad", "bad", "post"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(TEXT, max_size=8))
def test_readers_jsonl_round_trips_any_text(tmp_path: Path, texts: list[str]):
    path = tmp_path / "round.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for i, text in enumerate(texts):
            f.write(json.dumps({"id": i, "text": text}, ensure_ascii=False) + "\n")
    items = list(read_posts(path))
    assert [(p.id, p.text) for p in items] == [(str(i), t) for i, t in enumerate(texts)]


# ---------------------------------------------------------------------------------------------- plain text
def test_readers_text_one_post_per_line_with_line_numbers():
    with read_posts(DATA / "posts.txt") as reader:
        items = list(reader)
    assert reader.format == "text"
    assert _kinds(items) == ["post", "post", "bad", "post"]
    assert [(x.id, x.text) for x in items if isinstance(x, Post)] == [
        ("1", "صباح الخير"),
        ("4", "اقتلوهم يا شباب"),
        ("6", "آخر سطر بدون نهاية"),
    ]
    assert items[2].position == "line 5" and "invalid UTF-8" in items[2].error
    assert reader.stats.skipped == {"blank line": 2}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lines=st.lists(
        TEXT.filter(lambda s: s.strip() and "\n" not in s and "\r" not in s and s[0] != "\ufeff"), max_size=8
    )
)
def test_readers_text_round_trips_lines(tmp_path: Path, lines: list[str]):
    path = tmp_path / "round.txt"
    path.write_bytes("\n".join(lines).encode("utf-8"))
    assert [p.text for p in read_posts(path)] == lines


# ---------------------------------------------------------------------------------------------- CSV / TSV
def test_readers_csv_columns_multiline_fields_and_bad_rows():
    with read_posts(DATA / "posts.csv") as reader:
        items = list(reader)
    assert reader.format == "csv"
    assert _kinds(items) == ["post", "post", "bad", "post", "bad", "post"]
    first = items[0]
    assert (first.id, first.text, first.channel, first.date, first.source) == (
        "1",
        "صباح الخير",
        "قناة أ",
        "2024-05-01",
        "csv",
    )  # the BOM before "id" is gone
    assert first.meta == {"likes": "3"}
    assert items[1].text == "سطر أول\nسطر ثان، مع فاصلة"
    assert items[2].position == "line 5" and "6 fields" in items[2].error and items[2].id == "3"
    assert items[3].id == "7"  # empty id cell: the line number
    assert items[4].position == "line 8" and items[4].error == "invalid UTF-8"
    assert items[5].id == "6"
    assert reader.stats.skipped == {"blank line": 1}


def test_readers_tsv_with_named_columns():
    items = list(read_posts(DATA / "posts.tsv", text_column="body", id_column="post_id"))
    assert [(p.id, p.text, p.source) for p in items] == [
        ("x1", "صباح الخير", "tsv"),
        ("x2", "اقتلوهم يا شباب", "tsv"),
    ]


def test_readers_csv_missing_text_column_lists_columns_and_suggests():
    with pytest.raises(ReaderError) as info:
        read_posts(DATA / "posts.tsv", text_column="bodi")
    message = str(info.value)
    assert "posts.tsv" in message and "'post_id', 'body'" in message and "did you mean 'body'" in message
    assert isinstance(info.value, RaqibError) and info.value.path.endswith("posts.tsv")


def test_readers_csv_missing_id_column_is_an_error(tmp_path: Path):
    path = tmp_path / "x.csv"
    path.write_text("ID,Text\n1,a\n", encoding="utf-8")
    with pytest.raises(ReaderError, match="did you mean 'Text'"):
        read_posts(path)
    with pytest.raises(ReaderError, match="did you mean 'ID'"):
        read_posts(path, text_column="Text", id_column="id")


def test_readers_csv_empty_file_is_an_error(tmp_path: Path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"")
    with pytest.raises(ReaderError, match="empty"):
        read_posts(path)


def test_readers_csv_unbalanced_quote_costs_one_record_not_the_file(tmp_path: Path):
    path = tmp_path / "x.csv"
    body = 'id,text\n1,"never closed\n' + "".join(f"{i},filler\n" for i in range(2, 20_000))
    path.write_text(body, encoding="utf-8")
    items = list(read_posts(path))
    assert isinstance(items[0], BadRecord) and "field larger than field limit" in items[0].error
    assert items[0].position == "line 2"
    assert len(items) < 20_000  # the rest is read again, not swallowed as one field


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(TEXT, min_size=1, max_size=6), tsv=st.booleans())
def test_readers_csv_round_trips_what_csv_writer_writes(tmp_path: Path, texts: list[str], tsv: bool):
    path = tmp_path / ("round.tsv" if tsv else "round.csv")
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, delimiter="\t" if tsv else ",")
        writer.writerow(["id", "text"])
        for i, text in enumerate(texts):
            writer.writerow([f"p{i}", text])
    items = list(read_posts(path))
    assert [(p.id, p.text) for p in items if isinstance(p, Post)] == [
        (f"p{i}", t) for i, t in enumerate(texts)
    ]
    assert all(isinstance(p, Post) for p in items)


# ---------------------------------------------------------------------------------------------- dispatch
def test_readers_missing_file_is_a_reader_error_naming_the_path(tmp_path: Path):
    with pytest.raises(ReaderError, match="no such file") as info:
        read_posts(tmp_path / "nope.jsonl")
    assert "nope.jsonl" in str(info.value)


def test_readers_directory_is_a_reader_error(tmp_path: Path):
    with pytest.raises(ReaderError, match="directory"):
        read_posts(tmp_path)


@pytest.mark.parametrize("name", ["export.zip", "posts.jsonl.gz", "posts.jsonl"])
def test_readers_compressed_input_is_a_clear_error(tmp_path: Path, name: str):
    import gzip
    import zipfile

    path = tmp_path / name
    if name.endswith(".zip"):
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("result.json", "{}")
    else:
        path.write_bytes(gzip.compress(b'{"text": "x"}\n'))
    with pytest.raises(ReaderError, match="archive"):
        read_posts(path)


def test_readers_unknown_format_is_a_value_error():
    with pytest.raises(ValueError, match="unknown format"):
        read_posts(DATA / "posts.txt", format="xml")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("a.json", '{"text": "x"}\n{"text": "y"}\n', "jsonl"),  # JSON Lines saved as .json
        ("a.json", '{\n "name": "c",\n "messages": []\n}\n', "telegram"),
        ("a.json", '{"name": "c", "messages": []}\n', "telegram"),  # one-line export
        ("a.data", '{"text": "x"}\n', "jsonl"),
        ("a.data", "[]", "telegram"),
        ("a", "just words\n", "text"),
        ("a.TXT", "x\n", "text"),
        ("a.Csv", "text\nx\n", "csv"),
    ],
)
def test_readers_auto_format(tmp_path: Path, name: str, content: str, expected: str):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    assert read_posts(path).format == expected


def test_readers_stdin_is_jsonl_by_default(monkeypatch: pytest.MonkeyPatch):
    data = '{"id": "s1", "text": "من stdin"}\n"نص"\n'.encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
    with read_posts("-") as reader:
        items = list(reader)
    assert reader.format == "jsonl" and reader.stats.bytes_total is None
    assert [(p.id, p.text) for p in items] == [("s1", "من stdin"), ("2", "نص")]


def test_readers_stdin_without_a_byte_buffer(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("سطر\n"))
    assert [p.text for p in read_posts("-", format="text")] == ["سطر"]


@pytest.mark.parametrize(
    ("suffix", "line"),
    [
        (".jsonl", '{"text": "%s"}\n'),
        (".txt", "%s\n"),
        (".csv", "%s\n"),
        (".json", None),
    ],
)
def test_readers_stream_instead_of_loading_the_file(tmp_path: Path, suffix: str, line: str | None):
    """After the first post, only a buffer's worth of a 1+ MB file has been read."""
    path = tmp_path / f"big{suffix}"
    if line is None:
        messages = [{"id": i, "type": "message", "text": f"post {i}"} for i in range(40_000)]
        path.write_text(json.dumps({"name": "c", "messages": messages}), encoding="utf-8")
    else:
        with path.open("w", encoding="utf-8") as f:
            f.write("text\n" if suffix == ".csv" else "")
            for i in range(120_000):
                f.write(line % f"post {i}")
    reader = read_posts(path)
    first = next(reader)
    assert isinstance(first, Post) and first.text == "post 0"
    assert reader.stats.bytes_total > 1_000_000
    assert reader.stats.bytes_read <= 200_000
    assert 0 < reader.stats.fraction_read < 0.15
    reader.close()


def test_readers_read_stats_counts():
    stats = ReadStats(posts=3, bad_records=1, bytes_total=10, bytes_read=5)
    stats.skipped["service message"] += 2
    assert stats.records == 6 and stats.fraction_read == 0.5
    assert stats.to_dict()["skipped"] == {"service message": 2}
    assert ReadStats().fraction_read is None
