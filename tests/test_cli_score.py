"""`raqib score` and `raqib stream` through `raqib.cli.main`, with a fake classifier (no torch, no model)."""

from __future__ import annotations

import csv
import importlib
import io
import json
import sys
import types
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

import raqib
from raqib.cli import COMMANDS, main
from raqib.posts import BadRecord, Post
from raqib.results import PostScore

DATA = Path(__file__).parent / "data"
LABELS = ("violent_call", "propaganda")
KEYWORDS = {"violent_call": "اقتلوهم", "propaganda": "الخلافة"}


class FakeClassifier:
    """Stands in for `raqib.classifier.Classifier`: p is 0.9 with the label's keyword, else 0.1."""

    labels = LABELS
    name = "fake"

    def __init__(self) -> None:
        self.stream_calls: list[dict[str, Any]] = []

    def stream(
        self,
        items: Iterable[Post | BadRecord | str],
        *,
        batch_size: int = 32,
        max_wait_ms: float = 50.0,
        thresholds: dict[str, float] | None = None,
    ) -> Iterator[PostScore]:
        self.stream_calls.append(
            {"batch_size": batch_size, "max_wait_ms": max_wait_ms, "thresholds": thresholds}
        )
        limits = {label: 0.5 for label in LABELS} | dict(thresholds or {})
        for item in items:
            yield self._score(item, limits)

    @staticmethod
    def _score(item: Post | BadRecord | str, limits: dict[str, float]) -> PostScore:
        if isinstance(item, BadRecord):  # as the real Classifier does: the position leads the error
            error = f"{item.position}: {item.error}" if item.position else item.error
            return PostScore(
                post_id=item.id,
                probabilities={},
                flagged=(),
                thresholds=limits,
                normaliser_version="1",
                error=error,
                channel=item.channel,
                source=item.source,
                n_windows=0,
            )
        post = item if isinstance(item, Post) else Post(text=item)
        probs = {label: 0.9 if KEYWORDS[label] in post.text else 0.1 for label in LABELS}
        return PostScore(
            post_id=post.id,
            probabilities=probs,
            flagged=tuple(label for label in LABELS if probs[label] >= limits[label]),
            thresholds=limits,
            normaliser_version="1",
            channel=post.channel,
            date=post.date,
            source=post.source,
            meta=post.meta,
        )


@pytest.fixture(autouse=True)
def _other_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    """`main` builds every command's parser: stand in for commands other modules have not written yet."""
    for name in COMMANDS:
        module = f"raqib.cli.{name}"
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            stub = types.ModuleType(module)
            stub.add_parser = lambda sub, n=name: sub.add_parser(n).set_defaults(run=lambda args: 0)
            monkeypatch.setitem(sys.modules, module, stub)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeClassifier:
    clf = FakeClassifier()
    clf.load_calls = []

    def load(
        name_or_path: str | None = None, *, device: str = "auto", dtype: str = "auto", thresholds: Any = None
    ) -> FakeClassifier:
        clf.load_calls.append({"name_or_path": name_or_path, "device": device, "thresholds": thresholds})
        if dtype != "auto":
            clf.load_calls[-1]["dtype"] = dtype
        return clf

    monkeypatch.setattr(raqib, "load", load)
    return clf


def _jsonl(path: Path, lines: list[str]) -> Path:
    path.write_bytes("".join(line + "\n" for line in lines).encode("utf-8"))
    return path


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


MIXED = [
    '{"id": "p1", "text": "صباح الخير", "channel": "قناة", "date": "2024-05-01T08:00:00"}',
    '{"id": "p2", "text": "اقتلوهم يا شباب"}',
    "{broken",
    '"نص بلا معرف عن الخلافة"',
    "",
    '{"id": "p6", "text": 5}',
    '{"id": "p7", "text": "اقتلوهم باسم الخلافة"}',
]


# ---------------------------------------------------------------------------------------------- raqib score
def test_cli_score_jsonl_keeps_order_and_writes_error_records(tmp_path: Path, fake: FakeClassifier, capsys):
    src = _jsonl(tmp_path / "posts.jsonl", MIXED)
    out = tmp_path / "out" / "scores.jsonl"
    assert main(["score", str(src), "-o", str(out)]) == 0
    records = _records(out)
    assert [r["id"] for r in records] == ["p1", "p2", None, "4", "p6", "p7"]
    assert records[0]["channel"] == "قناة" and records[0]["date"] == "2024-05-01T08:00:00"
    assert records[0]["flagged"] == [] and records[1]["flagged"] == ["violent_call"]
    assert records[3]["flagged"] == ["propaganda"] and records[5]["flagged"] == ["violent_call", "propaganda"]
    assert records[2]["error"].startswith("line 3: invalid JSON")
    assert records[4]["error"].startswith("line 6: 'text' is a number") and records[4]["id"] == "p6"
    err = capsys.readouterr().err
    assert "posts read" in err and "error records" in err and "skipped: blank line" in err
    assert _row(err, "error records") == "2"
    assert _row(err, "flagged violent_call").startswith("2") and "50.0%" in _row(err, "flagged violent_call")
    assert fake.load_calls == [{"name_or_path": None, "device": "auto", "thresholds": None}]
    assert fake.stream_calls == [{"batch_size": 32, "max_wait_ms": 50.0, "thresholds": None}]


def _row(table: str, name: str) -> str:
    """The value columns of a summary row."""
    for line in table.splitlines():
        if line.strip().startswith(name):
            return line.strip()[len(name) :].strip()
    raise AssertionError(f"no row {name!r} in:\n{table}")


def test_cli_score_strict_exits_1_when_any_record_failed(tmp_path: Path, fake: FakeClassifier, capsys):
    src = _jsonl(tmp_path / "posts.jsonl", MIXED)
    out = tmp_path / "scores.jsonl"
    assert main(["score", str(src), "-o", str(out), "--strict"]) == 1
    assert len(_records(out)) == 6  # the run still completes
    assert "2 record(s) could not be scored (--strict)" in capsys.readouterr().err

    clean = _jsonl(tmp_path / "clean.jsonl", MIXED[:2])
    assert main(["score", str(clean), "-o", str(out), "--strict"]) == 0


def test_cli_score_telegram_export_to_csv(tmp_path: Path, fake: FakeClassifier, capsys):
    out = tmp_path / "scores.csv"
    assert main(["score", str(DATA / "telegram_export_small.json"), "-o", str(out)]) == 0
    with out.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["id"] for r in rows] == ["2", "3", "5", "6", "8", "9", "10", "11", "13"]
    assert rows[0]["channel"] == "قناة الاختبار" and rows[0]["date"] == "2024-05-01T09:05:00"
    assert rows[0]["source"] == "telegram"
    assert rows[5]["error"].startswith("messages[8]: 'text' is a number")
    assert rows[5]["p_violent_call"] == ""
    assert rows[8]["flagged"] == "violent_call" and float(rows[8]["p_violent_call"]) == 0.9
    err = capsys.readouterr().err
    assert _row(err, "skipped: service message") == "2"
    assert _row(err, "posts read") == "7"


def test_cli_score_parquet_output(tmp_path: Path, fake: FakeClassifier):
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "scores.parquet"
    assert main(["score", str(DATA / "readers" / "posts.csv"), "-o", str(out)]) == 0
    rows = pq.read_table(out).to_pylist()
    assert [r["id"] for r in rows] == ["1", "2", "3", "7", None, "6"]
    assert rows[2]["error"].startswith("line 5: 6 fields")
    assert rows[5]["flagged"] == ["violent_call"]
    assert json.loads(rows[0]["meta"]) == {"likes": "3"}


def test_cli_score_to_stdout_by_default(tmp_path: Path, fake: FakeClassifier, capsys):
    src = DATA / "readers" / "posts.txt"
    assert main(["score", str(src), "--channel", "ملف"]) == 0
    captured = capsys.readouterr()
    records = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["id"] for r in records] == ["1", "4", "5", "6"]
    assert records[0]["channel"] == "ملف" and records[0]["source"] == "text"
    assert "posts read" in captured.err and "posts read" not in captured.out  # data out, summary err


def test_cli_score_sample_channel(tmp_path: Path, fake: FakeClassifier):
    out = tmp_path / "demo.jsonl"
    assert main(["score", str(DATA / "sample_channel" / "result.json"), "-o", str(out), "--strict"]) == 0
    labels = [
        json.loads(line) for line in (DATA / "sample_channel" / "labels.jsonl").read_text().splitlines()
    ]
    assert [r["id"] for r in _records(out)] == [row["id"] for row in labels]


def test_cli_score_options_reach_the_model(tmp_path: Path, fake: FakeClassifier):
    src = _jsonl(tmp_path / "posts.jsonl", MIXED[:2])
    out = tmp_path / "scores.jsonl"
    argv = ["score", str(src), "-o", str(out), "--model", "models/x", "--device", "cpu", "--batch-size", "4",
            "--dtype", "float32"]
    assert main(argv) == 0
    assert fake.load_calls[-1] == {"name_or_path": "models/x", "device": "cpu", "thresholds": None,
                                   "dtype": "float32"}
    assert fake.stream_calls[-1]["batch_size"] == 4


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--threshold", "violent_call=0.95"], {"violent_call": 0.95}),
        (["--threshold", "0.95"], {"violent_call": 0.95, "propaganda": 0.95}),
        (["--threshold", "propaganda=0.2", "--threshold", "0.95"], {"violent_call": 0.95, "propaganda": 0.2}),
        (["--threshold", "violent_call=0.3", "--threshold", "violent_call=0.4"], {"violent_call": 0.4}),
    ],
)
def test_cli_score_thresholds(tmp_path: Path, fake: FakeClassifier, flags: list[str], expected: dict):
    src = _jsonl(tmp_path / "posts.jsonl", MIXED[:2])
    out = tmp_path / "scores.jsonl"
    assert main(["score", str(src), "-o", str(out), *flags]) == 0
    assert fake.stream_calls[-1]["thresholds"] == expected
    flagged = _records(out)[1]["flagged"]
    assert flagged == ([] if expected.get("violent_call", 0.5) > 0.9 else ["violent_call"])


@pytest.mark.parametrize("value", ["abc", "violent_call=", "=0.5", "1.5", "violent_call=-0.1", "nan"])
def test_cli_score_bad_threshold_is_a_usage_error(tmp_path: Path, fake: FakeClassifier, capsys, value: str):
    with pytest.raises(SystemExit) as info:
        main(["score", str(tmp_path / "x.jsonl"), "--threshold", value])
    assert info.value.code == 2
    assert "--threshold" in capsys.readouterr().err
    assert fake.load_calls == []


def test_cli_score_unknown_threshold_label_suggests_one(tmp_path: Path, fake: FakeClassifier, capsys):
    src = _jsonl(tmp_path / "posts.jsonl", MIXED[:1])
    assert main(["score", str(src), "-o", str(tmp_path / "o.jsonl"), "--threshold", "violnt_call=0.7"]) == 1
    err = capsys.readouterr().err
    assert "unknown label 'violnt_call'" in err and "did you mean violent_call=0.7" in err


def test_cli_score_missing_input_fails_before_loading_the_model(tmp_path: Path, fake: FakeClassifier, capsys):
    assert main(["score", str(tmp_path / "missing.json"), "-o", str(tmp_path / "o.jsonl")]) == 1
    err = capsys.readouterr().err
    assert "missing.json" in err and "no such file" in err
    assert fake.load_calls == [] and not (tmp_path / "o.jsonl").exists()


def test_cli_score_missing_csv_column(tmp_path: Path, fake: FakeClassifier, capsys):
    assert main(["score", str(DATA / "readers" / "posts.tsv"), "--text-column", "bdy"]) == 1
    assert "did you mean 'body'" in capsys.readouterr().err
    assert (
        main(
            [
                "score",
                str(DATA / "readers" / "posts.tsv"),
                "--text-column",
                "body",
                "-o",
                str(tmp_path / "o.csv"),
            ]
        )
        == 0
    )


def test_cli_score_bad_output_paths(tmp_path: Path, fake: FakeClassifier, capsys):
    src = _jsonl(tmp_path / "posts.jsonl", MIXED[:1])
    assert main(["score", str(src), "-o", str(tmp_path / "scores.xlsx")]) == 1
    assert ".parquet" in capsys.readouterr().err
    assert main(["score", str(src), "-o", str(src)]) == 1
    assert "is the input file" in capsys.readouterr().err
    assert src.read_text(encoding="utf-8").startswith('{"id": "p1"')  # untouched


@pytest.mark.parametrize("flags", [["--device", "gpu"], ["--batch-size", "0"], ["--format", "xml"]])
def test_cli_score_bad_options_are_usage_errors(tmp_path: Path, fake: FakeClassifier, flags: list[str]):
    with pytest.raises(SystemExit) as info:
        main(["score", "x.jsonl", *flags])
    assert info.value.code == 2


def test_cli_score_help_has_examples(capsys):
    with pytest.raises(SystemExit) as info:
        main(["score", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert (
        "examples:" in out and "raqib score result.json" in out and "--threshold" in out and "--strict" in out
    )


# ---------------------------------------------------------------------------------------------- raqib stream
class _Stdout(io.StringIO):
    """Records how many complete lines had been written at each flush."""

    def __init__(self) -> None:
        super().__init__()
        self.flushed_at: list[int] = []

    def flush(self) -> None:
        self.flushed_at.append(self.getvalue().count("\n"))
        super().flush()


def _stdin(monkeypatch: pytest.MonkeyPatch, lines: list[str]) -> None:
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))


def test_cli_stream_one_result_per_line_in_place(
    monkeypatch: pytest.MonkeyPatch, fake: FakeClassifier, capsys
):
    _stdin(monkeypatch, MIXED)
    stdout = _Stdout()
    monkeypatch.setattr(sys, "stdout", stdout)
    assert main(["stream", "--max-wait-ms", "5", "--batch-size", "8"]) == 0
    records = [json.loads(line) for line in stdout.getvalue().splitlines()]
    assert [r["id"] for r in records] == ["p1", "p2", None, "4", "p6", "p7"]
    assert records[2]["error"].startswith("line 3: invalid JSON")
    assert records[4]["error"].startswith("line 6:")
    assert records[5]["flagged"] == ["violent_call", "propaganda"]
    assert "صباح" not in stdout.getvalue() and "قناة" in stdout.getvalue()  # Arabic as is, texts not echoed
    assert fake.stream_calls == [{"batch_size": 8, "max_wait_ms": 5.0, "thresholds": None}]
    assert stdout.flushed_at[:6] == [1, 2, 3, 4, 5, 6]  # each result is pushed out as soon as it exists
    assert "6 results, 2 error records" in capsys.readouterr().err


def test_cli_stream_strict_and_thresholds(monkeypatch: pytest.MonkeyPatch, fake: FakeClassifier, capsys):
    _stdin(monkeypatch, MIXED[:3])
    assert main(["stream", "--strict", "--threshold", "violent_call=0.95"]) == 1
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert out[1]["flagged"] == [] and out[1]["thresholds"]["violent_call"] == 0.95
    _stdin(monkeypatch, MIXED[:2])
    assert main(["stream", "--strict"]) == 0


def test_cli_stream_empty_input(monkeypatch: pytest.MonkeyPatch, fake: FakeClassifier, capsys):
    _stdin(monkeypatch, [])
    assert main(["stream"]) == 0
    assert capsys.readouterr().out == ""


def test_cli_stream_bad_max_wait_is_a_usage_error(fake: FakeClassifier):
    with pytest.raises(SystemExit) as info:
        main(["stream", "--max-wait-ms", "-1"])
    assert info.value.code == 2


def test_cli_stream_help_has_examples(capsys):
    with pytest.raises(SystemExit):
        main(["stream", "--help"])
    out = capsys.readouterr().out
    assert "examples:" in out and "--max-wait-ms" in out and "bare JSON string" in out
