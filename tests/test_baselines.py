"""The TF-IDF baseline: learns a separable toy set, keeps label order, never pickles."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from raqib.baselines import TfidfBaseline

VIOLENT = [
    "سوف اقتلك",
    "اقتلوهم يا شباب",
    "احرقوا بيوتهم",
    "اذبحوا الكفار",
    "سوف اقتلكم جميعا",
    "اقتلوا الخونة",
]
PROPAGANDA = [
    "الدولة الاسلامية باقية",
    "الخلافة باقية وتتمدد",
    "بايعنا امير المؤمنين",
    "جنود الخلافة",
    "الدولة باقية",
    "بايعوا الخليفة",
]
NEUTRAL = [
    "صباح الخير",
    "الطقس جميل اليوم",
    "فاز الفريق في المباراة",
    "الحمد لله",
    "مساء النور",
    "المباراة اليوم",
]


def toy() -> tuple[list[str], np.ndarray]:
    texts = VIOLENT + PROPAGANDA + NEUTRAL
    y = np.array([[1, 0]] * len(VIOLENT) + [[0, 1]] * len(PROPAGANDA) + [[0, 0]] * len(NEUTRAL))
    return texts, y


def test_baseline_learns_a_separable_toy_set():
    texts, y = toy()
    model = TfidfBaseline(["violent_call", "propaganda"], normaliser_version=None).fit(texts, y)
    probs = model.predict_proba(texts)
    assert probs.shape == (len(texts), 2) and probs.dtype == float
    assert ((probs >= 0.5).astype(int) == y).all()
    new = model.predict_proba(["سوف اقتلهم", "الخلافة باقية", "صباح الخير يا جماعة"])
    assert new[0, 0] > new[2, 0] and new[1, 1] > new[2, 1]
    assert model.predict_proba([]).shape == (0, 2)


def test_baseline_is_deterministic():
    texts, y = toy()
    a = TfidfBaseline(["violent_call", "propaganda"], normaliser_version=None, seed=3).fit(texts, y)
    b = TfidfBaseline(["violent_call", "propaganda"], normaliser_version=None, seed=3).fit(texts, y)
    assert np.array_equal(a.predict_proba(texts), b.predict_proba(texts))


def test_baseline_one_class_label_predicts_its_prior():
    texts, y = toy()
    y[:, 1] = 0
    probs = (
        TfidfBaseline(["violent_call", "propaganda"], normaliser_version=None)
        .fit(texts, y)
        .predict_proba(texts)
    )
    assert (probs[:, 1] == 0.0).all()


def test_baseline_rejects_bad_shapes_and_single_strings():
    texts, y = toy()
    model = TfidfBaseline(["violent_call", "propaganda"], normaliser_version=None)
    with pytest.raises(ValueError, match="shape"):
        model.fit(texts, y[:, :1])
    with pytest.raises(RuntimeError, match="before fit"):
        model.predict_proba(texts)
    model.fit(texts, y)
    with pytest.raises(TypeError, match="sequence"):
        model.predict_proba("سوف اقتلك")


def test_baseline_is_never_pickled():
    texts, y = toy()
    model = TfidfBaseline(["violent_call", "propaganda"], normaliser_version=None).fit(texts, y)
    with pytest.raises(TypeError, match="never pickled"):
        pickle.dumps(model)


def test_baseline_uses_the_normaliser_when_asked():
    pytest.importorskip("raqib.normalise")
    texts, y = toy()
    model = TfidfBaseline(["violent_call", "propaganda"], normaliser_version="1").fit(texts, y)
    assert model.predict_proba(texts).shape == (len(texts), 2)
    assert model.describe()["normaliser_version"] == "1"
