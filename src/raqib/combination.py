"""A calibrated linear combination of scorers: the transformer's logits beside the TF-IDF baseline's.

The transformer and the character n-gram baseline fail on different posts (the transformer on spelling it
never saw, the baseline on paraphrase), so a logistic regression over both logits may beat each alone. Both
were trained on the train split, where their scores are overfit; the combiner is therefore fitted on the
validation split only, and its thresholds are chosen on cross-fitted (k-fold) predictions of that same split,
so no threshold is chosen on a prediction the combiner has already seen the answer to. Labels a row's
annotators never judged (``SourceSpec.unannotated``) are left out of both, as in `raqib.training`.

Nothing here is saved: the combiner is refitted in seconds from the validation scores, and never pickled.

Example:
    >>> combo = fit_combination([transformer, tfidf], texts, gold, known)   # doctest: +SKIP
    >>> results = run_suite(combo, suite)                                     # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from raqib.challenge import Scorer
    from raqib.evaluation import ThresholdChoice

log = logging.getLogger(__name__)

LOGIT_EPS = 1e-9
"""Probabilities are clipped to [eps, 1 - eps] before the logit, so a saturated score stays finite."""
Floor = float | Mapping[str, float | None] | None
"""A precision floor for `find_thresholds`: one for all labels, one per label, or None (max F1)."""


def logit(p: Any) -> np.ndarray:
    """The log-odds of probabilities, clipped (`LOGIT_EPS`) so 0 and 1 stay finite."""
    q = np.clip(np.asarray(p, dtype=float), LOGIT_EPS, 1 - LOGIT_EPS)
    return np.log(q) - np.log1p(-q)


def stack_features(
    component_probs: Sequence[Mapping[str, Sequence[float]]], labels: Sequence[str]
) -> tuple[np.ndarray, list[str]]:
    """The combiner's inputs: the logit of every component's probability for every label, and their names.

    Columns are component-major: ``c0:violent_call, c0:propaganda, c1:violent_call, ...``. A component's
    calibrated probability is an affine map of its raw logit (Platt scaling), so its logit carries the same
    information to a linear model.
    """
    if not component_probs:
        raise ValueError("a combination needs at least one component")
    columns, names = [], []
    n = None
    for c, probs in enumerate(component_probs):
        for label in labels:
            if label not in probs:
                raise ValueError(f"component {c} has no {label!r} probabilities (it has {list(probs)})")
            col = logit(probs[label])
            if n is not None and len(col) != n:
                raise ValueError(f"component {c} scored {len(col)} texts, the first one {n}; they must align")
            n = len(col)
            columns.append(col)
            names.append(f"c{c}:{label}")
    return np.column_stack(columns), names


def masked_thresholds(
    probabilities: Mapping[str, Sequence[float]],
    gold: Mapping[str, Sequence[int]],
    known: Mapping[str, Sequence[bool]] | None = None,
    *,
    min_precision: Floor = None,
) -> dict[str, ThresholdChoice]:
    """`find_thresholds` on the annotated rows of each label only (``known``: per label, True where judged).

    ``min_precision`` is one floor for every label, or one per label (a label it does not name gets max F1),
    because the issue's bars differ: recall bars for violent_call, false-positive bars for propaganda.
    """
    from raqib.evaluation import find_thresholds

    choices = {}
    for label, scores in probabilities.items():
        keep = _known(known, label, len(scores))
        floor = min_precision.get(label) if isinstance(min_precision, Mapping) else min_precision
        choice = find_thresholds({label: np.asarray(scores, dtype=float)[keep]},
                                 {label: np.asarray(gold[label])[keep]}, min_precision=floor)
        choices[label] = choice[label]
    return choices


def _known(known: Mapping[str, Sequence[bool]] | None, label: str, n: int) -> np.ndarray:
    if known is None or label not in known:
        return np.ones(n, dtype=bool)
    mask = np.asarray(known[label], dtype=bool)
    if mask.shape != (n,):
        raise ValueError(f"label {label!r}: mask has shape {mask.shape}, expected ({n},)")
    return mask


@dataclass
class LinearCombiner:
    """One L2-regularised logistic regression per label over standardised component logits.

    An unweighted logistic regression is fitted by maximum likelihood, so its probabilities are calibrated
    on the set it is fitted on (here: validation), which is what the thresholds and the suite's rates need.
    """

    labels: tuple[str, ...]
    C: float = 1.0
    folds: int = 5
    seed: int = 0
    min_precision: Floor = None
    feature_names: list[str] = field(default_factory=list)
    thresholds: dict[str, float] = field(default_factory=dict)
    choices: dict[str, ThresholdChoice] = field(default_factory=dict)
    cross_fitted: dict[str, np.ndarray] = field(default_factory=dict)
    """Per label, the out-of-fold probability of every fitting row (NaN where the label is unannotated)."""
    _models: dict[str, Any] = field(default_factory=dict, repr=False)

    def _model(self) -> Any:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(StandardScaler(), LogisticRegression(C=self.C, max_iter=1000))

    def fit(
        self,
        X: np.ndarray,
        gold: Mapping[str, Sequence[int]],
        known: Mapping[str, Sequence[bool]] | None = None,
        *,
        feature_names: Sequence[str] | None = None,
    ) -> LinearCombiner:
        """Fit on all annotated rows; choose thresholds on out-of-fold predictions of the same rows."""
        from sklearn.model_selection import StratifiedKFold

        X = np.asarray(X, dtype=float)
        self.feature_names = list(feature_names) if feature_names is not None else \
            [f"x{j}" for j in range(X.shape[1])]
        oof_probs: dict[str, np.ndarray] = {}
        oof_gold: dict[str, np.ndarray] = {}
        for label in self.labels:
            keep = _known(known, label, len(X))
            x, y = X[keep], np.asarray(gold[label], dtype=int)[keep]
            counts = np.bincount(y, minlength=2)
            k = min(self.folds, int(counts.min()))
            if k < 2:
                raise ValueError(f"label {label!r}: {counts[1]} positives and {counts[0]} negatives among "
                                 f"the annotated rows; cross-fitting needs at least 2 of each")
            if k < self.folds:
                log.warning("label %r: %d-fold cross-fitting (too few of one class for %d)", label, k,
                            self.folds)
            oof = np.zeros(len(y))
            for fit_idx, held_idx in StratifiedKFold(k, shuffle=True, random_state=self.seed).split(x, y):
                oof[held_idx] = self._model().fit(x[fit_idx], y[fit_idx]).predict_proba(x[held_idx])[:, 1]
            self._models[label] = self._model().fit(x, y)
            full = np.full(len(X), np.nan)
            full[keep] = oof
            self.cross_fitted[label] = full
            oof_probs[label], oof_gold[label] = oof, y
        self.choices = masked_thresholds(oof_probs, oof_gold, min_precision=self.min_precision)
        self.thresholds = {lb: float(c.threshold) for lb, c in self.choices.items()}
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Probability per label, shape ``(n, n_labels)``, columns in label order."""
        if not self._models:
            raise RuntimeError("LinearCombiner.predict_proba() called before fit()")
        X = np.asarray(X, dtype=float)
        out = np.zeros((len(X), len(self.labels)))
        if len(X):
            for k, label in enumerate(self.labels):
                out[:, k] = self._models[label].predict_proba(X)[:, 1]
        return out

    def coefficients(self) -> dict[str, dict[str, float]]:
        """Per label, the weight of each input logit in its own units (unstandardised), and the intercept."""
        out = {}
        for label, pipe in self._models.items():
            scaler, lr = pipe[0], pipe[-1]
            w = lr.coef_[0] / scaler.scale_
            out[label] = {**{n: float(v) for n, v in zip(self.feature_names, w, strict=True)},
                          "intercept": float(lr.intercept_[0] - (w * scaler.mean_).sum())}
        return out

    def describe(self) -> dict[str, Any]:
        """What the combiner is and how its thresholds were chosen, for a report's provenance."""
        return {
            "model": f"StandardScaler + LogisticRegression(C={self.C}), one per label, unweighted",
            "features": self.feature_names,
            "coefficients": self.coefficients(),
            "threshold_rule": f"{self.folds}-fold cross-fitted predictions (seed {self.seed}); "
            + "; ".join(f"{lb}: {c.rule}" for lb, c in self.choices.items()),
            "thresholds": {lb: {"threshold": c.threshold, "precision": c.precision, "recall": c.recall,
                                "f1": c.f1} for lb, c in self.choices.items()},
        }

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError("LinearCombiner is never pickled: refit it from the validation scores (seconds)")


class PrecomputedScorer:
    """A challenge `Scorer` that answers from probabilities computed once (a transformer's cached scores).

    Scoring the same texts again for every candidate and seed would cost minutes each time; a lookup costs
    nothing. A text it was not given raises `KeyError`, so nothing is ever silently scored as 0.
    """

    def __init__(self, name: str, texts: Sequence[str], probabilities: Mapping[str, Sequence[float]],
                 thresholds: Mapping[str, float]) -> None:
        self.name = name
        self.thresholds = dict(thresholds)
        self.labels = tuple(probabilities)
        columns = np.column_stack([np.asarray(probabilities[lb], dtype=float) for lb in self.labels])
        if len(columns) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(columns)} probabilities; they must align")
        self._table = {t: row for t, row in zip(texts, columns.tolist(), strict=True)}

    def __contains__(self, text: str) -> bool:
        return text in self._table

    def with_thresholds(self, thresholds: Mapping[str, float], *,
                        name: str | None = None) -> PrecomputedScorer:
        """The same scores (shared, not copied) at other thresholds: one candidate per threshold rule."""
        other = object.__new__(PrecomputedScorer)
        other.name, other.labels, other._table = name or self.name, self.labels, self._table
        other.thresholds = dict(thresholds)
        return other

    def probabilities(self, texts: Sequence[str]) -> dict[str, list[float]]:
        missing = [t for t in texts if t not in self._table]
        if missing:
            raise KeyError(f"{self.name}: {len(missing)} texts were never scored "
                           f"(first: {missing[0][:60]!r})")
        rows = [self._table[t] for t in texts]
        return {lb: [r[k] for r in rows] for k, lb in enumerate(self.labels)}


class CombinationScorer:
    """A challenge `Scorer`: the components score texts; the combiner maps their logits to probabilities."""

    def __init__(self, components: Sequence[Scorer], combiner: LinearCombiner, *,
                 name: str | None = None) -> None:
        self.components = list(components)
        self.combiner = combiner
        self.labels = combiner.labels
        self.thresholds = dict(combiner.thresholds)
        self.name = name or "combination(" + "+".join(c.name for c in self.components) + ")"

    def features(self, texts: Sequence[str]) -> np.ndarray:
        """The combiner's inputs for these texts (see `stack_features`)."""
        return stack_features([c.probabilities(texts) for c in self.components], self.labels)[0]

    def probabilities(self, texts: Sequence[str]) -> dict[str, list[float]]:
        texts = list(texts)
        if not texts:
            return {lb: [] for lb in self.labels}
        proba = self.combiner.predict_proba(self.features(texts))
        return {lb: proba[:, k].tolist() for k, lb in enumerate(self.labels)}


def fit_combination(
    components: Sequence[Scorer],
    texts: Sequence[str],
    gold: Mapping[str, Sequence[int]],
    known: Mapping[str, Sequence[bool]] | None = None,
    *,
    labels: Sequence[str] | None = None,
    C: float = 1.0,
    folds: int = 5,
    seed: int = 0,
    min_precision: Floor = None,
    name: str | None = None,
) -> CombinationScorer:
    """Fit a `LinearCombiner` on the components' scores of ``texts`` (validation; never train or test).

    Args:
        components: scorers already trained elsewhere (on the train split).
        texts: the fitting texts; ``gold``: per label, their 0/1 labels; ``known``: per label, False where the
            label is unannotated (left out of the fit and of the threshold choice).
        labels: the labels to combine (default: those of ``gold``).
        folds, seed: the cross-fitting that the thresholds are chosen on.
        min_precision: the precision floor per label (see `masked_thresholds`; None: max F1).
    """
    labels = tuple(labels or gold)
    X, names = stack_features([c.probabilities(list(texts)) for c in components], labels)
    combiner = LinearCombiner(labels, C=C, folds=folds, seed=seed, min_precision=min_precision)
    combiner.fit(X, gold, known, feature_names=[_feature_name(components, n) for n in names])
    return CombinationScorer(components, combiner, name=name)


def _feature_name(components: Sequence[Scorer], name: str) -> str:
    index, label = name.split(":", 1)
    return f"logit {components[int(index[1:])].name}:{label}"
