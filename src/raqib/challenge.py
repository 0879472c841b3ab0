"""The challenge suite: slices of posts that decide whether moderators can use a model, and the issue's bars.

A single test-set F1 hides what matters here: a model can score well on the labelled sets and still flag most
news about ISIS, most scripture or most angry tweets, or miss a plainly worded threat once the letters are
spaced out. The suite measures each of those on its own slice, with its own expected labels, beside the
TF-IDF baseline, and says PASS or MISS for each target of issue 7.

The manifest (``evaluation/challenge/manifest.json``) lists the slices: files written for the project,
references to the recipe's held-out rows of ``shared/data`` (selected at load time, never copied), and
slices generated from another by `raqib.obfuscate`.

Example:
    >>> suite = load_suite("../shared/data")                       # doctest: +SKIP
    >>> results = run_suite(ClassifierScorer(raqib.load()), suite)  # doctest: +SKIP
    >>> print(format_table({"raqib-ar-v1": results}))               # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from raqib.baselines import TfidfBaseline
    from raqib.classifier import Classifier

log = logging.getLogger(__name__)

LABELS: tuple[str, ...] = ("violent_call", "propaganda")
Expected = int | Literal["per_row"]
MANIFEST_ENV = "RAQIB_CHALLENGE_MANIFEST"
"""Environment variable naming the manifest when it is not passed (an installed raqib has no checkout)."""
Z95 = 1.959963984540054
"""The normal quantile of a two-sided 95% interval."""


# ------------------------------------------------------------------------------------------------------------
# The suite
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    """One post of a slice and the labels it states."""

    id: str
    text: str
    gold: Mapping[str, int]
    """Only the labels the example states; a label it does not state is not evaluated on it."""
    group: str | None = None
    """The value of the slice's ``group_by`` field (dialect, obfuscation, form, source), for breakdowns."""
    note: str | None = None


@dataclass(frozen=True)
class Target:
    """One bar of the issue: a metric on a label that must be at most or at least a bound on some slices."""

    id: str
    label: str
    metric: Literal["recall", "fpr", "f1"]
    op: Literal[">=", "<="]
    bound: float
    text: str
    per_group: bool = False
    """When true the bar holds for every group of the slice (each dialect), not only for the whole slice."""

    def passes(self, value: float) -> bool:
        return value >= self.bound if self.op == ">=" else value <= self.bound

    def worst(self, values: Iterable[Sequence[Any]]) -> Sequence[Any]:
        """The measured ``(where, value, interval)`` that decides the bar: the lowest value of an at-least
        bar, the highest of an at-most one."""
        return min(values, key=lambda v: v[1] if self.op == ">=" else -v[1])

    def shortfall(self, value: float) -> float:
        """How far ``value`` is from the bar, 0 when it passes (the distance model selection sums)."""
        return max(0.0, self.bound - value) if self.op == ">=" else max(0.0, value - self.bound)


@dataclass(frozen=True)
class Slice:
    """A named set of examples with its expected labels and the targets it measures."""

    name: str
    description: str
    expected: Mapping[str, Expected]
    examples: tuple[Example, ...]
    targets: tuple[str, ...] = ()
    group_by: str | None = None
    origin: str = ""
    """Where the texts come from, in words (a file, a recipe selection, a generator)."""
    licence: str | None = None

    def __len__(self) -> int:
        return len(self.examples)


def default_manifest() -> Path:
    """The manifest: ``$RAQIB_CHALLENGE_MANIFEST``, else ``evaluation/challenge`` under the working directory,
    else in the source checkout this module was imported from."""
    if os.environ.get(MANIFEST_ENV):
        return Path(os.environ[MANIFEST_ENV])
    for root in (Path.cwd(), Path(__file__).resolve().parents[2]):
        path = root / "evaluation" / "challenge" / "manifest.json"
        if path.is_file():
            return path
    raise FileNotFoundError(
        "challenge manifest not found: run from the raqib checkout (evaluation/challenge/manifest.json), "
        f"pass manifest=..., or set ${MANIFEST_ENV}"
    )


def read_manifest(manifest: str | Path | None = None) -> dict[str, Any]:
    """The manifest as a dict, with its own path under ``"_path"``."""
    path = Path(manifest) if manifest is not None else default_manifest()
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("format_version") != 1:
        raise ValueError(
            f"{path}: format_version {data.get('format_version')!r} is not supported (expected 1)"
        )
    data["_path"] = str(path)
    return data


def load_targets(manifest: str | Path | None = None) -> dict[str, Target]:
    """The issue's targets from the manifest, by id."""
    return {t["id"]: Target(**t) for t in read_manifest(manifest)["targets"]}


def load_suite(
    data_dir: str | Path | None,
    *,
    manifest: str | Path | None = None,
    names: Sequence[str] | None = None,
    rows: Sequence[Mapping[str, Any]] | None = None,
) -> list[Slice]:
    """Load the suite's slices in manifest order.

    Args:
        data_dir: ``shared/data``, for the slices taken from the recipe's held-out rows. ``None`` (and no
            ``rows``) loads only the written and generated slices.
        manifest: the manifest file (default: `default_manifest`).
        names: only these slices (a generated slice still reads the slice it is made from).
        rows: ``raqib.recipes.build_rows(data_dir)[0]`` if already built (it is the slow part).

    Raises:
        KeyError: an unknown slice name.
        FileNotFoundError: ``data_dir`` does not exist.
    """
    meta = read_manifest(manifest)
    base = Path(meta["_path"]).parent
    specs = {s["name"]: s for s in meta["slices"]}
    wanted = list(specs) if names is None else list(names)
    unknown = [n for n in wanted if n not in specs]
    if unknown:
        raise KeyError(f"unknown slice(s) {unknown}; the manifest has {', '.join(specs)}")
    needs_rows = any("shared" in specs[n] for n in wanted)
    if needs_rows and rows is None and data_dir is not None:
        from raqib.recipes import build_rows

        log.info("building the recipe's rows from %s (for the held-out slices)", data_dir)
        rows, _ = build_rows(data_dir)
    loaded: dict[str, Slice] = {}

    def get(name: str) -> Slice | None:
        if name in loaded:
            return loaded[name]
        spec = specs[name]
        if "file" in spec:
            made = _written_slice(spec, base / spec["file"])
        elif "shared" in spec:
            if rows is None:
                log.warning("slice %s skipped: it needs shared/data (data_dir)", name)
                return None
            made = _shared_slice(spec, rows, Path(data_dir) if data_dir is not None else Path("."))
        elif "generated" in spec:
            source = get(spec["generated"]["from"])
            if source is None:
                return None
            made = _generated_slice(spec, source)
        else:
            raise ValueError(f"{meta['_path']}: slice {name!r} has no file, shared or generated entry")
        loaded[name] = made
        return made

    return [s for s in (get(n) for n in wanted) if s is not None]


def _slice(spec: Mapping[str, Any], examples: Iterable[Example], origin: str) -> Slice:
    return Slice(
        name=spec["name"],
        description=spec.get("description", ""),
        expected=dict(spec["expected"]),
        examples=tuple(examples),
        targets=tuple(spec.get("targets", ())),
        group_by=spec.get("group_by"),
        origin=origin,
        licence=spec.get("licence"),
    )


def _written_slice(spec: Mapping[str, Any], path: Path) -> Slice:
    examples = []
    group_by = spec.get("group_by")
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            r = json.loads(line)
            gold = {lb: int(r[lb]) for lb in spec["expected"] if r.get(lb) is not None}
            for lb, value in spec["expected"].items():
                if value != "per_row" and lb in gold and gold[lb] != value:
                    raise ValueError(f"{path}:{n}: {lb}={gold[lb]} but the slice expects {value}")
            examples.append(Example(str(r["id"]), r["text"], gold, _group(r, group_by), r.get("note")))
    return _slice(spec, examples, f"written for the project: {path.name}")


def _group(record: Mapping[str, Any], group_by: str | None) -> str | None:
    if group_by is None or record.get(group_by) is None:
        return None
    return str(record[group_by])


def _shared_slice(spec: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], root: Path) -> Slice:
    shared = spec["shared"]
    sources = tuple(shared["recipe_sources"])
    select = shared["select"]
    expected = spec["expected"]
    group_by = spec.get("group_by")
    if select == "test":
        picked = [r for r in rows if r["source"] in sources and r["split"] == "test"]
        origin = f"shared/data: test split of {', '.join(sources)} (raqib.recipes.build_rows)"
    elif select == "not_trained":
        picked = _not_trained(sources, rows, root)
        origin = f"{', '.join(sources)}: every text whose key is in no train or validation row"
    else:
        raise ValueError(f"slice {spec['name']!r}: unknown select {select!r} (test or not_trained)")
    examples = []
    dropped = 0
    for k, r in enumerate(picked):
        gold = {lb: int(r[lb]) for lb in expected}
        if any(v != "per_row" and gold[lb] != v for lb, v in expected.items()):
            dropped += 1  # a duplicate labelled positive elsewhere: not a clean example of this slice
            continue
        examples.append(Example(f"{r['source']}-{k}", r["text"], gold, _group(r, group_by)))
    if dropped:
        log.info("slice %s: %d rows dropped whose recipe labels contradict the slice", spec["name"], dropped)
    return _slice(spec, examples, origin)


def _not_trained(
    sources: Sequence[str], rows: Sequence[Mapping[str, Any]], root: Path
) -> list[dict[str, Any]]:
    """Every text of the sources (read again, not sampled) whose key no train or validation row has."""
    from raqib.recipes import DEFAULT_SOURCES, clean_source_text, text_key

    trained = {r["key"] for r in rows if r["split"] in ("train", "validation")}
    seen: set[str] = set()
    out = []
    for spec in DEFAULT_SOURCES:
        if spec.name not in sources:
            continue
        for r in spec.read(root):
            text = clean_source_text(r["text"] or "")
            key = text_key(text)
            if len(key) < 3 or key in trained or key in seen:
                continue
            seen.add(key)
            out.append({"text": text, "source": r["source"], "split": "test",
                        **{lb: r[lb] for lb in LABELS}})
    return out


def _generated_slice(spec: Mapping[str, Any], source: Slice) -> Slice:
    from raqib.obfuscate import obfuscate

    gen = spec["generated"]
    seed = int(gen.get("seed", 0))
    arabizi = gen.get("arabizi_dialects")  # None: every text may be written in Arabizi
    examples = []
    for ex in source.examples:
        for kinds in gen["variants"]:
            if "arabizi_digits" in kinds and arabizi is not None and ex.group not in arabizi:
                continue
            text = obfuscate(ex.text, kinds, seed=seed)
            if text == ex.text:
                continue
            name = "+".join(kinds)
            gold = {lb: v for lb, v in ex.gold.items() if lb in spec["expected"]}
            examples.append(Example(f"{ex.id}~{name}", text, gold, name, ex.note))
    return _slice(spec, examples, f"generated from {source.name} by raqib.obfuscate (seed {seed})")


def training_overlap(suite: Iterable[Slice], rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, str, str]]:
    """``(slice, id, text)`` for every suite example whose near-duplicate key is in a train or validation row.

    This is the no-overlap rule: the suite must never hold what a model was trained or tuned on.
    """
    from raqib.recipes import text_key

    trained = {r["key"] for r in rows if r["split"] in ("train", "validation")}
    return [(s.name, ex.id, ex.text) for s in suite for ex in s.examples if text_key(ex.text) in trained]


# ------------------------------------------------------------------------------------------------------------
# Scorers
# ------------------------------------------------------------------------------------------------------------


class Scorer(Protocol):
    """Anything that maps texts to per-label probabilities and has a threshold per label."""

    name: str
    thresholds: Mapping[str, float]

    def probabilities(self, texts: Sequence[str]) -> dict[str, list[float]]:
        """Per label, one probability per text, in input order."""
        ...


class ClassifierScorer:
    """A raqib `Classifier` at its own thresholds (chosen on its validation split)."""

    def __init__(self, classifier: Classifier, *, batch_size: int = 32, name: str | None = None) -> None:
        self.classifier = classifier
        self.batch_size = batch_size
        self.name = name or classifier.name
        self.thresholds = dict(classifier.thresholds)

    def probabilities(self, texts: Sequence[str]) -> dict[str, list[float]]:
        scores = self.classifier.score_batch(list(texts), batch_size=self.batch_size)
        errors = [s for s in scores if s.error]
        if errors:
            log.warning("%s: %d texts could not be scored (%s); counted as not flagged",
                        self.name, len(errors), errors[0].error)
        return {lb: [float(s.probabilities.get(lb, 0.0)) for s in scores] for lb in self.classifier.labels}


class BaselineScorer:
    """A fitted `TfidfBaseline` with thresholds chosen on a validation split."""

    def __init__(self, baseline: TfidfBaseline, thresholds: Mapping[str, float], *, name: str | None = None,
                 provenance: Mapping[str, Any] | None = None) -> None:
        self.baseline = baseline
        self.thresholds = dict(thresholds)
        self.name = name or baseline.name
        self.provenance = dict(provenance or {})

    def probabilities(self, texts: Sequence[str]) -> dict[str, list[float]]:
        proba = self.baseline.predict_proba(list(texts))
        return {lb: [float(p) for p in proba[:, k]] for k, lb in enumerate(self.baseline.labels)}


def fit_tfidf_scorer(
    rows: Sequence[Mapping[str, Any]],
    *,
    labels: Sequence[str] = LABELS,
    seed: int = 0,
    min_precision: float | None = None,
) -> BaselineScorer:
    """The TF-IDF baseline trained on the recipe's train split, thresholds chosen on its validation split.

    Args:
        rows: ``raqib.recipes.build_rows(data_dir)[0]``.
        min_precision: passed to `find_thresholds` (default: max F1 on validation).
    """
    import numpy as np

    from raqib.baselines import TfidfBaseline
    from raqib.evaluation import find_thresholds

    train = [r for r in rows if r["split"] == "train"]
    validation = [r for r in rows if r["split"] == "validation"]
    if not train or not validation:
        raise ValueError("the recipe rows need a train and a validation split to fit the baseline")
    baseline = TfidfBaseline(labels, seed=seed)
    y = np.array([[int(r[lb]) for lb in labels] for r in train])
    log.info("fitting the TF-IDF baseline on %d train rows", len(train))
    baseline.fit([r["text"] for r in train], y)
    proba = baseline.predict_proba([r["text"] for r in validation])
    choices = find_thresholds(
        {lb: proba[:, k].tolist() for k, lb in enumerate(labels)},
        {lb: [int(r[lb]) for r in validation] for lb in labels},
        min_precision=min_precision,
    )
    provenance = {**baseline.describe(), "train_rows": len(train), "validation_rows": len(validation),
                  "thresholds": {lb: {"threshold": c.threshold, "rule": c.rule, "precision": c.precision,
                                      "recall": c.recall} for lb, c in choices.items()}}
    return BaselineScorer(baseline, {lb: c.threshold for lb, c in choices.items()}, provenance=provenance)


# ------------------------------------------------------------------------------------------------------------
# Metrics
# ------------------------------------------------------------------------------------------------------------


def wilson_interval(successes: int, n: int, *, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion: sound at 0 and n, where the normal interval is not.

    Returns ``(0.0, 1.0)`` when ``n`` is 0 (nothing is known).

    Example:
        >>> tuple(round(x, 4) for x in wilson_interval(0, 10))
        (0.0, 0.2775)
    """
    if n <= 0:
        return (0.0, 1.0)
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, n]; got {successes} of {n}")
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class Rate:
    """A proportion with its 95% Wilson interval."""

    k: int
    n: int
    value: float
    low: float
    high: float

    @classmethod
    def of(cls, k: int, n: int) -> Rate:
        low, high = wilson_interval(k, n)
        return cls(k, n, k / n if n else float("nan"), low, high)


@dataclass(frozen=True)
class LabelResult:
    """One label on one slice: flag rate, recall on positives, false-positive rate on negatives, F1."""

    label: str
    expected: Expected
    threshold: float
    n: int
    positives: int
    negatives: int
    flag_rate: Rate
    recall: Rate | None
    """Flagged positives / positives; None without positives."""
    fpr: Rate | None
    """Flagged negatives / negatives; None without negatives."""
    precision: float | None
    f1: float | None
    """Only on slices with both classes."""
    f1_ci: tuple[float, float] | None
    """95% percentile-bootstrap interval of F1."""
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per group: ``n``, ``recall`` and ``fpr`` as `Rate` dicts (or None)."""
    worst: tuple[dict[str, Any], ...] = ()
    """The lowest-scoring missed positives and the highest-scoring flagged negatives."""


@dataclass(frozen=True)
class SliceResult:
    """One system on one slice."""

    system: str
    name: str
    description: str
    n: int
    expected: Mapping[str, Expected]
    targets: tuple[str, ...]
    labels: Mapping[str, LabelResult]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_suite(
    scorer: Scorer,
    suite: Sequence[Slice],
    *,
    n_worst: int = 3,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> list[SliceResult]:
    """Score every slice and measure each label the slice states, at the scorer's thresholds."""
    results = []
    for sl in suite:
        probs = scorer.probabilities([ex.text for ex in sl.examples]) if sl.examples else {}
        labels = {}
        for label in sl.expected:
            if label not in scorer.thresholds:
                log.warning("%s has no %s label: skipped on slice %s", scorer.name, label, sl.name)
                continue
            labels[label] = _label_result(sl, label, probs.get(label, []), scorer.thresholds[label],
                                          n_worst=n_worst, n_bootstrap=n_bootstrap, seed=seed)
        results.append(SliceResult(scorer.name, sl.name, sl.description, len(sl), dict(sl.expected),
                                   sl.targets, labels))
    return results


def _label_result(sl: Slice, label: str, probs: Sequence[float], threshold: float, *, n_worst: int,
                  n_bootstrap: int, seed: int) -> LabelResult:
    import numpy as np

    idx = [i for i, ex in enumerate(sl.examples) if label in ex.gold]
    gold = np.array([sl.examples[i].gold[label] for i in idx], dtype=int)
    p = np.array([probs[i] for i in idx], dtype=float) if idx else np.zeros(0)
    flagged = p >= threshold
    pos, neg = gold == 1, gold == 0
    n_pos, n_neg = int(pos.sum()), int(neg.sum())
    recall = Rate.of(int((flagged & pos).sum()), n_pos) if n_pos else None
    fpr = Rate.of(int((flagged & neg).sum()), n_neg) if n_neg else None
    precision = f1 = None
    f1_ci = None
    if n_pos and n_neg:
        from sklearn.metrics import precision_recall_fscore_support

        pr, _, f, _ = precision_recall_fscore_support(gold, flagged.astype(int), average="binary",
                                                      zero_division=0)
        precision, f1 = float(pr), float(f)
        f1_ci = _bootstrap_f1(gold, flagged, n_bootstrap, seed) if n_bootstrap else None
    groups: dict[str, dict[str, Any]] = {}
    if sl.group_by:
        names = np.array([sl.examples[i].group or "-" for i in idx], dtype=object)
        for g in sorted(set(names.tolist())):
            m = names == g
            gp, gn = m & pos, m & neg
            groups[g] = {
                "n": int(m.sum()),
                "recall": asdict(Rate.of(int((flagged & gp).sum()), int(gp.sum()))) if gp.any() else None,
                "fpr": asdict(Rate.of(int((flagged & gn).sum()), int(gn.sum()))) if gn.any() else None,
            }
    worst: list[dict[str, Any]] = []
    misses = [j for j in np.argsort(p, kind="stable") if pos[j] and not flagged[j]][:n_worst]
    false_flags = [j for j in np.argsort(-p, kind="stable") if neg[j] and flagged[j]][:n_worst]
    for j in [*misses, *false_flags]:
        ex = sl.examples[idx[j]]
        worst.append({"id": ex.id, "text": ex.text, "gold": int(gold[j]), "probability": float(p[j]),
                      "group": ex.group})
    return LabelResult(
        label=label, expected=sl.expected[label], threshold=float(threshold), n=len(idx), positives=n_pos,
        negatives=n_neg, flag_rate=Rate.of(int(flagged.sum()), len(idx)), recall=recall, fpr=fpr,
        precision=precision, f1=f1, f1_ci=f1_ci, groups=groups, worst=tuple(worst),
    )


def _bootstrap_f1(gold: Any, flagged: Any, n: int, seed: int) -> tuple[float, float]:
    """95% percentile-bootstrap interval of F1 (resampling examples; counts in numpy, vectorised)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(gold), size=(n, len(gold)))
    g, f = gold[draws] == 1, flagged[draws]
    tp = (g & f).sum(axis=1)
    fp = (~g & f).sum(axis=1)
    fn = (g & ~f).sum(axis=1)
    denom = 2 * tp + fp + fn
    f1 = np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)
    low, high = np.percentile(f1, [2.5, 97.5])
    return (float(low), float(high))


# ------------------------------------------------------------------------------------------------------------
# Targets and the table
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TargetCheck:
    """One target for one system: the measured values and whether every one meets the bar."""

    target: str
    system: str
    values: tuple[tuple[str, float, tuple[float, float] | None], ...]
    """``(where, value, 95% interval)`` for each slice (and each group when the target is per group)."""
    passed: bool | None
    """None when no slice of the target was run."""


def check_targets(results: Sequence[SliceResult], targets: Mapping[str, Target]) -> list[TargetCheck]:
    """Every target against one system's results (in the manifest's target order)."""
    system = results[0].system if results else ""
    checks = []
    for tid, target in targets.items():
        values: list[tuple[str, float, tuple[float, float] | None]] = []
        for r in results:
            if tid not in r.targets or target.label not in r.labels:
                continue
            lr = r.labels[target.label]
            if target.metric == "f1":
                if lr.f1 is not None:
                    values.append((r.name, lr.f1, lr.f1_ci))
                continue
            rate = lr.recall if target.metric == "recall" else lr.fpr
            if rate is None:
                continue
            values.append((r.name, rate.value, (rate.low, rate.high)))
            if target.per_group:
                for g, entry in lr.groups.items():
                    gr = entry.get(target.metric)
                    if gr:
                        values.append((f"{r.name}/{g}", gr["value"], (gr["low"], gr["high"])))
        passed = all(target.passes(v) for _, v, _ in values) if values else None
        checks.append(TargetCheck(tid, system, tuple(values), passed))
    return checks


def _pct(x: float | None) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{100 * x:.1f}%"


def _rate(r: Rate | None) -> str:
    if r is None:
        return "n/a"
    return f"{_pct(r.value)} [{100 * r.low:.1f}, {100 * r.high:.1f}] ({r.k}/{r.n})"


def _cell(lr: LabelResult | None) -> str:
    if lr is None:
        return "n/a"
    if lr.f1 is not None:
        ci = f" [{lr.f1_ci[0]:.3f}, {lr.f1_ci[1]:.3f}]" if lr.f1_ci else ""
        return f"F1 {lr.f1:.3f}{ci}; recall {_pct(lr.recall.value if lr.recall else None)}, " \
               f"FPR {_pct(lr.fpr.value if lr.fpr else None)}"
    if lr.recall is not None:
        return f"recall {_rate(lr.recall)}"
    return f"flagged {_rate(lr.fpr)}"


def _esc(text: str, limit: int = 90) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _verdict(target: Target, check: TargetCheck) -> str:
    if check.passed is None:
        return "n/a (slice not run)"
    worst_where, worst, _ = target.worst(check.values)
    shown = f"{worst:.3f}" if target.metric == "f1" else _pct(worst)
    if check.passed:
        return f"PASS (worst {shown}, {worst_where})"
    gap = target.shortfall(worst)
    gap_s = f"{gap:.3f}" if target.metric == "f1" else f"{100 * gap:.1f} pts"
    failing = sum(1 for _, v, _ in check.values if not target.passes(v))
    return f"MISS by {gap_s} ({worst_where} {shown}; {failing} of {len(check.values)} below the bar)"


def format_table(
    results_by_system: Mapping[str, Sequence[SliceResult]],
    *,
    targets: Mapping[str, Target] | None = None,
    n_examples: int = 3,
) -> str:
    """The per-slice table, the targets with PASS/MISS, per-group breakdowns and what fails, as Markdown."""
    if targets is None:
        targets = load_targets()
    systems = list(results_by_system)
    by_name = {s: {r.name: r for r in results_by_system[s]} for s in systems}
    order = list(dict.fromkeys(r.name for s in systems for r in results_by_system[s]))
    lines = ["## Challenge suite", ""]
    lines += ["Per slice and label: recall on slices of positives, share flagged on slices of negatives, "
              "F1 on mixed slices; 95% Wilson intervals (bootstrap for F1), at each system's own thresholds.",
              ""]
    head = "| slice | n | label | expected | " + " | ".join(systems) + " |"
    lines += [head, "|" + "---|" * (4 + len(systems))]
    for name in order:
        first = next(by_name[s][name] for s in systems if name in by_name[s])
        for label in first.labels:
            exp = first.expected[label]
            cells = [_cell(by_name[s][name].labels.get(label)) if name in by_name[s] else "n/a"
                     for s in systems]
            lines.append(f"| {name} | {first.n} | {label} | {exp} | " + " | ".join(cells) + " |")
    lines += ["", "### Targets (issue 7)", "", "| target | bar | " + " | ".join(systems) + " |",
              "|" + "---|" * (2 + len(systems))]
    checks = {s: {c.target: c for c in check_targets(results_by_system[s], targets)} for s in systems}
    for tid, target in targets.items():
        bar = f"{target.metric} {target.op} {target.bound:g}" if target.metric == "f1" else \
              f"{target.metric} {target.op} {_pct(target.bound)}"
        if target.per_group:
            bar += " (each group)"
        lines.append(f"| {_esc(target.text, 200)} | {bar} | "
                     + " | ".join(_verdict(target, checks[s][tid]) for s in systems) + " |")
    grouped = [n for n in order
               if any(n in by_name[s] and any(lr.groups for lr in by_name[s][n].labels.values())
                      for s in systems)]
    if grouped:
        lines += ["", "### By group", ""]
        for name in grouped:
            first = next(by_name[s][name] for s in systems if name in by_name[s])
            # the labels the slice is about: those its targets measure and those it expects positive
            about = {targets[t].label for t in first.targets if t in targets}
            about |= {lb for lb, v in first.expected.items() if v == 1}
            for label, lr0 in first.labels.items():
                if not lr0.groups or (about and label not in about):
                    continue
                if lr0.positives and lr0.negatives:
                    continue  # mixed: F1 is not broken down
                metric = "recall" if lr0.positives else "fpr"
                lines += [f"**{name}**, {label} ({'recall' if metric == 'recall' else 'share flagged'})", "",
                          "| group | n | " + " | ".join(systems) + " |", "|" + "---|" * (2 + len(systems))]
                for g, entry in lr0.groups.items():
                    cells = []
                    for s in systems:
                        lr = by_name[s].get(name).labels.get(label) if by_name[s].get(name) else None
                        e = lr.groups.get(g, {}).get(metric) if lr else None
                        cells.append(_rate(Rate(**e)) if e else "n/a")
                    lines.append(f"| {g} | {entry['n']} | " + " | ".join(cells) + " |")
                lines.append("")
    lines += ["", "### What fails (a few per slice and label)", ""]
    for s in systems:
        shown = False
        for r in results_by_system[s]:
            for label, lr in r.labels.items():
                for w in lr.worst[: 2 * n_examples]:
                    if not shown:
                        lines += [f"**{s}**", "", "| slice | label | gold | p | text |",
                                  "|---|---|---|---|---|"]
                        shown = True
                    lines.append(f"| {r.name} | {label} | {w['gold']} | {w['probability']:.2f} | "
                                 f"{_esc(w['text'])} |")
        if not shown:
            lines.append(f"**{s}**: nothing fails.")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def results_to_json(
    results_by_system: Mapping[str, Sequence[SliceResult]],
    *,
    targets: Mapping[str, Target] | None = None,
    provenance: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything `format_table` shows, as plain JSON (for the model card and for comparing runs)."""
    if targets is None:
        targets = load_targets()
    return {
        "format_version": 1,
        "provenance": dict(provenance or {}),
        "targets": {tid: asdict(t) for tid, t in targets.items()},
        "systems": {
            s: {
                "slices": [r.to_dict() for r in rs],
                "targets": [asdict(c) for c in check_targets(rs, targets)],
            }
            for s, rs in results_by_system.items()
        },
    }
