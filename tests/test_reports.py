"""Evaluation and transparency reports: sections present, self-contained HTML, hostile text inert."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from raqib.evaluation import EvaluationResult, evaluate
from raqib.reports import html_text, md_text, write_evaluation_report
from raqib.transparency import read_scores, transparency_report, write_transparency_report

DATA = Path(__file__).parent / "data"
LABELS = ("violent_call", "propaganda")

HOSTILE = (
    "<script>alert('x')</script> <img src=x onerror=alert(2)> [click](javascript:alert(3)) "
    '<a href="javascript:alert(4)">link</a> https://evil.example/x www.evil.example a@b.example '
    "\u202eاقتلوهم\u202c \u2067عزل\u2069 `code` **bold** | pipe"
)


def result_with(texts: list[str], groups: list[str] | None = None) -> EvaluationResult:
    n = len(texts)
    rng = np.random.default_rng(0)
    gold = {lb: np.array([0, 1] * (n // 2) + [0] * (n % 2)) for lb in LABELS}
    probs = {lb: np.clip(0.3 * gold[lb] + rng.random(n) * 0.7, 0, 1) for lb in LABELS}
    probs["violent_call"][0] = (
        0.99  # a negative with the top score: the hostile text is the first false positive
    )
    r = evaluate(
        probs,
        gold,
        thresholds={"violent_call": 0.5, "propaganda": 0.5},
        texts=texts,
        groups=groups,
        ids=[f"id{i}" for i in range(n)],
        n_bootstrap=20,
        name="tiny <model>",
        provenance={"dataset_path": "data/\u202eevil<b>.jsonl"},
    )
    other = evaluate(
        {lb: (p > 0.6).astype(float) for lb, p in probs.items()},
        gold,
        thresholds={"violent_call": 0.5, "propaganda": 0.5},
        n_bootstrap=20,
        name="llm",
    )
    return r.with_comparison(other, kind="predictions", description="shipped labels")


def assert_inert_html(doc: str) -> None:
    lowered = doc.lower()
    assert "<script" not in lowered and "<img src=x" not in lowered
    tags = re.findall(r"<[a-z][^<>]*>", lowered)  # every real tag in the page
    assert not any(re.search(r"\bon[a-z]+\s*=|href\s*=|javascript:", t) for t in tags)
    assert not any(
        t.startswith(("<a ", "<a>", "<img src=x", "<iframe", "<object", "<embed", "<link")) for t in tags
    )
    assert "&lt;img src=x onerror=alert(2)&gt;" in doc and "javascript:alert(3)" in doc  # shown, as text
    assert "\u202e" not in doc and "\u202c" not in doc and "\u2067" not in doc and "\u2069" not in doc
    assert "&lt;script&gt;" in doc and "[U+202E]" in doc
    # nothing remote, nothing executable
    assert re.search(r"(src|href)\s*=\s*[\"']?(https?:|//|javascript:)", lowered) is None
    assert "script-src" not in lowered and "default-src 'none'" in doc


def test_html_text_escapes_and_marks_controls():
    out = html_text('<b a="1">x</b>\u202e\x00y')
    assert out.startswith("&lt;b a=&quot;1&quot;&gt;x&lt;/b&gt;")
    assert "[U+202E]" in out and "[U+0000]" in out and "\u202e" not in out and "\x00" not in out


def test_md_text_is_inert():
    out = md_text(HOSTILE)
    assert "<" not in out and ">" not in out.replace("&gt;", "")
    assert "https://" not in out and "www.evil" not in out and "a@b" not in out
    assert "\\[click\\]" in out and "\\|" in out and "\\`" in out and "\\*\\*" in out
    assert "\u202e" not in out and "\\[U+202E\\]" in out
    assert "\n" not in md_text("line one\nline two")
    assert (
        md_text("1. x") == "1\\. x"
        and md_text("# x") == "\\# x"
        and md_text("violent_call") == "violent_call"
    )


def test_evaluation_report_sections_and_files(tmp_path):
    texts = [HOSTILE] + [f"نص رقم {i}" for i in range(1, 40)]
    groups = ["a", "b"] * 20
    files = write_evaluation_report(result_with(texts, groups), tmp_path / "out")
    assert (
        files.html.name == "report.html"
        and files.markdown.name == "report.md"
        and files.json.name == "metrics.json"
    )
    doc = files.html.read_text(encoding="utf-8")
    assert doc.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in doc and 'lang="en"' in doc
    assert doc.index('id="provenance"') < doc.index('id="summary"') < doc.index('id="label-violent_call"')
    for label in LABELS:
        for part in (
            "metrics",
            "confusion",
            "pr-curve",
            "sweep",
            "calibration",
            "false-positives",
            "false-negatives",
            "groups",
        ):
            assert f'id="{label}-{part}"' in doc
    assert doc.count("data:image/png;base64,") == 4  # PR curve + reliability per label, embedded
    assert 'id="metrics-table"' in doc and "llm" in doc and "F1 (95% CI)" in doc
    assert 'dir="auto"' in doc and "<bdi" in doc
    assert_inert_html(doc)

    md = files.markdown.read_text(encoding="utf-8")
    assert md.splitlines()[0] == "# Evaluation report: tiny &lt;model&gt;"
    for heading in (
        "## Provenance",
        "## Summary",
        "### Precision-recall curve",
        "### Threshold sweep",
        "### Calibration",
        "### Highest-scoring false positives",
        "### Lowest-scoring false negatives",
        "### Per group",
    ):
        assert heading in md
    assert "<script" not in md and "\u202e" not in md and re.search(r"(?<!\\)\]\(javascript", md) is None
    assert "| 0.5 |" in md or "| 0.500 |" in md  # numbers stay readable
    for label in LABELS:
        assert f"]({label}_pr_curve.png)" in md and (tmp_path / "out" / f"{label}_reliability.png").is_file()

    metrics = json.loads(files.json.read_text(encoding="utf-8"))
    assert {
        "name",
        "labels",
        "n_examples",
        "metrics",
        "details",
        "provenance",
        "comparisons",
        "bootstrap",
        "threshold_rules",
        "gold_sha256",
        "format_version",
    } <= set(metrics)
    assert set(metrics["metrics"]["violent_call"]) >= {
        "precision",
        "recall",
        "f1",
        "average_precision",
        "roc_auc",
        "confusion",
        "ci",
        "threshold",
        "support",
    }
    assert EvaluationResult.from_dict(metrics).metrics == result_with(texts, groups).metrics


def test_evaluation_report_is_self_contained(tmp_path):
    files = write_evaluation_report(result_with(["نص"] * 10), tmp_path)
    doc = files.html.read_text(encoding="utf-8")
    assert re.search(r"<(script|link|iframe|object|embed)\b", doc) is None
    assert re.findall(r"src=\"([^\"]+)\"", doc) and all(
        s.startswith("data:image/png;base64,") for s in re.findall(r"src=\"([^\"]+)\"", doc)
    )
    assert "url(" not in doc and "@import" not in doc


@pytest.fixture(scope="module")
def transparency(tmp_path_factory):
    records, read = read_scores([DATA / "scores_small.jsonl"])
    texts = {("قناة الخلافة", "2"): "جنود الخلافة", (None, "300"): HOSTILE}
    result = transparency_report(
        records,
        review_share=0.5,
        examples=3,
        texts=texts,
        provenance={"inputs": read["inputs"]},
        unreadable_lines=read["unreadable_lines"],
    )
    files = write_transparency_report(result, tmp_path_factory.mktemp("transparency"))
    return result, files, read


def test_transparency_counts(transparency):
    result, _, read = transparency
    t = result.totals
    assert read["unreadable_lines"] == 1 and read["inputs"][0]["records"] == 32
    assert (t["records"], t["scored"], t["errors"]) == (32, 30, 2)
    assert t["flagged_any"] == 14 and t["flagged"] == {"violent_call": 11, "propaganda": 8}
    assert t["share_any"] == pytest.approx(14 / 30)
    by = {c["channel"]: c for c in result.channels}
    assert (
        by["news_daily"]["scored"] == 13
        and by["news_daily"]["errors"] == 1
        and by["news_daily"]["flagged_any"] == 1
    )
    assert by["(no channel)"]["scored"] == 1
    assert result.review_candidates == ["(no channel)", "قناة الخلافة", "<script>alert(1)</script>\u202eevil"]
    assert result.peak_day["day"] == "2024-03-03" and result.peak_day["flagged_any"] == 6
    assert [d["day"] for d in result.days] == [
        "2024-03-01",
        "2024-03-02",
        "2024-03-03",
        "2024-03-04",
        "(no date)",
    ]
    assert sum(d["scored"] for d in result.days) == 30
    assert len(result.examples["violent_call"]) == 3
    top = result.examples["violent_call"][0]
    assert top["probability"] == 0.9 and top["id"] == "300" and top["text"] == HOSTILE
    assert result.errors["count"] == 2 and result.errors["by_message"] == [
        {"message": "invalid JSON: Expecting value", "count": 2}
    ]
    assert result.thresholds == {"violent_call": [0.6], "propaganda": [0.55]}


def test_transparency_report_files_and_escaping(transparency):
    _, files, _ = transparency
    doc = files.html.read_text(encoding="utf-8")
    for anchor in ("provenance", "summary", "review", "per-channel", "per-day", "examples", "errors"):
        assert f'id="{anchor}"' in doc
    assert doc.count("data:image/png;base64,") == 2
    assert_inert_html(doc)
    assert "قناة الخلافة" in doc
    md = files.markdown.read_text(encoding="utf-8")
    assert "## Channels for review" in md and "## Per day" in md and "](per_day.png)" in md
    assert "<script" not in md and "\u202e" not in md
    data = json.loads(files.json.read_text(encoding="utf-8"))
    assert {
        "labels",
        "totals",
        "channels",
        "days",
        "peak_day",
        "review_candidates",
        "examples",
        "errors",
        "provenance",
    } <= set(data)
    assert data["provenance"]["inputs"][0]["sha256"]


def test_transparency_rejects_non_score_files(tmp_path):
    from raqib.errors import ReaderError

    bad = tmp_path / "x.jsonl"
    bad.write_text('{"text": "not a score"}\n', encoding="utf-8")
    with pytest.raises(ReaderError, match="raqib score"):
        read_scores([bad])
    with pytest.raises(ReaderError, match="no such file"):
        read_scores([tmp_path / "missing.jsonl"])


def test_render_summary_markdown_for_model_cards():
    from raqib.reports import render_summary_markdown

    md = render_summary_markdown(result_with(["نص"] * 10), level=3)
    assert md.startswith("### Summary\n") and "| system | label | threshold |" in md
    assert "tiny &lt;model&gt; (model)" in md and "llm (predictions)" in md and "<model>" not in md
    assert "Per group" not in md
    groups = ["src <b>"] * 5 + ["\u202eother"] * 5
    md = render_summary_markdown(result_with(["نص"] * 10, groups), level=3, groups=True)
    assert md.count("#### Per group: ") == 2 and "| src &lt;b&gt; | 5 |" in md and "\u202e" not in md


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
RUNS_JS = (  # each sets a marker attribute on <html> if the browser runs it; the name is split so text cannot match
    "<script>document.documentElement.setAttribute('data-ran' + '-js', 'script')</script>"
    "<img src=x onerror=\"document.documentElement.setAttribute('data-ran' + '-js', 'img')\">"
    "<svg onload=\"document.documentElement.setAttribute('data-ran' + '-js', 'svg')\"></svg>"
    "<a href=\"javascript:document.documentElement.setAttribute('data-ran' + '-js', 'link')\">x</a>"
)


def _dom_after_scripts(page: Path, profile: Path) -> str:
    """The page's DOM after headless Chromium has loaded it and run whatever it would run."""
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
         "--virtual-time-budget=3000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": str(profile)},
    )
    assert "</html>" in done.stdout, done.stderr[-2000:]
    return done.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (apt-get install chromium); "
                    "evaluation/render_check.sh is the visual check")
def test_reports_run_no_script_in_a_real_browser(tmp_path):
    control = tmp_path / "control.html"
    control.write_text(f"<!doctype html><html><body>{RUNS_JS}</body></html>", encoding="utf-8")
    assert "data-ran-js=" in _dom_after_scripts(control, tmp_path / "p0")  # the probe sees a script that runs
    hostile = HOSTILE + " " + RUNS_JS
    evaluation = write_evaluation_report(result_with([hostile] + [f"نص رقم {i}" for i in range(1, 20)]),
                                         tmp_path / "eval")
    records, read = read_scores([DATA / "scores_small.jsonl"])
    result = transparency_report(records, review_share=0.5, examples=3, texts={(None, "300"): hostile},
                                 provenance={"inputs": read["inputs"]})
    channel = write_transparency_report(result, tmp_path / "channel")
    for n, page in enumerate((evaluation.html, channel.html), start=1):
        dom = _dom_after_scripts(page, tmp_path / f"p{n}")
        assert "data-ran-js=" not in dom, page
        assert "document.documentElement.setAttribute" in dom  # the payload is on the page, as text
