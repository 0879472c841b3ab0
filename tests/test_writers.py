"""Result writers (JSON Lines, CSV, Parquet) and the run `Summary`."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest

from raqib.errors import RaqibError
from raqib.readers import ReadStats
from raqib.results import PostScore
from raqib.writers import Summary, csv_columns, open_writer

LABELS = ("violent_call", "propaganda")
LIMITS = {"violent_call": 0.5, "propaganda": 0.5}


def _score(i: int, *, vc: float = 0.1, pr: float = 0.2, meta: dict | None = None) -> PostScore:
    probs = {"violent_call": vc, "propaganda": pr}
    return PostScore(
        post_id=str(i),
        probabilities=probs,
        flagged=tuple(lb for lb in LABELS if probs[lb] >= LIMITS[lb]),
        thresholds=LIMITS,
        normaliser_version="1",
        channel="قناة",
        date=f"2024-05-0{i % 9 + 1}",
        source="telegram",
        meta=meta or {},
    )


def _error(i: int) -> PostScore:
    return PostScore(
        post_id=None,
        probabilities={},
        flagged=(),
        thresholds=LIMITS,
        normaliser_version="1",
        error=f"line {i}: invalid JSON",
        source="jsonl",
        n_windows=0,
    )


SCORES = [
    _score(1),
    _score(2, vc=0.9, meta={"forwarded_from": "وكالة"}),
    _error(3),
    _score(4, vc=0.95, pr=0.7),
]


def test_writers_jsonl_one_record_per_score_with_arabic_as_is(tmp_path: Path):
    path = tmp_path / "deep" / "out" / "scores.jsonl"  # parent folders are created
    with open_writer(path, labels=LABELS) as writer:
        assert writer.write(iter(SCORES)) == 4
    raw = path.read_text(encoding="utf-8")
    assert "قناة" in raw and "\\u" not in raw
    records = [json.loads(line) for line in raw.splitlines()]
    assert records == [s.to_dict() for s in SCORES]
    assert records[2]["error"] == "line 3: invalid JSON" and records[2]["id"] is None


def test_writers_dash_is_stdout_jsonl(capsys: pytest.CaptureFixture[str]):
    with open_writer("-", labels=LABELS) as writer:
        writer.write_one(SCORES[1])
        writer.flush()
    out = capsys.readouterr().out
    assert json.loads(out) == SCORES[1].to_dict()
    assert not sys.stdout.closed  # stdout is flushed, never closed


def test_writers_csv_flat_columns(tmp_path: Path):
    path = tmp_path / "scores.csv"
    with open_writer(path, labels=LABELS) as writer:
        writer.write(SCORES)
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert (
        list(rows[0])
        == csv_columns(LABELS)
        == [
            "id",
            "channel",
            "date",
            "source",
            "error",
            "flagged",
            "p_violent_call",
            "p_propaganda",
        ]
    )
    assert [r["id"] for r in rows] == ["1", "2", "", "4"]
    assert rows[3]["flagged"] == "violent_call;propaganda"
    assert float(rows[3]["p_violent_call"]) == 0.95
    assert rows[2]["error"] == "line 3: invalid JSON" and rows[2]["p_violent_call"] == ""
    assert rows[0]["channel"] == "قناة" and rows[0]["flagged"] == ""


def test_writers_csv_to_stdout_with_format_override(capsys: pytest.CaptureFixture[str]):
    with open_writer("-", labels=LABELS, format="csv") as writer:
        writer.write(SCORES[:1])
    assert capsys.readouterr().out.splitlines()[0] == ",".join(csv_columns(LABELS))


def test_writers_parquet_in_row_groups(tmp_path: Path):
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "scores.parquet"
    scores = [*SCORES, *(_score(i) for i in range(5, 12))]
    with open_writer(path, labels=LABELS, row_group_size=4) as writer:
        writer.write(scores)
    parquet = pq.ParquetFile(path)
    assert parquet.metadata.num_rows == 11 and parquet.metadata.num_row_groups == 3
    table = parquet.read().to_pylist()
    assert [r["id"] for r in table[:4]] == ["1", "2", None, "4"]
    assert table[3]["flagged"] == ["violent_call", "propaganda"]
    assert table[2]["error"] == "line 3: invalid JSON" and table[2]["p_violent_call"] is None
    assert json.loads(table[1]["meta"]) == {"forwarded_from": "وكالة"}
    assert table[0]["normaliser_version"] == "1" and table[0]["n_windows"] == 1


def test_writers_parquet_is_complete_after_an_interruption(tmp_path: Path):
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "scores.parquet"
    with pytest.raises(KeyboardInterrupt), open_writer(path, labels=LABELS) as writer:
        writer.write(SCORES)
        raise KeyboardInterrupt
    assert pq.ParquetFile(path).metadata.num_rows == 4


def test_writers_parquet_without_pyarrow_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow -> ImportError
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    path = tmp_path / "new" / "scores.parquet"
    with pytest.raises(RaqibError, match=r'pip install "raqib\[parquet\]"'):
        open_writer(path, labels=LABELS)
    assert not path.parent.exists()  # nothing created


def test_writers_unknown_extension_lists_the_allowed_ones(tmp_path: Path):
    with pytest.raises(RaqibError, match=r"\.jsonl.*\.csv.*\.parquet"):
        open_writer(tmp_path / "scores.xlsx", labels=LABELS)
    with pytest.raises(RaqibError, match="stdout"):
        open_writer("-", labels=LABELS, format="parquet")


def test_writers_unwritable_path_is_a_raqib_error(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(RaqibError, match="cannot write"):
        open_writer(blocker / "scores.jsonl", labels=LABELS)


def test_writers_summary_counts_and_table():
    stats = ReadStats(posts=4, bad_records=1)
    stats.skipped["service message"] = 3
    summary = Summary(LABELS, read_stats=stats)
    for score in SCORES:
        summary.add(score)
    assert (summary.results, summary.scored, summary.errors, summary.flagged_any) == (4, 3, 1, 2)
    assert summary.flagged == {"violent_call": 2, "propaganda": 1}
    table = summary.format_table()
    lines = {line.split("  ")[1].strip(): line for line in table.splitlines()}
    assert "4" in lines["posts read"]
    assert "3" in lines["skipped: service message"]
    assert "1" in lines["error records"]
    assert lines["flagged violent_call"].endswith("66.7%")
    assert lines["flagged propaganda"].endswith("33.3%")
    assert lines["flagged (any label)"].endswith("66.7%")
    assert summary.to_dict()["input"]["skipped"] == {"service message": 3}


def test_writers_summary_with_nothing_scored_has_no_percentages():
    summary = Summary(LABELS)
    summary.add(_error(1))
    assert "%" not in summary.format_table()
