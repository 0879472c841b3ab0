"""Classifier behaviour on a tiny model built in the test: order, batching, streaming, errors, round trips."""

from __future__ import annotations

import asyncio
import json
import math
import time
from pathlib import Path

import pytest

from raqib import Post
from raqib.posts import BadRecord

TEXTS = [
    "سوف اقتلك يا @USER",
    "صباح الخير الطقس جميل اليوم",
    "الدولة الاسلامية باقية",
    "",
    "اعتقلت قوات الامن خلية تابعة لتنظيم داعش " * 8,
    "فاز الفريق",
]
TOL = 1e-5  # float32: padding and batch composition change results only by rounding


def probs(scores):
    return [[s.probabilities[lb] for lb in ("violent_call", "propaganda")] for s in scores]


def close(a, b, tol=TOL):
    return all(abs(x - y) <= tol for ra, rb in zip(a, b, strict=True) for x, y in zip(ra, rb, strict=True))


def test_classifier_score_batch_keeps_order_and_ids(tiny_classifier):
    posts = [Post(text=t, id=f"p{i}", channel="c") for i, t in enumerate(TEXTS)]
    out = tiny_classifier.score_batch(posts, batch_size=2)
    assert [s.post_id for s in out] == [f"p{i}" for i in range(len(TEXTS))]
    assert all(s.channel == "c" and s.ok for s in out)
    assert all(set(s.probabilities) == {"violent_call", "propaganda"} for s in out)


@pytest.mark.parametrize("batch_size", [1, 2, 3, 64])
def test_classifier_results_do_not_depend_on_batch_size(tiny_classifier, batch_size):
    one_by_one = [tiny_classifier.score(t) for t in TEXTS]
    batched = tiny_classifier.score_batch(TEXTS, batch_size=batch_size)
    assert close(probs(one_by_one), probs(batched))


def test_classifier_result_does_not_depend_on_neighbours(tiny_classifier):
    alone = tiny_classifier.score(TEXTS[0])
    mixed = tiny_classifier.score_batch(["فاز"] * 5 + [TEXTS[0]] + [TEXTS[4]] * 5, batch_size=16)[5]
    assert close(probs([alone]), probs([mixed]))


def test_classifier_score_equals_score_batch_equals_stream(tiny_classifier):
    a = probs([tiny_classifier.score(t) for t in TEXTS])
    b = probs(tiny_classifier.score_batch(TEXTS, batch_size=4))
    c = probs(list(tiny_classifier.stream(iter(TEXTS), batch_size=4)))
    assert close(a, b) and close(b, c)


def test_classifier_bad_inputs_get_error_results_in_place(tiny_classifier):
    items = ["فاز الفريق", None, 42, b"\xff\xfe", BadRecord(error="invalid JSON", position="line 3"),
             Post(text="سوف اقتلك", id="x"), b"\xd8\xb3\xd9\x88\xd9\x81"]
    out = list(tiny_classifier.stream(iter(items), batch_size=3))
    assert len(out) == len(items)
    assert [s.ok for s in out] == [True, False, False, False, False, True, True]
    assert "NoneType" in out[1].error and "int" in out[2].error and "undecodable" in out[3].error
    assert out[4].error == "line 3: invalid JSON"
    assert out[5].post_id == "x"
    assert out[1].probabilities == {} and out[1].flagged == ()
    batched = tiny_classifier.score_batch(items, batch_size=2)
    assert [s.error for s in batched] == [s.error for s in out]
    assert close(probs([s for s in out if s.ok]), probs([s for s in batched if s.ok]))


def test_classifier_score_rejects_non_text(tiny_classifier):
    with pytest.raises(TypeError, match="score_batch"):
        tiny_classifier.score(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="score\\(text\\)"):
        tiny_classifier.score_batch("one string")  # type: ignore[arg-type]


def test_classifier_stream_is_lazy(tiny_classifier):
    pulled = []

    def source():
        for i in range(1000):
            pulled.append(i)
            yield f"فاز الفريق {i}"

    stream = tiny_classifier.stream(source(), batch_size=4, max_wait_ms=1000)
    first = next(stream)
    assert first.ok
    time.sleep(0.05)
    assert len(pulled) <= 4 * 4, "stream read far ahead of its consumer"


def test_classifier_stream_does_not_hold_back_a_slow_trickle(tiny_classifier):
    def trickle():
        yield "فاز الفريق"
        time.sleep(2.0)
        yield "صباح الخير"

    started = time.monotonic()
    stream = tiny_classifier.stream(trickle(), batch_size=32, max_wait_ms=50)
    next(stream)
    assert time.monotonic() - started < 1.5, "the first post waited for the batch to fill"
    assert len(list(stream)) == 1


def test_classifier_stream_reraises_source_errors_after_earlier_results(tiny_classifier):
    def broken():
        yield "فاز الفريق"
        raise OSError("disk gone")

    stream = tiny_classifier.stream(broken(), batch_size=8, max_wait_ms=10)
    assert next(stream).ok
    with pytest.raises(OSError, match="disk gone"):
        list(stream)


def test_classifier_astream_matches_stream(tiny_classifier):
    async def source():
        for t in TEXTS:
            yield t

    async def collect():
        return [s async for s in tiny_classifier.astream(source(), batch_size=4)]

    got = asyncio.run(collect())
    assert close(probs(got), probs(tiny_classifier.score_batch(TEXTS)))


def test_classifier_long_posts_are_windowed_and_max_pooled(tiny_classifier):
    long_text = " ".join(["صباح الخير"] * 40 + ["سوف اقتلك"])
    out = tiny_classifier.score(long_text)
    assert out.n_windows > 1
    tail = tiny_classifier.score("صباح الخير سوف اقتلك")
    # the window that holds the threat decides the post: the max is at least that window's score
    assert out.probabilities["violent_call"] >= tail.probabilities["violent_call"] - 0.05


def test_classifier_threshold_override_per_call_and_validation(tiny_classifier):
    lo = tiny_classifier.score(TEXTS[0], thresholds={"violent_call": 0.0, "propaganda": 0.0})
    hi = tiny_classifier.score(TEXTS[0], thresholds={"violent_call": 1.0, "propaganda": 1.0})
    assert lo.flagged == ("violent_call", "propaganda")
    assert hi.flagged == () or all(lo.probabilities[lb] == 1.0 for lb in hi.flagged)
    with pytest.raises(ValueError, match="unknown label"):
        tiny_classifier.score(TEXTS[0], thresholds={"violence": 0.3})
    with pytest.raises(ValueError, match="within"):
        tiny_classifier.score(TEXTS[0], thresholds={"violent_call": 3})


def test_classifier_explain_maps_back_to_original_text(tiny_classifier):
    text = "سَوفَ اقتلك يا شباب"
    out = tiny_classifier.score(text, explain=True)
    for c in out.contributions:
        assert text[c.start : c.end] == c.text and c.weight > 0


def test_classifier_save_load_round_trip(tiny_classifier, tmp_path):
    from raqib.classifier import Classifier

    saved = tiny_classifier.save(tmp_path / "copy")
    loaded = Classifier.from_dir(saved, device="cpu", dtype="float32")
    assert loaded.config.thresholds == tiny_classifier.config.thresholds
    assert loaded.labels == tiny_classifier.labels
    assert close(probs(loaded.score_batch(TEXTS)), probs(tiny_classifier.score_batch(TEXTS)))
    cfg = json.loads((saved / "config.json").read_text())
    assert cfg["raqib"]["normaliser"]["version"] == "1"
    assert len(cfg["raqib"]["weights_sha256"]) == 64


def test_classifier_compact_lora_model_round_trip(tmp_path):
    """A compact model (LoRA factors + head over a base dir) loads to the same scores as the merged model."""
    import torch
    from transformers import AutoModelForSequenceClassification

    from conftest import build_tiny_encoder, make_tiny_classifier
    from raqib.classifier import Classifier
    from raqib.training import add_lora, compact_state, merge_lora

    base = build_tiny_encoder(tmp_path / "base", seed=1)
    clf = make_tiny_classifier(base)
    model = AutoModelForSequenceClassification.from_pretrained(base)
    wrapped = add_lora(model, r=4, alpha=8, dropout=0.0)
    torch.manual_seed(3)
    with torch.no_grad():
        for name in wrapped:
            model.get_submodule(name).lora_B.normal_(0, 0.2)
        model.classifier.weight.normal_(0, 1.0)
    model.eval()
    state = compact_state(model, wrapped)
    merge_lora(model, wrapped)
    clf.model = model
    clf.config.base = {"name": str(base), "sha256": ""}
    clf.config.adapter = {"type": "lora", "r": 4, "alpha": 8, "targets": []}
    clf.hf_config = model.config.to_dict()
    clf._compact_state = state
    saved = clf.save(tmp_path / "compact")
    assert not (saved / "tokenizer.json").exists()  # the base's tokenizer is used
    loaded = Classifier.from_dir(saved, device="cpu", dtype="float32")
    assert close(probs(loaded.score_batch(TEXTS)), probs(clf.score_batch(TEXTS)), tol=1e-4)


def test_classifier_calibration_is_applied(tiny_classifier):
    from raqib.model_dir import Calibration

    raw = tiny_classifier.score(TEXTS[0]).probabilities["violent_call"]
    z = math.log(raw / (1 - raw))
    tiny_classifier.config.calibration["violent_call"] = Calibration(scale=2.0, bias=-1.0)
    cal = tiny_classifier.score(TEXTS[0]).probabilities["violent_call"]
    assert cal == pytest.approx(1 / (1 + math.exp(-(2 * z - 1))), abs=1e-6)


def test_classifier_bf16_agrees_with_float32(tiny_model_dir: Path):
    from raqib.classifier import Classifier

    f32 = Classifier.from_dir(tiny_model_dir, device="cpu", dtype="float32")
    b16 = Classifier.from_dir(tiny_model_dir, device="cpu", dtype="bfloat16")
    assert close(probs(f32.score_batch(TEXTS)), probs(b16.score_batch(TEXTS)), tol=0.05)


def test_classifier_failed_batch_yields_error_records_and_goes_on(tiny_classifier, monkeypatch):
    """A forward pass that raises costs only the posts of that batch, each reported in place."""
    poison = tiny_classifier.tokenizer.convert_tokens_to_ids("داعش")
    forward = tiny_classifier.model.forward

    def flaky(input_ids=None, attention_mask=None, **kw):
        if (input_ids == poison).any():
            raise RuntimeError("simulated device failure")
        return forward(input_ids=input_ids, attention_mask=attention_mask, **kw)

    monkeypatch.setattr(tiny_classifier.model, "forward", flaky)
    items = [Post(text="فاز الفريق", id="a"), Post(text="جنود داعش", id="b", channel="c"), Post(text="صباح الخير", id="d")]
    out = list(tiny_classifier.stream(iter(items), batch_size=1))
    assert [s.post_id for s in out] == ["a", "b", "d"]
    assert [s.ok for s in out] == [True, False, True]
    assert "simulated device failure" in out[1].error and out[1].channel == "c"


def _count_forward_rows(clf, monkeypatch) -> list[int]:
    """The number of rows of every forward pass the classifier's model makes from now on."""
    rows: list[int] = []
    forward = clf.model.forward

    def counting(*args, **kw):
        rows.append(kw["input_ids"].shape[0])
        return forward(*args, **kw)

    monkeypatch.setattr(clf.model, "forward", counting)
    return rows


def test_classifier_duplicate_posts_are_scored_once(tiny_model_dir, monkeypatch):
    from raqib.classifier import Classifier

    clf = Classifier.from_dir(tiny_model_dir, device="cpu", dtype="float32", cache_size=100)
    calls = _count_forward_rows(clf, monkeypatch)
    # the same post three times, once with other diacritics and spacing: one normalised text
    texts = ["سوف اقتلك يا شباب", "سَوفَ   اقتلك يا شباب", "فاز الفريق", "سوف اقتلك يا شباب"]
    first = clf.score_batch(texts, batch_size=8)
    assert sum(calls) == 2
    assert first[0].probabilities == first[1].probabilities == first[3].probabilities
    again = clf.score_batch(texts, batch_size=8)
    assert sum(calls) == 2, "a second run over the same posts must come from the cache"
    assert [r.probabilities for r in again] == [r.probabilities for r in first]
    info = clf.cache_info()
    assert info["hits"] == 6 and info["misses"] == 2 and info["size"] == 2
    # thresholds apply after the cache
    assert clf.score(texts[0], thresholds={"violent_call": 0.0}).flagged[0] == "violent_call"


def test_classifier_cache_size_zero_computes_every_post(tiny_model_dir, monkeypatch):
    """cache_size=0 turns duplicate-aware scoring off entirely: repeats in one call are computed too."""
    from raqib.classifier import Classifier

    clf = Classifier.from_dir(tiny_model_dir, device="cpu", dtype="float32", cache_size=0)
    rows = _count_forward_rows(clf, monkeypatch)
    out = clf.score_batch(["سوف اقتلك يا شباب"] * 3 + ["فاز الفريق"], batch_size=8)
    assert sum(rows) == 4 and clf.cache_info()["hits"] == 0
    assert out[0].probabilities == pytest.approx(out[2].probabilities, abs=1e-6)


def test_classifier_cache_is_bounded():
    from raqib.classifier import ScoreCache

    cache = ScoreCache(2)
    for i in range(5):
        cache.put(ScoreCache.key(str(i)), ([float(i)], 1))
    assert len(cache.data) == 2 and cache.get(ScoreCache.key("4")) == ([4.0], 1)
    assert cache.get(ScoreCache.key("0")) is None


def test_classifier_long_post_sentences_are_scored_on_their_own(tiny_classifier):
    """A call at the end of a long post is scored as its own sentence: the post scores at least as high."""
    filler = "\n".join(["صباح الخير الطقس جميل اليوم."] * 30)
    threat = "سوف اقتلك يا شباب"
    post = tiny_classifier.score(filler + "\n" + threat)
    alone = tiny_classifier.score(threat)
    assert post.n_windows > 30
    for label in ("violent_call", "propaganda"):
        assert post.probabilities[label] >= alone.probabilities[label] - TOL
    short = tiny_classifier.score("صباح الخير.\nسوف اقتلك")
    assert short.n_windows == 1, "short posts are scored whole, not by sentence"


def test_cli_score_reports_duplicates_scored_once(tiny_model_dir, tmp_path, capsys):
    from raqib.cli import main

    src = tmp_path / "posts.jsonl"
    lines = [{"id": str(i), "text": "سوف اقتلك يا شباب" if i % 2 else "فاز الفريق"} for i in range(10)]
    src.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n", encoding="utf-8")
    out = tmp_path / "scores.jsonl"
    assert main(["score", str(src), "-o", str(out), "--model", str(tiny_model_dir), "--no-progress"]) == 0
    assert len(out.read_text(encoding="utf-8").splitlines()) == 10
    assert "duplicates scored once: 8 of 10 posts (80.0% cache hits)" in capsys.readouterr().err


def test_classifier_dtype_can_be_forced_and_unknown_ones_are_refused(tiny_model_dir: Path):
    import torch

    from raqib.classifier import Classifier

    assert next(Classifier.from_dir(tiny_model_dir, device="cpu", dtype="bfloat16").model.parameters()).dtype \
        == torch.bfloat16
    with pytest.raises(ValueError, match="unknown dtype 'int8'"):
        Classifier.from_dir(tiny_model_dir, device="cpu", dtype="int8")  # type: ignore[arg-type]


def test_cpu_threads_follow_the_process_affinity(monkeypatch: pytest.MonkeyPatch):
    import os

    from raqib.devices import cpu_threads

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 3, 5}, raising=False)
    assert cpu_threads() == 3
