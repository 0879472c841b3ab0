"""`raqib evaluate` and `raqib report` through `main([...])`: exit codes, files, stdout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import raqib
from raqib.cli import main
from raqib.results import PostScore

DATA = Path(__file__).parent / "data"


class FakeClassifier:
    """Scores by keywords; has what `raqib evaluate` uses of a Classifier."""

    name = "fake-model"
    labels = ("violent_call", "propaganda")
    thresholds = {"violent_call": 0.5, "propaganda": 0.6}
    normaliser_version = None
    words = {
        "violent_call": ("اقتل", "احرقوا", "اذبحوا", "سكين"),
        "propaganda": ("الخلافة", "باقية", "بايعنا", "جنود"),
    }

    def score_batch(self, texts, *, batch_size=32):
        out = []
        for i, t in enumerate(texts):
            probs = {lb: min(0.95, 0.1 + 0.3 * sum(w in t for w in ws)) for lb, ws in self.words.items()}
            out.append(
                PostScore(
                    post_id=str(i),
                    probabilities=probs,
                    flagged=tuple(lb for lb in probs if probs[lb] >= self.thresholds[lb]),
                    thresholds=self.thresholds,
                    normaliser_version="1",
                )
            )
        return out


@pytest.fixture
def fake_load(monkeypatch):
    loaded = []

    def load(name_or_path=None, *, device="auto", dtype="auto", thresholds=None):
        loaded.append((name_or_path, device))
        return FakeClassifier()

    monkeypatch.setattr(raqib, "load", load)
    return loaded


def test_cli_evaluate_writes_report(tmp_path, fake_load, capsys):
    out = tmp_path / "eval"
    code = main(
        [
            "evaluate",
            str(DATA / "eval_small.jsonl"),
            "--report",
            str(out),
            "--model",
            "my-model",
            "--group-column",
            "dialect",
            "--prediction-column",
            "llm:violent_call=llm_violent_call",
            "--prediction-column",
            "llm:propaganda=llm_propaganda",
            "--bootstrap",
            "20",
            "--batch-size",
            "4",
            "--device",
            "cpu",
        ]
    )
    assert code == 0
    assert fake_load == [("my-model", "cpu")]
    assert {p.name for p in out.iterdir()} >= {
        "report.html",
        "report.md",
        "metrics.json",
        "violent_call_pr_curve.png",
        "propaganda_reliability.png",
    }
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["name"] == "fake-model" and metrics["n_examples"] == 36 and metrics["bootstrap"]["n"] == 20
    assert [c["name"] for c in metrics["comparisons"]] == ["llm"]
    stdout = capsys.readouterr().out
    assert stdout.startswith("violent_call: threshold 0.5") and "llm (predictions)" in stdout


def test_cli_evaluate_label_column_mapping_and_baseline(tmp_path, fake_load):
    rows = [json.loads(x) for x in (DATA / "eval_small.jsonl").read_text(encoding="utf-8").splitlines()]
    data = tmp_path / "renamed.jsonl"
    data.write_text(
        "".join(
            json.dumps(
                {"post": r["text"], "threat": r["violent_call"], "propaganda": r["propaganda"]},
                ensure_ascii=False,
            )
            + "\n"
            for r in rows
        ),
        encoding="utf-8",
    )
    code = main(
        [
            "evaluate",
            str(data),
            "--report",
            str(tmp_path / "r"),
            "--text-column",
            "post",
            "--label-column",
            "violent_call=threat",
            "--baseline",
            "tfidf",
            "--train",
            str(data),
            "--bootstrap",
            "0",
        ]
    )
    assert code == 0
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text(encoding="utf-8"))
    assert [c["kind"] for c in metrics["comparisons"]] == ["baseline"]
    assert "20%" in metrics["comparisons"][0]["description"]


def test_cli_evaluate_missing_column_is_error_exit_1(tmp_path, fake_load, capsys):
    code = main(
        ["evaluate", str(DATA / "eval_small.jsonl"), "--report", str(tmp_path), "--text-column", "body"]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("raqib: error:") and "'body'" in err and "'text'" in err
    assert fake_load == []  # the data is checked before any model loads


def test_cli_evaluate_usage_errors_exit_2(tmp_path, fake_load, capsys):
    assert (
        main(["evaluate", str(DATA / "eval_small.jsonl"), "--report", str(tmp_path), "--baseline", "tfidf"])
        == 2
    )
    assert "--train" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "evaluate",
                str(DATA / "eval_small.jsonl"),
                "--report",
                str(tmp_path),
                "--label-column",
                "nonsense",
            ]
        )
    assert exc.value.code == 2


def test_cli_report_writes_transparency_report(tmp_path, capsys):
    posts = tmp_path / "posts.jsonl"
    posts.write_text(
        json.dumps({"id": "2", "channel": "قناة الخلافة", "text": "جنود الخلافة"}, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "t"
    code = main(
        [
            "report",
            str(DATA / "scores_small.jsonl"),
            "--report",
            str(out),
            "--review-share",
            "0.5",
            "--examples",
            "8",
            "--posts",
            str(posts),
        ]
    )
    assert code == 0
    assert {p.name for p in out.iterdir()} == {
        "report.html",
        "report.md",
        "report.json",
        "per_day.png",
        "per_channel.png",
    }
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert data["totals"]["records"] == 32 and data["errors"]["unreadable_lines"] == 1
    assert data["provenance"]["posts"]["texts"] >= 1
    assert any(e["text"] == "جنود الخلافة" for e in data["examples"]["propaganda"])
    stdout = capsys.readouterr().out
    assert "32 records, 30 scored, 2 errors" in stdout and "peak day 2024-03-03" in stdout


def test_cli_report_errors(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope.jsonl"), "--report", str(tmp_path)]) == 1
    assert "no such file" in capsys.readouterr().err
    assert (
        main(["report", str(DATA / "scores_small.jsonl"), "--report", str(tmp_path), "--review-share", "2"])
        == 2
    )


def test_cli_evaluate_with_tiny_model_dir(tmp_path, tiny_model_dir, capsys):
    """The real Classifier end to end: scores, thresholds and config provenance reach the report."""
    out = tmp_path / "eval"
    code = main(
        [
            "evaluate",
            str(DATA / "eval_small.jsonl"),
            "--report",
            str(out),
            "--model",
            str(tiny_model_dir),
            "--device",
            "cpu",
            "--bootstrap",
            "10",
            "--group-column",
            "dialect",
        ]
    )
    assert code == 0, capsys.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["n_examples"] == 36 and metrics["metrics"]["violent_call"]["threshold"] == 0.5
    assert metrics["provenance"]["model_normaliser"]["version"] == "1"
    assert (out / "report.html").stat().st_size > 10_000
