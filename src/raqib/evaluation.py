"""Metrics, threshold choice and evaluation results, computed with `sklearn.metrics` and nothing hand-rolled.

Users remove posts on the strength of these numbers and must answer for them, so every number here comes
from scikit-learn, every threshold comes with the rule that chose it and the whole trial table, and every
result carries its provenance (model, data file hash, versions, time). Compute once; `raqib.reports` renders
the same `EvaluationResult` as HTML, Markdown and JSON.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from raqib.labelled import LabelledSet

log = logging.getLogger(__name__)

SWEEP_THRESHOLDS: tuple[float, ...] = tuple(round(0.05 * k, 2) for k in range(1, 20))
"""The fixed thresholds of the sweep table in reports (0.05 .. 0.95)."""
CALIBRATION_BINS = 10
"""Equal-width probability bins for the reliability diagram and the expected calibration error."""
N_EXAMPLES = 10
"""How many highest-scoring false positives and lowest-scoring false negatives a result keeps per label."""
DEFAULT_THRESHOLD = 0.5
"""The threshold used when a label has no positive (or no negative) validation example to choose one from."""
RESULT_FORMAT_VERSION = 1
"""Bumped when the JSON layout of `EvaluationResult` changes."""


# ------------------------------------------------------------------------------------------------------------
# Thresholds
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ThresholdChoice:
    """The threshold chosen for one label, the rule that chose it, and every threshold it considered."""

    label: str
    """The label the threshold is for."""
    threshold: float
    """Flag when the probability is at or above this value."""
    precision: float
    """Precision at ``threshold`` on the set it was chosen on (validation, not test)."""
    recall: float
    """Recall at ``threshold`` on the same set."""
    f1: float
    """F1 at ``threshold`` on the same set."""
    rule: str
    """How it was chosen, in words (``max F1``, ``max recall with precision >= 0.9``), fallbacks included."""
    trials: list[dict[str, float]] = field(default_factory=list)
    """Every candidate threshold with its ``threshold``, ``precision``, ``recall`` and ``f1``, ascending."""


def find_thresholds(
    probabilities: Mapping[str, Sequence[float]],
    gold: Mapping[str, Sequence[int]],
    *,
    min_precision: float | Mapping[str, float | None] | None = None,
) -> dict[str, ThresholdChoice]:
    """Choose a threshold per label on a validation set (never the test set), and say how.

    Candidates are the points of `sklearn.metrics.precision_recall_curve`. Each candidate threshold is placed
    halfway between a validation score and the next lower distinct score, which gives the same validation
    predictions as the score itself but does not sit on a validation example.

    Args:
        probabilities: per label, the model's probability for each example.
        gold: per label, the 0/1 truth for each example (same order).
        min_precision: if given, pick the threshold with the highest recall among those whose precision is at
            least this; when none reaches it, fall back to the max-F1 threshold and say so in ``rule``.
            Without it, pick the threshold with the highest F1. A mapping gives each label its own floor
            (a label it does not name gets max F1): the labels' costs differ, e.g. a recall bar for one
            and a false-positive bar for the other.

    Returns:
        ``{label: ThresholdChoice}`` in the order of ``probabilities``. Ties go to the higher threshold (fewer
        posts flagged for the same metric). A label without both classes in ``gold`` gets
        `DEFAULT_THRESHOLD` and a ``rule`` that says why.

    Example:
        >>> c = find_thresholds({"violent_call": [0.1, 0.4, 0.8]}, {"violent_call": [0, 1, 1]})
        >>> round(c["violent_call"].threshold, 2), c["violent_call"].f1
        (0.25, 1.0)
    """
    import numpy as np
    from sklearn.metrics import precision_recall_curve

    if isinstance(min_precision, Mapping):
        floors = dict(min_precision)
    else:
        floors = dict.fromkeys(probabilities, min_precision)
    for label, floor in floors.items():
        if label not in probabilities:
            raise ValueError(f"min_precision names {label!r}, which has no probabilities ({list(probabilities)})")
        if floor is not None and not 0.0 < floor <= 1.0:
            raise ValueError(f"min_precision must be in (0, 1], got {floor!r}")
    _check_same_labels(probabilities, gold)
    choices: dict[str, ThresholdChoice] = {}
    for label in probabilities:
        floor = floors.get(label)
        scores = np.asarray(probabilities[label], dtype=float)
        truth = _as_binary(gold[label], label)
        if len(scores) != len(truth):
            raise ValueError(
                f"label {label!r}: {len(scores)} probabilities but {len(truth)} gold values; they must align"
            )
        if len(truth) == 0 or truth.min() == truth.max():  # one class only (or none): no curve to choose from
            present = (
                "no examples"
                if len(truth) == 0
                else f"only {'positive' if truth[0] else 'negative'} examples"
            )
            rule = f"default {DEFAULT_THRESHOLD} (validation set has {present} for this label)"
            log.warning("label %r: %s", label, rule)
            p, r, f = _prf(truth, scores >= DEFAULT_THRESHOLD)
            choices[label] = ThresholdChoice(label, DEFAULT_THRESHOLD, p, r, f, rule, [])
            continue

        precision, recall, curve_thresholds = precision_recall_curve(truth, scores)
        # precision/recall[i] belong to curve_thresholds[i] (ascending); the last point (P=1, R=0) has none.
        precision, recall = precision[:-1], recall[:-1]
        cut = _between_scores(np.unique(scores), curve_thresholds)
        with np.errstate(divide="ignore", invalid="ignore"):
            f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
        trials = [
            {"threshold": float(t), "precision": float(p), "recall": float(r), "f1": float(f)}
            for t, p, r, f in zip(cut, precision, recall, f1, strict=True)
        ]
        if floor is None:
            best, rule = _argmax_last(f1), "max F1 on validation"
        else:
            ok = precision >= floor
            if ok.any():
                # highest recall among admissible; then highest precision; then highest threshold
                top = ok & (recall == recall[ok].max())
                top &= precision == precision[top].max()
                best = int(np.flatnonzero(top)[-1])
                rule = f"max recall with precision >= {floor:g} on validation"
            else:
                best = _argmax_last(f1)
                rule = (
                    f"max F1 on validation (fallback: no threshold reaches precision >= {floor:g}; "
                    f"best precision is {float(precision.max()):.3f})"
                )
                log.warning("label %r: %s", label, rule)
        threshold = float(cut[best])
        p, r, f = _prf(truth, scores >= threshold)
        choices[label] = ThresholdChoice(label, threshold, p, r, f, rule, trials)
    return choices


def _between_scores(distinct: np.ndarray, curve_thresholds: np.ndarray) -> np.ndarray:
    """Move each curve threshold halfway down to the next lower distinct score (same predictions)."""
    import numpy as np

    pos = np.searchsorted(distinct, curve_thresholds)
    lower = np.where(pos > 0, distinct[np.maximum(pos - 1, 0)], curve_thresholds)
    mid = (lower + curve_thresholds) / 2
    # adjacent floats: the midpoint can round onto the lower score, which would change predictions
    return np.where((pos > 0) & (mid > lower), mid, curve_thresholds)


def _argmax_last(values: np.ndarray) -> int:
    """Index of the maximum; among ties the last one (the highest threshold)."""
    return int(len(values) - 1 - values[::-1].argmax())


def _prf(truth: np.ndarray, predicted: np.ndarray) -> tuple[float, float, float]:
    from sklearn.metrics import precision_recall_fscore_support

    if len(truth) == 0:
        return 0.0, 0.0, 0.0
    p, r, f, _ = precision_recall_fscore_support(
        truth, predicted.astype(int), average="binary", pos_label=1, zero_division=0
    )
    return float(p), float(r), float(f)


def _as_binary(values: Sequence[int], label: str) -> np.ndarray:
    import numpy as np

    arr = np.asarray(values)
    if arr.size and not np.isin(arr, (0, 1)).all():
        bad = sorted({str(v) for v in arr[~np.isin(arr, (0, 1))].tolist()})[:5]
        raise ValueError(f"gold values for label {label!r} must be 0 or 1; found {', '.join(bad)}")
    return arr.astype(int)


def _check_same_labels(probabilities: Mapping[str, Any], gold: Mapping[str, Any]) -> None:
    missing = [lb for lb in probabilities if lb not in gold]
    if missing:
        raise ValueError(f"no gold values for label(s) {missing}; gold has {list(gold)}")


# ------------------------------------------------------------------------------------------------------------
# Results
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelMetrics:
    """One label's metrics at one threshold, with percentile-bootstrap 95% intervals."""

    threshold: float
    """Flag when the probability is at or above this."""
    precision: float
    recall: float
    f1: float
    support: int
    """Gold positives."""
    n: int
    """Examples."""
    predicted_positive: int
    """Examples flagged at ``threshold``."""
    average_precision: float | None
    """PR-AUC (`sklearn.metrics.average_precision_score`); ``None`` without positives or for hard labels."""
    roc_auc: float | None
    """``None`` when one class is absent, or for hard labels."""
    confusion: list[list[int]]
    """``[[tn, fp], [fn, tp]]`` (`sklearn.metrics.confusion_matrix` with labels ``[0, 1]``)."""
    ci: dict[str, list[float]] = field(default_factory=dict)
    """``{metric: [low, high]}``: 95% percentile-bootstrap intervals (precision, recall, f1, AP)."""
    hard_labels: bool = False
    """True when the scores are 0/1 labels (e.g. an LLM's answers): one operating point, no curve, no AUC."""


@dataclass(frozen=True)
class Example:
    """An example the report shows: a false positive or a false negative."""

    id: str
    probability: float
    text: str | None = None
    group: str | None = None


@dataclass(frozen=True)
class LabelDetails:
    """What a report draws for one label, beyond the headline metrics."""

    pr_curve: dict[str, list[float]]
    """``precision``, ``recall`` (same length) and ``threshold`` (one shorter) from `precision_recall_curve`,
    thinned to at most `MAX_CURVE_POINTS`."""
    sweep: list[dict[str, float]]
    """Metrics at each of `SWEEP_THRESHOLDS`: threshold, precision, recall, f1, flagged, flagged_share."""
    calibration: dict[str, Any]
    """``bins`` (low, high, count, mean_predicted, fraction_positive) and ``ece`` (expected calib. error)."""
    false_positives: list[Example]
    """The highest-scoring negatives flagged at the threshold (up to `N_EXAMPLES`)."""
    false_negatives: list[Example]
    """The lowest-scoring positives missed at the threshold (up to `N_EXAMPLES`)."""
    groups: list[dict[str, Any]] = field(default_factory=list)
    """Per group: group, n, support, predicted_positive, precision, recall, f1, average_precision."""


@dataclass(frozen=True)
class SystemMetrics:
    """Another system scored on the same gold (a baseline, or predictions shipped with the data)."""

    name: str
    kind: str
    """``baseline`` or ``predictions``."""
    description: str
    """What it is and how its thresholds were chosen."""
    metrics: dict[str, LabelMetrics]
    pr_curves: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    threshold_rules: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EvaluationResult:
    """Everything an evaluation report shows, as plain values: computed once, rendered many times."""

    name: str
    """The evaluated system (the model's name)."""
    labels: tuple[str, ...]
    n_examples: int
    metrics: dict[str, LabelMetrics]
    """Per label, at the thresholds in ``threshold_rules``."""
    details: dict[str, LabelDetails]
    threshold_rules: dict[str, str] = field(default_factory=dict)
    """Per label, where its threshold came from (e.g. the model's config, a caller's override)."""
    bootstrap: dict[str, Any] = field(default_factory=dict)
    """How the intervals were computed: method, n (resamples), seed, confidence."""
    gold_sha256: str = ""
    """Fingerprint of the gold labels, so comparisons are only ever made on the same gold."""
    provenance: dict[str, Any] = field(default_factory=dict)
    """Model name and weights sha256, versions, dataset path + sha256, git commit, time."""
    comparisons: list[SystemMetrics] = field(default_factory=list)
    """Other systems evaluated on the same gold (baseline, prediction columns), shown beside the model."""
    notes: list[str] = field(default_factory=list)
    """Things a reader must know (scoring errors, train/test overlap, small groups...)."""
    format_version: int = RESULT_FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (floats, ints, strings, lists, dicts, None)."""
        data = asdict(self)
        data["labels"] = list(self.labels)
        return data

    def to_json(self, *, indent: int | None = 2) -> str:
        """The result as JSON text (UTF-8, Arabic kept readable)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent, allow_nan=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvaluationResult:
        version = int(data.get("format_version", 1))
        if version > RESULT_FORMAT_VERSION:
            raise ValueError(
                f"metrics format_version {version} is newer than this raqib reads ({RESULT_FORMAT_VERSION}); "
                "upgrade raqib"
            )
        return cls(
            name=data["name"],
            labels=tuple(data["labels"]),
            n_examples=int(data["n_examples"]),
            metrics={lb: LabelMetrics(**m) for lb, m in data["metrics"].items()},
            details={lb: _details_from_dict(d) for lb, d in data["details"].items()},
            threshold_rules=dict(data.get("threshold_rules", {})),
            bootstrap=dict(data.get("bootstrap", {})),
            gold_sha256=data.get("gold_sha256", ""),
            provenance=dict(data.get("provenance", {})),
            comparisons=[
                SystemMetrics(**{**c, "metrics": {lb: LabelMetrics(**m) for lb, m in c["metrics"].items()}})
                for c in data.get("comparisons", [])
            ],
            notes=list(data.get("notes", [])),
            format_version=version,
        )

    @classmethod
    def from_json(cls, text: str) -> EvaluationResult:
        """Read what `to_json` wrote (e.g. a model dir's ``metrics.json``)."""
        return cls.from_dict(json.loads(text))

    def with_comparison(
        self, other: EvaluationResult, *, kind: str, description: str = ""
    ) -> EvaluationResult:
        """This result with ``other`` (evaluated on the same gold) added as a comparison row.

        Raises:
            ValueError: ``other`` was evaluated on different gold labels.
        """
        if other.gold_sha256 != self.gold_sha256 or other.n_examples != self.n_examples:
            raise ValueError(
                f"cannot compare {other.name!r} with {self.name!r}: "
                "they were evaluated on different gold labels"
            )
        return _with_partial_comparison(self, other, kind=kind, description=description)


def _replace(result: EvaluationResult, **changes: Any) -> EvaluationResult:
    from dataclasses import replace

    return replace(result, **changes)


def _details_from_dict(d: Mapping[str, Any]) -> LabelDetails:
    return LabelDetails(
        pr_curve=d["pr_curve"],
        sweep=d["sweep"],
        calibration=d["calibration"],
        false_positives=[Example(**e) for e in d["false_positives"]],
        false_negatives=[Example(**e) for e in d["false_negatives"]],
        groups=d.get("groups", []),
    )


# ------------------------------------------------------------------------------------------------------------
# Evaluation
# ------------------------------------------------------------------------------------------------------------

MAX_CURVE_POINTS = 400
"""PR curves are thinned to this many points in results (enough to draw, small enough to read)."""
CONFIDENCE = 0.95


def evaluate(
    probabilities: Mapping[str, Sequence[float]],
    gold: Mapping[str, Sequence[int]],
    *,
    thresholds: Mapping[str, float],
    texts: Sequence[str] | None = None,
    ids: Sequence[str] | None = None,
    groups: Sequence[str] | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    name: str = "model",
    threshold_rules: Mapping[str, str] | None = None,
    hard_labels: bool | None = None,
    provenance: Mapping[str, Any] | None = None,
) -> EvaluationResult:
    """Score one system's probabilities against gold labels at fixed thresholds.

    The thresholds must have been chosen elsewhere (on validation data, see `find_thresholds`): choosing
    them on the evaluation set would make every number here optimistic.

    Args:
        probabilities: per label, one score per example.
        gold: per label, 0/1 per example (same order).
        thresholds: per label, flag at or above this.
        texts: the examples' texts, shown with false positives and false negatives.
        ids: example ids (default: the position, from 0).
        groups: a group per example (dialect, source...) for the per-group table.
        n_bootstrap: resamples for the 95% intervals (0 for none). The same seed gives the same resamples,
            so intervals of two systems on the same data are paired.
        seed: the bootstrap's seed.
        name: the system's name in reports.
        threshold_rules: per label, where the threshold came from (shown in reports).
        hard_labels: the scores are 0/1 decisions, not probabilities (default: detected).
        provenance: extra provenance entries (dataset path, model details...).

    Raises:
        ValueError: misaligned lengths, a label without gold or threshold, gold values other than 0/1.

    Example:
        >>> r = evaluate({"violent_call": [0.9, 0.2, 0.7]}, {"violent_call": [1, 0, 0]},
        ...              thresholds={"violent_call": 0.5}, n_bootstrap=0)
        >>> r.metrics["violent_call"].precision
        0.5
    """
    import numpy as np

    _check_same_labels(probabilities, gold)
    missing = [lb for lb in probabilities if lb not in thresholds]
    if missing:
        raise ValueError(f"no threshold for label(s) {missing}; thresholds has {list(thresholds)}")
    labels = tuple(probabilities)
    n = len(next(iter(probabilities.values()))) if labels else 0
    for what, seq in (("texts", texts), ("ids", ids), ("groups", groups)):
        if seq is not None and len(seq) != n:
            raise ValueError(f"{len(seq)} {what} for {n} examples; they must align")
    id_list = [str(i) for i in ids] if ids is not None else [str(i) for i in range(n)]
    group_list = [str(g) for g in groups] if groups is not None else None

    metrics: dict[str, LabelMetrics] = {}
    details: dict[str, LabelDetails] = {}
    gold_digest = hashlib.sha256()
    for label in labels:
        scores = np.asarray(probabilities[label], dtype=float)
        truth = _as_binary(gold[label], label)
        if len(scores) != n or len(truth) != n:
            raise ValueError(
                f"label {label!r}: {len(scores)} probabilities and {len(truth)} gold values for {n} examples"
            )
        if np.isnan(scores).any():
            raise ValueError(f"label {label!r}: probabilities contain NaN")
        gold_digest.update(label.encode() + b"\0" + truth.astype(np.int8).tobytes())
        hard = bool(np.isin(scores, (0.0, 1.0)).all()) if hard_labels is None else hard_labels
        threshold = float(thresholds[label])
        metrics[label] = _label_metrics(truth, scores, threshold, hard, n_bootstrap, seed)
        details[label] = LabelDetails(
            pr_curve=_pr_curve(truth, scores, hard),
            sweep=_sweep(truth, scores),
            calibration=_calibration(truth, scores),
            false_positives=_examples(truth, scores, threshold, id_list, texts, group_list, positive=False),
            false_negatives=_examples(truth, scores, threshold, id_list, texts, group_list, positive=True),
            groups=_group_table(truth, scores, threshold, group_list, hard) if group_list is not None else [],
        )

    prov: dict[str, Any] = {"system": name, **_environment(), **dict(provenance or {})}
    rules = {lb: (threshold_rules or {}).get(lb, "given by the caller") for lb in labels}
    notes: list[str] = []
    if group_list is not None:
        from collections import Counter

        small = sorted(g for g, k in Counter(group_list).items() if k < 30)
        if small:
            notes.append(
                f"groups with fewer than 30 examples "
                f"({', '.join(small[:10])}{'…' if len(small) > 10 else ''})"
                " have very wide uncertainty; do not compare them on point estimates"
            )
    return EvaluationResult(
        name=name,
        labels=labels,
        n_examples=n,
        metrics=metrics,
        details=details,
        threshold_rules=rules,
        bootstrap={
            "method": "percentile",
            "n": int(n_bootstrap),
            "seed": int(seed),
            "confidence": CONFIDENCE,
        },
        gold_sha256=gold_digest.hexdigest(),
        provenance=prov,
        notes=notes,
    )


def _label_metrics(
    truth: np.ndarray, scores: np.ndarray, threshold: float, hard: bool, n_bootstrap: int, seed: int
) -> LabelMetrics:
    from sklearn.metrics import (
        average_precision_score,
        confusion_matrix,
        precision_recall_fscore_support,
        roc_auc_score,
    )

    predicted = (scores >= threshold).astype(int)
    p, r, f, _ = precision_recall_fscore_support(
        truth, predicted, average="binary", pos_label=1, zero_division=0
    )
    both = 0 < truth.sum() < len(truth)
    ap = float(average_precision_score(truth, scores)) if truth.sum() > 0 and not hard else None
    auc = float(roc_auc_score(truth, scores)) if both and not hard else None
    cm = confusion_matrix(truth, predicted, labels=[0, 1])
    return LabelMetrics(
        threshold=float(threshold),
        precision=float(p),
        recall=float(r),
        f1=float(f),
        support=int(truth.sum()),
        n=int(len(truth)),
        predicted_positive=int(predicted.sum()),
        average_precision=ap,
        roc_auc=auc,
        confusion=[[int(v) for v in row] for row in cm],
        ci=_bootstrap(truth, scores, predicted, hard, n_bootstrap, seed)
        if n_bootstrap > 0 and len(truth)
        else {},
        hard_labels=hard,
    )


def _bootstrap(
    truth: np.ndarray, scores: np.ndarray, predicted: np.ndarray, hard: bool, n_bootstrap: int, seed: int
) -> dict[str, list[float]]:
    """Percentile intervals over resamples of the examples (with replacement); same seed, same resamples."""
    import numpy as np
    from sklearn.metrics import average_precision_score, precision_recall_fscore_support

    rng = np.random.default_rng(seed)
    n = len(truth)
    values: dict[str, list[float]] = {"precision": [], "recall": [], "f1": [], "average_precision": []}
    for _ in range(n_bootstrap):
        idx = rng.integers(0, n, size=n)
        t, s, y = truth[idx], scores[idx], predicted[idx]
        p, r, f, _ = precision_recall_fscore_support(t, y, average="binary", pos_label=1, zero_division=0)
        values["precision"].append(p)
        values["recall"].append(r)
        values["f1"].append(f)
        if not hard and t.any():  # AP is undefined for a resample without positives: left out
            values["average_precision"].append(average_precision_score(t, s))
    alpha = (1 - CONFIDENCE) / 2 * 100
    return {k: [float(x) for x in np.percentile(v, [alpha, 100 - alpha])] for k, v in values.items() if v}


def _pr_curve(truth: np.ndarray, scores: np.ndarray, hard: bool) -> dict[str, list[float]]:
    import numpy as np
    from sklearn.metrics import precision_recall_curve

    if not truth.any():
        return {"precision": [], "recall": [], "threshold": []}
    precision, recall, thresholds = precision_recall_curve(truth, scores)
    if len(thresholds) > MAX_CURVE_POINTS:
        keep = np.unique(np.linspace(0, len(thresholds) - 1, MAX_CURVE_POINTS).round().astype(int))
        precision = np.append(precision[keep], precision[-1])
        recall = np.append(recall[keep], recall[-1])
        thresholds = thresholds[keep]
    return {
        "precision": [float(x) for x in precision],
        "recall": [float(x) for x in recall],
        "threshold": [float(x) for x in thresholds],
    }


def _sweep(truth: np.ndarray, scores: np.ndarray) -> list[dict[str, float]]:
    from sklearn.metrics import precision_recall_fscore_support

    rows = []
    for t in SWEEP_THRESHOLDS:
        predicted = (scores >= t).astype(int)
        p, r, f, _ = precision_recall_fscore_support(
            truth, predicted, average="binary", pos_label=1, zero_division=0
        )
        flagged = int(predicted.sum())
        rows.append(
            {
                "threshold": float(t),
                "precision": float(p),
                "recall": float(r),
                "f1": float(f),
                "flagged": flagged,
                "flagged_share": flagged / len(truth) if len(truth) else 0.0,
            }
        )
    return rows


def _calibration(truth: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    """Reliability diagram data (`sklearn.calibration.calibration_curve`, uniform bins) and its ECE."""
    import numpy as np
    from sklearn.calibration import calibration_curve

    edges = np.linspace(0.0, 1.0, CALIBRATION_BINS + 1)
    # the same bin assignment calibration_curve uses, to get each bin's count (which it does not return)
    bin_ids = np.searchsorted(edges[1:-1], scores)
    counts = np.bincount(bin_ids, minlength=CALIBRATION_BINS)
    bins = [
        {
            "low": float(edges[b]),
            "high": float(edges[b + 1]),
            "count": int(counts[b]),
            "mean_predicted": None,
            "fraction_positive": None,
        }
        for b in range(CALIBRATION_BINS)
    ]
    ece: float | None = None
    if len(truth):
        fraction_positive, mean_predicted = calibration_curve(
            truth, scores, n_bins=CALIBRATION_BINS, strategy="uniform", pos_label=1
        )
        for b, fp, mp in zip(np.flatnonzero(counts), fraction_positive, mean_predicted, strict=True):
            bins[b]["fraction_positive"] = float(fp)
            bins[b]["mean_predicted"] = float(mp)
        # ECE: the count-weighted mean gap between predicted probability and observed frequency per bin
        ece = float(
            sum(
                counts[b] / len(truth) * abs(bins[b]["fraction_positive"] - bins[b]["mean_predicted"])
                for b in np.flatnonzero(counts)
            )
        )
    return {"n_bins": CALIBRATION_BINS, "strategy": "uniform", "bins": bins, "ece": ece}


def _examples(
    truth: np.ndarray,
    scores: np.ndarray,
    threshold: float,
    ids: Sequence[str],
    texts: Sequence[str] | None,
    groups: Sequence[str] | None,
    *,
    positive: bool,
) -> list[Example]:
    """False positives by score descending, or false negatives by score ascending (ties by input order)."""
    import numpy as np

    flagged = scores >= threshold
    if positive:  # missed positives, lowest score first
        idx = np.flatnonzero((truth == 1) & ~flagged)
        idx = idx[np.argsort(scores[idx], kind="stable")]
    else:  # flagged negatives, highest score first
        idx = np.flatnonzero((truth == 0) & flagged)
        idx = idx[np.argsort(-scores[idx], kind="stable")]
    return [
        Example(
            id=ids[i],
            probability=float(scores[i]),
            text=None if texts is None else str(texts[i]),
            group=None if groups is None else groups[i],
        )
        for i in idx[:N_EXAMPLES].tolist()
    ]


def _group_table(
    truth: np.ndarray, scores: np.ndarray, threshold: float, groups: Sequence[str], hard: bool
) -> list[dict[str, Any]]:
    import numpy as np
    from sklearn.metrics import average_precision_score, precision_recall_fscore_support

    g = np.asarray(groups, dtype=object)
    rows = []
    for name in sorted(set(groups)):
        mask = g == name
        t, s = truth[mask], scores[mask]
        predicted = (s >= threshold).astype(int)
        p, r, f, _ = precision_recall_fscore_support(
            t, predicted, average="binary", pos_label=1, zero_division=0
        )
        rows.append(
            {
                "group": name,
                "n": int(mask.sum()),
                "support": int(t.sum()),
                "predicted_positive": int(predicted.sum()),
                "precision": float(p),
                "recall": float(r),
                "f1": float(f),
                "average_precision": float(average_precision_score(t, s)) if t.any() and not hard else None,
            }
        )
    return rows


def _environment() -> dict[str, Any]:
    import platform

    import sklearn

    from raqib import __version__

    return {
        "raqib_version": __version__,
        "scikit_learn_version": sklearn.__version__,
        "python_version": platform.python_version(),
        "git_commit": _git_commit(),
        "created": datetime.now(UTC).replace(microsecond=0).isoformat(),
    }


def _git_commit() -> str | None:
    """The commit of the raqib checkout this runs from, if any (an installed wheel has none)."""
    import subprocess

    here = Path(__file__).resolve().parent
    if not any((parent / ".git").exists() for parent in here.parents):
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    if not commit or out.returncode != 0:
        return None
    dirty = subprocess.run(
        ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        timeout=5,
        check=False,
    ).stdout.strip()
    return commit + ("-dirty" if dirty else "")


# ------------------------------------------------------------------------------------------------------------
# Systems: a classifier, the TF-IDF baseline, predictions shipped with the data
# ------------------------------------------------------------------------------------------------------------

BASELINE_VALIDATION_FRACTION = 0.2
"""Share of the baseline's training file held out to choose its thresholds."""


def evaluate_classifier(
    clf: Any,
    data: LabelledSet,
    *,
    batch_size: int = 32,
    n_bootstrap: int = 1000,
    seed: int = 0,
    baseline_train: LabelledSet | None = None,
    compare_predictions: bool = True,
) -> EvaluationResult:
    """Score ``data`` with a classifier at its own thresholds and evaluate it, with comparisons beside it.

    Args:
        clf: a `raqib.Classifier` (anything with ``name``, ``labels``, ``thresholds`` and
            ``score_batch(texts, batch_size=...)`` returning `PostScore`s).
        data: the labelled evaluation set (`raqib.labelled.read_labelled`); it must not overlap the data
            the model's thresholds were chosen on.
        batch_size: passed to ``score_batch``.
        n_bootstrap: resamples for the 95% intervals (0 for none).
        seed: bootstrap (and baseline split) seed.
        baseline_train: when given, a `TfidfBaseline` is trained on it and evaluated on ``data`` too
            (see `evaluate_baseline` for its threshold rule).
        compare_predictions: add a comparison row per system in ``data.predictions``.

    A post the classifier could not score (an error result) counts as not flagged, as it would be in
    use, with score 0.0; how many there were is in ``notes``.
    """
    labels = tuple(clf.labels)
    missing = [lb for lb in labels if lb not in data.gold]
    if missing:
        raise ValueError(f"the data has no gold for the model's label(s) {missing}; it has {list(data.gold)}")
    results = clf.score_batch(list(data.texts), batch_size=batch_size)
    if len(results) != len(data):
        raise RuntimeError(f"the classifier returned {len(results)} results for {len(data)} texts")
    errors = [(data.ids[i], r.error) for i, r in enumerate(results) if r.error is not None]
    probabilities = {
        lb: [0.0 if r.error is not None else float(r.probabilities[lb]) for r in results] for lb in labels
    }
    thresholds = {lb: float(clf.thresholds[lb]) for lb in labels}
    result = evaluate(
        probabilities,
        {lb: data.gold[lb] for lb in labels},
        thresholds=thresholds,
        texts=data.texts,
        ids=data.ids,
        groups=data.groups,
        n_bootstrap=n_bootstrap,
        seed=seed,
        name=str(getattr(clf, "name", "model")),
        threshold_rules=dict.fromkeys(labels, "the model's thresholds (chosen on its validation split)"),
        provenance={**_model_provenance(clf), **_data_provenance(data)},
    )
    notes = list(result.notes)
    if errors:
        shown = ", ".join(f"{i} ({e})" for i, e in errors[:5])
        notes.insert(
            0,
            f"{len(errors)} example(s) could not be scored and count as not flagged: {shown}"
            f"{' …' if len(errors) > 5 else ''}",
        )
        log.warning("%d example(s) could not be scored; they count as not flagged", len(errors))
    result = _replace(result, notes=notes)
    if compare_predictions:
        for system, per_label in data.predictions.items():
            other = evaluate(
                {lb: per_label[lb] for lb in labels if lb in per_label},
                {lb: data.gold[lb] for lb in labels if lb in per_label},
                thresholds={lb: 0.5 for lb in labels if lb in per_label},
                n_bootstrap=n_bootstrap,
                seed=seed,
                name=system,
                threshold_rules={lb: "0.5 (predictions shipped with the data)" for lb in per_label},
            )
            result = _with_partial_comparison(
                result,
                other,
                kind="predictions",
                description="precomputed predictions read from the data file",
            )
    if baseline_train is not None:
        baseline, description = evaluate_baseline(
            baseline_train,
            data,
            labels=labels,
            normaliser_version=getattr(clf, "normaliser_version", "1"),
            n_bootstrap=n_bootstrap,
            seed=seed,
        )
        result = result.with_comparison(baseline, kind="baseline", description=description)
        result = _replace(
            result,
            notes=[*result.notes, *baseline.notes],
            provenance={**result.provenance, "baseline": baseline.provenance.get("baseline")},
        )
    return result


def _with_partial_comparison(
    result: EvaluationResult, other: EvaluationResult, *, kind: str, description: str
) -> EvaluationResult:
    """Like `with_comparison`, for a system that predicts only some of the labels (same gold for those)."""
    row = SystemMetrics(
        name=other.name,
        kind=kind,
        description=description,
        metrics=other.metrics,
        pr_curves={lb: d.pr_curve for lb, d in other.details.items()},
        threshold_rules=other.threshold_rules,
    )
    return _replace(result, comparisons=[*result.comparisons, row])


def evaluate_baseline(
    train: LabelledSet,
    test: LabelledSet,
    *,
    labels: Sequence[str],
    normaliser_version: str | None = "1",
    validation_fraction: float = BASELINE_VALIDATION_FRACTION,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> tuple[EvaluationResult, str]:
    """Train the TF-IDF baseline and evaluate it on ``test``; returns the result and its one-line description.

    Rule: the baseline is fitted on a seeded, label-stratified ``1 - validation_fraction`` of ``train``;
    its thresholds are the max-F1 thresholds (`find_thresholds`) on the held-out ``validation_fraction``;
    it then scores ``test`` with that model and those thresholds. ``test`` is never used to fit or choose.
    Texts that appear in both ``train`` and ``test`` are counted in ``notes``: they flatter the baseline.
    """
    import numpy as np
    from sklearn.model_selection import train_test_split

    from raqib.baselines import TfidfBaseline

    labels = tuple(labels)
    missing = [lb for lb in labels if lb not in train.gold]
    if missing:
        raise ValueError(f"the baseline's training file has no gold for {missing}; it has {list(train.gold)}")
    y = train.label_matrix()[:, [list(train.gold).index(lb) for lb in labels]]
    strata = np.array(["".join(map(str, row)) for row in y])
    _, counts = np.unique(strata, return_counts=True)
    indices = np.arange(len(train))
    fit_idx, val_idx = train_test_split(
        indices,
        test_size=validation_fraction,
        random_state=seed,
        stratify=strata if counts.min() >= 2 else None,
    )
    model = TfidfBaseline(labels, normaliser_version=normaliser_version, seed=seed)
    model.fit([train.texts[i] for i in fit_idx], y[fit_idx])
    val_probs = model.predict_proba([train.texts[i] for i in val_idx])
    choices = find_thresholds(
        {lb: val_probs[:, k] for k, lb in enumerate(labels)},
        {lb: y[val_idx, k] for k, lb in enumerate(labels)},
    )
    test_probs = model.predict_proba(test.texts)
    rule = (
        f"fitted on {len(fit_idx)} examples of the training file, thresholds by {{rule}} on the other "
        f"{len(val_idx)} ({validation_fraction:.0%}, held out, seed {seed})"
    )
    result = evaluate(
        {lb: test_probs[:, k] for k, lb in enumerate(labels)},
        {lb: test.gold[lb] for lb in labels},
        thresholds={lb: choices[lb].threshold for lb in labels},
        n_bootstrap=n_bootstrap,
        seed=seed,
        name=TfidfBaseline.name,
        threshold_rules={lb: rule.format(rule=choices[lb].rule) for lb in labels},
    )
    train_texts = {t.strip() for t in train.texts}
    overlap = sum(t.strip() in train_texts for t in test.texts)
    notes = []
    if overlap:
        notes.append(
            f"{overlap} evaluation text(s) also appear in the baseline's training file; "
            "the baseline's numbers are optimistic by that much"
        )
    info = {
        **model.describe(),
        "train_path": train.path,
        "train_sha256": train.sha256,
        "n_fit": int(len(fit_idx)),
        "n_threshold_validation": int(len(val_idx)),
        "thresholds": {lb: choices[lb].threshold for lb in labels},
        "test_overlap": int(overlap),
    }
    result = _replace(result, notes=notes, provenance={**result.provenance, "baseline": info})
    description = (
        f"character n-gram TF-IDF + logistic regression trained on {Path(train.path or '?').name}: "
        + rule.format(rule="max F1")
    )
    return result, description


def _model_provenance(clf: Any) -> dict[str, Any]:
    config = getattr(clf, "config", None)
    out: dict[str, Any] = {"model": str(getattr(clf, "name", "model"))}
    for key in ("weights_sha256", "normaliser", "base", "raqib_version", "created_with"):
        value = getattr(config, key, None)
        if value is not None:
            out[f"model_{key}"] = (
                value if isinstance(value, (str, int, float)) else json.loads(json.dumps(value, default=str))
            )
    out["thresholds"] = {lb: float(v) for lb, v in dict(clf.thresholds).items()}
    return out


def _data_provenance(data: LabelledSet) -> dict[str, Any]:
    return {"dataset_path": data.path, "dataset_sha256": data.sha256, "n_examples": len(data)}
