"""Metrics against scikit-learn, threshold rules, bootstrap intervals, result round trips, labelled files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    precision_recall_curve,
    precision_recall_fscore_support,
    roc_auc_score,
)

from raqib.errors import ReaderError
from raqib.evaluation import (
    EvaluationResult,
    ThresholdChoice,
    evaluate,
    evaluate_classifier,
    find_thresholds,
)
from raqib.labelled import read_labelled
from raqib.results import PostScore

DATA = Path(__file__).parent / "data"
LABELS = ("violent_call", "propaganda")


def toy(n: int = 200, seed: int = 0) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    gold = {lb: rng.integers(0, 2, n) for lb in LABELS}
    probs = {lb: np.clip(0.35 * gold[lb] + rng.random(n) * 0.65, 0, 1).round(3) for lb in LABELS}
    return probs, gold


# ------------------------------------------------------------------------------------------ find_thresholds


def test_find_thresholds_max_f1_matches_exhaustive_search():
    probs, gold = toy()
    choices = find_thresholds(probs, gold)
    for lb in LABELS:
        c = choices[lb]
        assert isinstance(c, ThresholdChoice) and c.label == lb and c.rule == "max F1 on validation"
        # brute force over every distinct score: no threshold does better on F1
        best = max(
            precision_recall_fscore_support(
                gold[lb], (probs[lb] >= t).astype(int), average="binary", zero_division=0
            )[2]
            for t in np.unique(probs[lb])
        )
        assert c.f1 == pytest.approx(best, abs=1e-12)
        p, r, f, _ = precision_recall_fscore_support(
            gold[lb], (probs[lb] >= c.threshold).astype(int), average="binary", zero_division=0
        )
        assert (c.precision, c.recall, c.f1) == (p, r, f)
        assert all(isinstance(v, float) for v in (c.threshold, c.precision, c.recall, c.f1))


def test_find_thresholds_trials_follow_precision_recall_curve():
    probs, gold = toy()
    c = find_thresholds(probs, gold)["violent_call"]
    precision, recall, thresholds = precision_recall_curve(gold["violent_call"], probs["violent_call"])
    assert len(c.trials) == len(thresholds)
    assert [t["precision"] for t in c.trials] == pytest.approx(precision[:-1].tolist())
    assert [t["recall"] for t in c.trials] == pytest.approx(recall[:-1].tolist())
    assert set(c.trials[0]) == {"threshold", "precision", "recall", "f1"}
    # each trial threshold gives the same validation predictions as the curve's own threshold
    for trial, raw in zip(c.trials, thresholds, strict=True):
        same = (probs["violent_call"] >= trial["threshold"]) == (probs["violent_call"] >= raw)
        assert same.all() and trial["threshold"] <= raw


def test_find_thresholds_sits_between_scores():
    c = find_thresholds({"violent_call": [0.1, 0.4, 0.8]}, {"violent_call": [0, 1, 1]})["violent_call"]
    assert c.threshold == pytest.approx(0.25) and c.f1 == 1.0


def test_find_thresholds_min_precision_maximises_recall_under_the_floor():
    probs, gold = toy()
    c = find_thresholds(probs, gold, min_precision=0.9)["propaganda"]
    assert c.rule == "max recall with precision >= 0.9 on validation"
    assert c.precision >= 0.9
    admissible = [t for t in c.trials if t["precision"] >= 0.9]
    assert c.recall == pytest.approx(max(t["recall"] for t in admissible))


def test_find_thresholds_min_precision_per_label():
    """One floor per label: the one named gets max recall under its floor, the other max F1."""
    probs, gold = toy()
    per_label = find_thresholds(probs, gold, min_precision={"propaganda": 0.9})
    assert per_label["propaganda"] == find_thresholds(probs, gold, min_precision=0.9)["propaganda"]
    assert per_label["violent_call"] == find_thresholds(probs, gold)["violent_call"]
    with pytest.raises(ValueError, match="names 'violence'"):
        find_thresholds(probs, gold, min_precision={"violence": 0.9})


def test_find_thresholds_min_precision_falls_back_to_max_f1_and_says_so():
    probs = {"violent_call": [0.1, 0.2, 0.3, 0.6, 0.9]}
    gold = {"violent_call": [1, 0, 1, 0, 0]}
    c = find_thresholds(probs, gold, min_precision=0.99)["violent_call"]
    plain = find_thresholds(probs, gold)["violent_call"]
    assert "fallback" in c.rule and "0.99" in c.rule
    assert c.threshold == plain.threshold and c.f1 == plain.f1


def test_find_thresholds_one_class_gets_default_and_reason():
    c = find_thresholds({"violent_call": [0.2, 0.7]}, {"violent_call": [0, 0]})["violent_call"]
    assert c.threshold == 0.5 and "only negative" in c.rule and c.trials == []


def test_find_thresholds_rejects_bad_input():
    with pytest.raises(ValueError, match="0 or 1"):
        find_thresholds({"violent_call": [0.2, 0.7]}, {"violent_call": [0, 2]})
    with pytest.raises(ValueError, match="align"):
        find_thresholds({"violent_call": [0.2, 0.7]}, {"violent_call": [0]})
    with pytest.raises(ValueError, match="min_precision"):
        find_thresholds({"violent_call": [0.2]}, {"violent_call": [1]}, min_precision=1.5)


# ------------------------------------------------------------------------------------------------ evaluate


def test_evaluate_metrics_equal_sklearn_exactly():
    probs, gold = toy()
    thresholds = {"violent_call": 0.5, "propaganda": 0.42}
    r = evaluate(probs, gold, thresholds=thresholds, n_bootstrap=0)
    for lb in LABELS:
        m = r.metrics[lb]
        pred = (probs[lb] >= thresholds[lb]).astype(int)
        p, rc, f, _ = precision_recall_fscore_support(gold[lb], pred, average="binary", zero_division=0)
        assert (m.precision, m.recall, m.f1) == (p, rc, f)
        assert m.average_precision == average_precision_score(gold[lb], probs[lb])
        assert m.roc_auc == roc_auc_score(gold[lb], probs[lb])
        assert m.confusion == confusion_matrix(gold[lb], pred, labels=[0, 1]).tolist()
        assert m.support == int(gold[lb].sum()) and m.predicted_positive == int(pred.sum()) and m.n == 200
        frac, mean = calibration_curve(gold[lb], probs[lb], n_bins=10)
        used = [b for b in r.details[lb].calibration["bins"] if b["count"]]
        assert [b["fraction_positive"] for b in used] == frac.tolist()
        assert [b["mean_predicted"] for b in used] == mean.tolist()
        ece = sum(b["count"] / 200 * abs(b["fraction_positive"] - b["mean_predicted"]) for b in used)
        assert r.details[lb].calibration["ece"] == pytest.approx(ece)
        precision, recall, _ = precision_recall_curve(gold[lb], probs[lb])
        assert r.details[lb].pr_curve["precision"] == precision.tolist()
        assert r.details[lb].pr_curve["recall"] == recall.tolist()
        sweep = {row["threshold"]: row for row in r.details[lb].sweep}
        assert sorted(sweep) == [round(0.05 * k, 2) for k in range(1, 20)]
        p3, r3, f3, _ = precision_recall_fscore_support(
            gold[lb], (probs[lb] >= 0.3).astype(int), average="binary", zero_division=0
        )
        assert (sweep[0.3]["precision"], sweep[0.3]["recall"], sweep[0.3]["f1"]) == (p3, r3, f3)


def test_evaluate_auc_is_none_when_a_class_is_absent():
    r = evaluate(
        {"violent_call": [0.1, 0.8]},
        {"violent_call": [0, 0]},
        thresholds={"violent_call": 0.5},
        n_bootstrap=10,
    )
    m = r.metrics["violent_call"]
    assert m.roc_auc is None and m.average_precision is None
    assert m.precision == 0.0 and m.f1 == 0.0


def test_evaluate_hard_labels_have_no_curve_metrics():
    r = evaluate(
        {"violent_call": [0, 1, 1, 0]},
        {"violent_call": [0, 1, 0, 1]},
        thresholds={"violent_call": 0.5},
        n_bootstrap=0,
    )
    m = r.metrics["violent_call"]
    assert m.hard_labels and m.average_precision is None and m.roc_auc is None and m.f1 == 0.5


def test_evaluate_bootstrap_contains_estimate_and_is_seeded():
    probs, gold = toy(150, seed=1)
    kw = dict(thresholds={"violent_call": 0.5, "propaganda": 0.5}, n_bootstrap=80)
    a = evaluate(probs, gold, seed=7, **kw)
    b = evaluate(probs, gold, seed=7, **kw)
    c = evaluate(probs, gold, seed=8, **kw)
    for lb in LABELS:
        m = a.metrics[lb]
        assert set(m.ci) == {"precision", "recall", "f1", "average_precision"}
        lo, hi = m.ci["f1"]
        assert lo <= m.f1 <= hi and lo < hi
        lo, hi = m.ci["average_precision"]
        assert lo <= m.average_precision <= hi
        assert m.ci == b.metrics[lb].ci
        assert m.ci != c.metrics[lb].ci
    assert a.bootstrap == {"method": "percentile", "n": 80, "seed": 7, "confidence": 0.95}


def test_evaluate_examples_groups_and_texts():
    probs = {"violent_call": [0.9, 0.8, 0.1, 0.3, 0.6, 0.2]}
    gold = {"violent_call": [0, 0, 1, 1, 1, 0]}
    texts = [f"t{i}" for i in range(6)]
    r = evaluate(
        probs,
        gold,
        thresholds={"violent_call": 0.5},
        texts=texts,
        groups=list("aabbab"),
        ids=[f"id{i}" for i in range(6)],
        n_bootstrap=0,
    )
    d = r.details["violent_call"]
    assert [(e.id, e.text, e.probability) for e in d.false_positives] == [
        ("id0", "t0", 0.9),
        ("id1", "t1", 0.8),
    ]
    assert [e.id for e in d.false_negatives] == ["id2", "id3"]  # lowest score first
    assert [g["group"] for g in d.groups] == ["a", "b"]
    ga = d.groups[0]
    assert (ga["n"], ga["support"], ga["predicted_positive"]) == (3, 1, 3)
    assert any("fewer than 30" in n for n in r.notes)


def test_evaluate_rejects_misaligned_and_missing():
    with pytest.raises(ValueError, match="threshold"):
        evaluate({"violent_call": [0.1]}, {"violent_call": [0]}, thresholds={})
    with pytest.raises(ValueError, match="align"):
        evaluate(
            {"violent_call": [0.1]}, {"violent_call": [0]}, thresholds={"violent_call": 0.5}, texts=["a", "b"]
        )
    with pytest.raises(ValueError, match="gold"):
        evaluate({"violent_call": [0.1]}, {}, thresholds={"violent_call": 0.5})


def test_evaluation_result_json_round_trip_is_plain():
    probs, gold = toy(60)
    r = evaluate(
        probs,
        gold,
        thresholds={"violent_call": 0.5, "propaganda": 0.5},
        texts=[str(i) for i in range(60)],
        groups=["g"] * 60,
        n_bootstrap=20,
        name="m",
        provenance={"dataset_path": "x.jsonl"},
    )
    text = r.to_json()
    back = EvaluationResult.from_json(text)
    assert back == r
    assert json.loads(text)["metrics"]["violent_call"]["f1"] == r.metrics["violent_call"].f1

    def walk(v):
        if isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        else:
            assert v is None or type(v) in (str, int, float, bool), type(v)

    walk(r.to_dict())
    assert {"raqib_version", "created", "scikit_learn_version", "git_commit", "dataset_path"} <= set(
        r.provenance
    )


def test_evaluation_result_rejects_newer_format():
    probs, gold = toy(20)
    d = evaluate(probs, gold, thresholds={"violent_call": 0.5, "propaganda": 0.5}, n_bootstrap=0).to_dict()
    d["format_version"] = 99
    with pytest.raises(ValueError, match="newer"):
        EvaluationResult.from_dict(d)


def test_with_comparison_requires_same_gold():
    probs, gold = toy(40)
    th = {"violent_call": 0.5, "propaganda": 0.5}
    a = evaluate(probs, gold, thresholds=th, n_bootstrap=0, name="a")
    b = evaluate({lb: 1 - p for lb, p in probs.items()}, gold, thresholds=th, n_bootstrap=0, name="b")
    both = a.with_comparison(b, kind="baseline", description="flipped")
    assert [c.name for c in both.comparisons] == ["b"] and a.comparisons == []
    assert both.comparisons[0].metrics == b.metrics
    other_gold = {lb: 1 - g for lb, g in gold.items()}
    c = evaluate(probs, other_gold, thresholds=th, n_bootstrap=0, name="c")
    with pytest.raises(ValueError, match="different gold"):
        a.with_comparison(c, kind="baseline")


# ------------------------------------------------------------------------------------------------ classifier


class FakeClassifier:
    """What evaluate_classifier needs of a Classifier: name, labels, thresholds, score_batch."""

    name = "fake-model"
    labels = LABELS
    thresholds = {"violent_call": 0.5, "propaganda": 0.6}
    normaliser_version = None
    words = {
        "violent_call": ("اقتل", "احرقوا", "اذبحوا", "سكين", "script"),
        "propaganda": ("الخلافة", "باقية", "بايعنا", "جنود"),
    }

    def __init__(self) -> None:
        self.calls: list[int] = []

    def score_batch(self, texts, *, batch_size=32):
        assert not isinstance(texts, str)
        self.calls.append(batch_size)
        out = []
        for i, t in enumerate(texts):
            if t == "":
                out.append(
                    PostScore(
                        post_id=str(i),
                        probabilities={},
                        flagged=(),
                        thresholds=self.thresholds,
                        normaliser_version="1",
                        error="empty",
                    )
                )
                continue
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


def test_evaluate_classifier_with_fake_classifier():
    data = read_labelled(
        DATA / "eval_small.jsonl",
        group_column="dialect",
        prediction_columns={"llm": {"violent_call": "llm_violent_call", "propaganda": "llm_propaganda"}},
    )
    clf = FakeClassifier()
    r = evaluate_classifier(clf, data, batch_size=8, n_bootstrap=30)
    assert clf.calls == [8]
    assert r.name == "fake-model" and r.n_examples == len(data) == 36
    assert r.provenance["model"] == "fake-model"
    assert r.provenance["dataset_sha256"] == data.sha256 and r.provenance["dataset_path"].endswith(
        "eval_small.jsonl"
    )
    assert r.metrics["propaganda"].threshold == 0.6
    assert [c.name for c in r.comparisons] == ["llm"] and r.comparisons[0].metrics["violent_call"].hard_labels
    direct = evaluate(
        {lb: [s.probabilities[lb] for s in clf.score_batch(data.texts)] for lb in LABELS},
        data.gold,
        thresholds=clf.thresholds,
        n_bootstrap=0,
    )
    assert r.metrics["violent_call"].f1 == direct.metrics["violent_call"].f1
    assert {g["group"] for g in r.details["violent_call"].groups} == {"gulf", "levant", "msa", "egypt"}


def test_evaluate_classifier_counts_errors_as_not_flagged():
    data = read_labelled(DATA / "eval_small.jsonl")
    data.texts[0] = ""  # the fake returns an error result for it
    r = evaluate_classifier(FakeClassifier(), data, n_bootstrap=0)
    assert r.notes and "could not be scored" in r.notes[0] and "e00" in r.notes[0]


def test_evaluate_classifier_with_baseline_states_its_rule(tmp_path):
    train = tmp_path / "train.jsonl"
    rows = [json.loads(line) for line in (DATA / "eval_small.jsonl").read_text(encoding="utf-8").splitlines()]
    with train.open("w", encoding="utf-8") as fh:
        for k in range(3):
            for r in rows:
                fh.write(json.dumps({**r, "text": r["text"] + " " + "!" * k}, ensure_ascii=False) + "\n")
    data = read_labelled(DATA / "eval_small.jsonl")
    r = evaluate_classifier(FakeClassifier(), data, n_bootstrap=0, baseline_train=read_labelled(train))
    base = [c for c in r.comparisons if c.kind == "baseline"]
    assert len(base) == 1 and base[0].name == "tfidf-char-lr"
    assert "20%" in base[0].description and "max F1" in base[0].description
    assert "held out" in base[0].threshold_rules["violent_call"]
    assert r.provenance["baseline"]["n_threshold_validation"] == 22
    assert any("also appear in the baseline's training file" in n for n in r.notes)


# ------------------------------------------------------------------------------------------- labelled files


def write_rows(path: Path, rows: list[dict], sep: str | None = None) -> Path:
    if sep is None:
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    else:
        cols = list(rows[0])
        lines = [sep.join(cols)] + [sep.join(str(r[c]) for c in cols) for r in rows]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


ROWS = [
    {"post": "سوف اقتلك", "threat": "true", "propaganda": 0, "src": "x"},
    {"post": "صباح الخير", "threat": "false", "propaganda": 1, "src": "y"},
]


@pytest.mark.parametrize("kind", ["csv", "tsv", "jsonl", "dataset"])
def test_read_labelled_formats(tmp_path, kind):
    if kind == "csv":
        path = write_rows(tmp_path / "d.csv", ROWS, ",")
    elif kind == "tsv":
        path = write_rows(tmp_path / "d.tsv", ROWS, "\t")
    elif kind == "jsonl":
        path = write_rows(tmp_path / "d.jsonl", ROWS)
    else:
        from datasets import Dataset

        path = tmp_path / "ds"
        Dataset.from_list(ROWS).save_to_disk(str(path))
    data = read_labelled(
        path,
        text_column="post",
        label_columns={"violent_call": "threat", "propaganda": "propaganda"},
        group_column="src",
    )
    assert data.texts == ["سوف اقتلك", "صباح الخير"]
    assert data.gold["violent_call"].tolist() == [1, 0] and data.gold["propaganda"].tolist() == [0, 1]
    assert data.groups == ["x", "y"] and data.ids == ["0", "1"]
    assert len(data.sha256) == 64 and data.labels == LABELS


def test_read_labelled_missing_column_names_the_available_ones(tmp_path):
    path = write_rows(tmp_path / "d.jsonl", ROWS)
    with pytest.raises(ReaderError) as err:
        read_labelled(path, text_column="post")
    msg = str(err.value)
    assert "'violent_call'" in msg and "'post'" in msg and "'threat'" in msg and "--label-column" in msg


def test_read_labelled_rejects_non_binary_labels(tmp_path):
    path = write_rows(tmp_path / "d.jsonl", [{"text": "a", "violent_call": 2, "propaganda": 0}])
    with pytest.raises(ReaderError, match="0/1") as err:
        read_labelled(path)
    assert err.value.position == 1


def test_read_labelled_prediction_columns(tmp_path):
    rows = [
        {"text": "a", "violent_call": 1, "propaganda": 0, "llm": "true", "p": 0.25},
        {"text": "b", "violent_call": 0, "propaganda": 1, "llm": "false", "p": "0.75"},
    ]
    data = read_labelled(
        write_rows(tmp_path / "d.jsonl", rows),
        prediction_columns={"llm": {"violent_call": "llm"}, "p": {"propaganda": "p"}},
    )
    assert data.predictions["llm"]["violent_call"].tolist() == [1.0, 0.0]
    assert data.predictions["p"]["propaganda"].tolist() == [0.25, 0.75]
    bad = write_rows(tmp_path / "e.jsonl", [{**rows[0], "p": 3}])
    with pytest.raises(ReaderError, match="probability"):
        read_labelled(bad, prediction_columns={"p": {"propaganda": "p"}})


def test_read_labelled_eval_small_fixture():
    data = read_labelled(DATA / "eval_small.jsonl", group_column="dialect")
    assert len(data) == 36 and data.ids[0] == "e00"
    assert int(data.gold["violent_call"].sum()) == 11 and int(data.gold["propaganda"].sum()) == 9
    sub = data.subset([3, 1])
    assert sub.ids == ["e03", "e01"] and sub.groups == [data.groups[3], data.groups[1]]
