"""The challenge suite: manifest and files, held-out vocabulary, the no-overlap rule, metrics, table, CLI."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from raqib import challenge as ch
from raqib.normalise import normalise

REPO = Path(__file__).resolve().parent.parent
SUITE_DIR = REPO / "evaluation" / "challenge"
MANIFEST = SUITE_DIR / "manifest.json"
DATA_DIR = REPO.parent / "shared" / "data"
DIALECTS = {"msa", "gulf", "egyptian", "levantine", "maghrebi"}


@pytest.fixture(scope="module")
def written() -> dict[str, ch.Slice]:
    """The written and generated slices (no shared data needed)."""
    return {s.name: s for s in ch.load_suite(None, manifest=MANIFEST)}


def test_challenge_manifest_is_consistent() -> None:
    meta = ch.read_manifest(MANIFEST)
    targets = ch.load_targets(MANIFEST)
    measured = Counter(t for s in meta["slices"] for t in s["targets"])
    assert set(measured) <= set(targets), "a slice names an unknown target"
    assert set(targets) == set(measured), "every issue target is measured by at least one slice"
    names = [s["name"] for s in meta["slices"]]
    assert len(names) == len(set(names))
    for spec in meta["slices"]:
        assert spec["description"]
        assert set(spec["expected"]) <= set(ch.LABELS)
        assert all(v in (0, 1, "per_row") for v in spec["expected"].values())
        assert sum(k in spec for k in ("file", "shared", "generated")) == 1
        if "file" in spec:
            assert (SUITE_DIR / spec["file"]).is_file()
        if "shared" in spec:
            assert spec["licence"]
    religious = next(s for s in meta["slices"] if s["name"] == "religious_heldout")
    assert "AGPL-3.0" in religious["licence"]


def test_challenge_written_slices_load_with_expected_labels(written: dict[str, ch.Slice]) -> None:
    assert set(written) == {"counter_speech", "insults_hyperbole", "friendly_futures", "violent_functional",
                            "violent_contrasts", "violent_obfuscated", "contrasts_obfuscated",
                            "propaganda_contrasts"}
    expected = {
        "counter_speech": {"violent_call": 0, "propaganda": 0},
        "insults_hyperbole": {"violent_call": 0, "propaganda": 0},
        "friendly_futures": {"violent_call": 0, "propaganda": 0},
        "violent_functional": {"violent_call": 1, "propaganda": 0},
        "violent_contrasts": {"violent_call": 0, "propaganda": 0},
        "violent_obfuscated": {"violent_call": 1, "propaganda": 0},
        "contrasts_obfuscated": {"violent_call": 0, "propaganda": 0},
    }
    for name, exp in expected.items():
        sl = written[name]
        assert len(sl) > 0 and dict(sl.expected) == exp
        for ex in sl.examples:
            assert dict(ex.gold) == exp, (name, ex.id)
    pc = written["propaganda_contrasts"]
    assert Counter(ex.gold["propaganda"] for ex in pc.examples) == {1: 60, 0: 60}
    assert all(ex.gold.get("violent_call", 0) == 0 for ex in pc.examples)
    assert len(written["violent_functional"]) >= 150 and len(written["violent_contrasts"]) >= 90
    assert len(written["counter_speech"]) >= 30 and len(written["insults_hyperbole"]) >= 30


def test_challenge_written_files_are_well_formed() -> None:
    ids: set[str] = set()
    texts: set[str] = set()
    for path in sorted(SUITE_DIR.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            assert r["slice"] == path.stem
            assert r["id"] not in ids
            ids.add(r["id"])
            key = normalise(r["text"])
            assert key not in texts, f"duplicate text {r['text']!r}"
            texts.add(key)
            if "dialect" in r:
                assert r["dialect"] in DIALECTS


def test_challenge_functional_threats_cover_msa_and_every_dialect(written: dict[str, ch.Slice]) -> None:
    per_dialect = Counter(ex.group for ex in written["violent_functional"].examples)
    assert set(per_dialect) == DIALECTS
    assert min(per_dialect.values()) >= 30


def test_challenge_obfuscated_slice_is_generated_deterministically(written: dict[str, ch.Slice]) -> None:
    ob = written["violent_obfuscated"]
    kinds = Counter(ex.group for ex in ob.examples)
    spec = next(s for s in ch.read_manifest(MANIFEST)["slices"] if s["name"] == "violent_obfuscated")
    assert set(kinds) == {"+".join(v) for v in spec["generated"]["variants"]}
    source = {ex.id: ex.text for ex in written["violent_functional"].examples}
    for ex in ob.examples:
        assert ex.text != source[ex.id.split("~")[0]]
        if ex.group == "arabizi_digits":
            assert not ex.id.startswith("vf-msa")
    again = {s.name: s for s in ch.load_suite(None, manifest=MANIFEST, names=["violent_obfuscated"])}
    assert again["violent_obfuscated"].examples == ob.examples


def test_challenge_obfuscated_contrasts_are_written_like_the_threats(written: dict[str, ch.Slice]) -> None:
    """Arabizi and the other learned obfuscations also hit texts that are not calls, in every group: a model
    that learned the script as a sign of violence is caught."""
    co = written["contrasts_obfuscated"]
    contrasts = {ex.id for ex in written["violent_contrasts"].examples}
    arabizi = [ex for ex in co.examples if ex.group == "arabizi_digits"]
    assert {ex.id.split("~")[0] for ex in arabizi} == contrasts
    assert all(re.search(r"[a-z]", ex.text) and not re.search(r"[\u0621-\u064a]", ex.text) for ex in arabizi)
    assert {ex.group for ex in co.examples} == {"arabizi_digits", "stretch_letters", "emoji_substitute"}


def _synthetic_vocabulary() -> tuple[list[str], list[str], list[str]]:
    """Normalised training-template words (verbs), phrases (targets, places, callers, groups) and fragments
    (the fixed text between a template's slots, three words or more)."""
    from raqib import synthetic as sy

    frames = [frame for threats, negations in sy.FUTURE.values() for frame in (*threats, *negations)]
    verbs = [normalise(v) for forms in sy.VERBS for v in forms]
    verbs += [normalise(f.format(s=s, o=o)) for f in frames for s in (*sy.STEMS, *sy.FRIENDLY_STEMS)
              for o in ("ك", "كم")]
    objects = [o for objs in sy.OBJECTS.values() for o in objs]
    idioms = [i for dialect in sy.DIALECT_IDIOMS.values() for i in dialect]
    calls = [c for parts in sy.DIALECT_CALLERS.values() for part in parts for c in part]
    forms = [p for table in (sy.CONDITIONS, sy.KIND_CONDITIONS, sy.OATHS) for parts in table.values() for p in parts]
    phrases = [normalise(p) for p in (*sy.TARGETS, *sy.PLACES, *sy.CALLERS, *sy.GROUP, *sy.ADDRESSES,
                                      *sy.WHEN, *objects, *idioms, *calls, *forms, *sy.GAME_FOES) if p]
    frames = [f for table in (sy.MUST, sy.WHOEVER, sy.PROHIBITIONS) for parts in table.values() for f in parts]
    frames += sy.MUST_THINGS
    fragments = []
    for template in (*sy.DIALECT_THREATS, *sy.DIALECT_CALLS, *sy.NEGATED, *sy.REPORTS, *sy.CONDEMN,
                     *sy.HYPERBOLE, *sy.CURSES, *sy.PROP, *sy.PROP_CALLS, *sy.PROP_NEWS, *frames,
                     *sy.MUST_REJECTED):
        for part in re.split(r"\{\w+\}|'", template):
            part = normalise(part.strip(" ،,"))
            if len(part.split()) >= 3:
                fragments.append(part)
    return verbs, phrases, fragments


def _has_phrase(text: str, phrase: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", text) is not None


def test_challenge_written_slices_hold_out_the_training_templates(written: dict[str, ch.Slice]) -> None:
    verbs, phrases, fragments = _synthetic_vocabulary()
    for name in ("counter_speech", "insults_hyperbole", "friendly_futures", "violent_functional",
                 "violent_contrasts", "propaganda_contrasts"):
        for ex in written[name].examples:
            text = normalise(ex.text)
            assert not [v for v in verbs if _has_phrase(text, v)], (name, ex.text)
            assert not [p for p in phrases if _has_phrase(text, p)], (name, ex.text)
            assert not [f for f in fragments if f in text], (name, ex.text)
    # the threats use none of the templates' verb roots at all, in any form
    from raqib.synthetic import STEMS

    roots = re.compile("|".join(["دبح", *(normalise(stem) for stem in STEMS)]))
    for ex in written["violent_functional"].examples:
        assert not roots.search(normalise(ex.text)), ex.text


def test_challenge_suite_verbs_never_reach_the_generator(written: dict[str, ch.Slice]) -> None:
    """The other direction: the generator writes none of the suite's verbs, in any sense or form.

    Run 12's fixed strings used six of them (18 threats and calls, 7 negatives); the check above only
    covered the conjugated stems, so this one reads every generated text."""
    from raqib import synthetic as sy

    threats = [normalise(ex.text) for ex in written["violent_functional"].examples]
    for verb in sy.SUITE_VERBS:
        assert any(re.search(verb, t) for t in threats), f"{verb} is not a verb of the suite"
    pattern = re.compile("|".join(sy.SUITE_VERBS))
    texts = [normalise(row["text"]) for row in (*sy.generate(), *sy.generate_forms())]
    assert len(texts) > 2000
    leaks = [t for t in texts if pattern.search(t)]
    assert not leaks, leaks[:5]


def test_challenge_threats_share_no_three_words_with_any_generated_text(written: dict[str, ch.Slice]) -> None:
    """Whatever a template writes, no functional threat of the suite repeats three of its words in a row.

    The checks above read the template lists; this one reads the output, so a new template cannot copy a
    phrasing of the suite by accident (run 20's "must", conditional, oath and "whoever" frames)."""
    from raqib import synthetic as sy

    def trigrams(text: str) -> set[str]:
        words = normalise(text).split()
        return {" ".join(words[i:i + 3]) for i in range(len(words) - 2)}

    generated = set().union(*(trigrams(row["text"]) for row in (*sy.generate(), *sy.generate_forms())))
    shared = {ex.text: trigrams(ex.text) & generated for ex in written["violent_functional"].examples}
    assert not {text: grams for text, grams in shared.items() if grams}


def test_challenge_wilson_interval_known_cases() -> None:
    # reference values: statsmodels proportion_confint(k, n, method="wilson")
    assert ch.wilson_interval(0, 10) == pytest.approx((0.0, 0.27753), abs=1e-5)
    assert ch.wilson_interval(5, 10) == pytest.approx((0.23659, 0.76341), abs=1e-5)
    assert ch.wilson_interval(10, 10) == pytest.approx((0.72247, 1.0), abs=1e-5)
    assert ch.wilson_interval(1, 100) == pytest.approx((0.00177, 0.05449), abs=1e-5)
    assert ch.wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        ch.wilson_interval(3, 2)


class _OracleScorer:
    """Flags exactly the gold positives, or everything (to check PASS and MISS)."""

    thresholds = {"violent_call": 0.5, "propaganda": 0.5}

    def __init__(self, gold: dict[str, dict[str, int]], *, flag_all: bool = False) -> None:
        self.gold = gold
        self.flag_all = flag_all
        self.name = "everything" if flag_all else "oracle"

    def probabilities(self, texts: list[str]) -> dict[str, list[float]]:
        return {lb: [1.0 if self.flag_all else float(self.gold[t].get(lb, 0)) for t in texts]
                for lb in self.thresholds}


def test_challenge_targets_pass_and_miss(written: dict[str, ch.Slice]) -> None:
    suite = list(written.values())
    gold = {ex.text: dict(ex.gold) for s in suite for ex in s.examples}
    targets = ch.load_targets(MANIFEST)
    oracle = ch.run_suite(_OracleScorer(gold), suite, n_bootstrap=100)
    everything = ch.run_suite(_OracleScorer(gold, flag_all=True), suite, n_bootstrap=100)
    by_id = {c.target: c for c in ch.check_targets(oracle, targets)}
    assert by_id["violent_functional_recall"].passed is True
    assert len(by_id["violent_functional_recall"].values) == 1 + len(DIALECTS)  # the slice and each dialect
    assert by_id["violent_contrasts_fpr"].passed is True
    assert by_id["propaganda_f1_alfifi"].passed is None  # needs shared data
    worse = {c.target: c for c in ch.check_targets(everything, targets)}
    assert worse["violent_contrasts_fpr"].passed is False
    assert worse["violent_obfuscated_recall"].passed is True
    pc = next(r for r in oracle if r.name == "propaganda_contrasts").labels["propaganda"]
    assert pc.f1 == 1.0 and pc.recall.value == 1.0 and pc.fpr.value == 0.0
    vc = next(r for r in everything if r.name == "violent_contrasts").labels["violent_call"]
    assert vc.fpr.k == vc.fpr.n == len(written["violent_contrasts"])
    assert vc.worst and all(w["gold"] == 0 for w in vc.worst)
    table = ch.format_table({"oracle": oracle, "everything": everything}, targets=targets)
    assert "PASS" in table and "MISS by 97.0 pts" in table and "n/a (slice not run)" in table
    recall, fpr = targets["violent_functional_recall"], targets["violent_contrasts_fpr"]
    measured = [("a", 0.95, None), ("b", 0.40, None), ("c", 0.02, None)]
    assert recall.worst(measured)[0] == "c" and fpr.worst(measured)[0] == "a"
    assert recall.shortfall(0.95) == 0.0 and recall.shortfall(0.40) == pytest.approx(0.50)
    assert fpr.shortfall(0.02) == 0.0 and fpr.shortfall(0.05) == pytest.approx(0.02)
    json.dumps(ch.results_to_json({"oracle": oracle}, targets=targets))


def test_challenge_run_suite_on_tiny_classifier(tiny_classifier, written: dict[str, ch.Slice]) -> None:
    # every slice, a few examples each (the obfuscated slice alone has well over a thousand)
    suite = [ch.Slice(s.name, s.description, s.expected, s.examples[:: max(1, len(s) // 40)], s.targets,
                      s.group_by) for s in written.values()]
    results = ch.run_suite(ch.ClassifierScorer(tiny_classifier), suite, n_bootstrap=50)
    assert [r.name for r in results] == [s.name for s in suite]
    for r, s in zip(results, suite, strict=True):
        assert r.n == len(s) and set(r.labels) == set(s.expected)
        for lr in r.labels.values():
            assert 0.0 <= lr.flag_rate.value <= 1.0 and lr.flag_rate.low <= lr.flag_rate.high
    table = ch.format_table({"tiny": results}, targets=ch.load_targets(MANIFEST))
    for s in suite:
        assert f"| {s.name} |" in table
    assert "### Targets (issue 7)" in table and "### By group" in table


def test_challenge_cli_written_slices(tiny_model_dir: Path, tmp_path: Path, capsys) -> None:
    from raqib.cli import main

    out = tmp_path / "challenge.md"
    code = main(["challenge", "--model", str(tiny_model_dir), "--baseline", "none",
                 "--manifest", str(MANIFEST), "--slices", "counter_speech,insults_hyperbole",
                 "--device", "cpu", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "| counter_speech |" in printed and "| insults_hyperbole |" in printed
    assert out.read_text(encoding="utf-8") == printed
    payload = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    assert payload["provenance"]["slices"] == {"counter_speech": 40, "insults_hyperbole": 50}


def test_challenge_cli_rejects_unknown_slice(capsys) -> None:
    from raqib.cli import main

    assert main(["challenge", "--manifest", str(MANIFEST), "--slices", "nope", "--baseline", "none"]) == 2
    assert "unknown slice" in capsys.readouterr().err


def test_challenge_fit_tfidf_scorer_on_small_rows() -> None:
    texts = {
        1: ["أعدموهم في الساحة الآن", "اشنقوا الخونة كلهم", "سأغتالك الليلة", "أطلقوا النار عليهم"],
        0: ["صباح الخير يا جماعة", "المباراة كانت حلوة", "الجو جميل اليوم", "أدانت الحكومة الهجوم"],
    }
    rows = [{"text": f"{t} {k}", "violent_call": y, "propaganda": 0, "split": split}
            for y, ts in texts.items() for t in ts for k, split in enumerate(["train"] * 4 + ["validation"])]
    scorer = ch.fit_tfidf_scorer(rows)
    assert set(scorer.thresholds) == set(ch.LABELS)
    probs = scorer.probabilities(["اشنقوا الخونة كلهم", "صباح الخير يا جماعة"])
    assert probs["violent_call"][0] > probs["violent_call"][1]


@pytest.mark.slow
def test_challenge_no_suite_text_in_training_or_validation() -> None:
    """The no-overlap rule on the full recipe: nothing in the suite was trained or tuned on."""
    if not DATA_DIR.is_dir():
        pytest.skip(f"shared data not found at {DATA_DIR}: the held-out slices and the recipe need it")
    from raqib.recipes import build_rows

    rows, _ = build_rows(DATA_DIR)
    suite = ch.load_suite(DATA_DIR, manifest=MANIFEST, rows=rows)
    by_name = {s.name: s for s in suite}
    assert set(by_name) == {s["name"] for s in ch.read_manifest(MANIFEST)["slices"]}
    for s in suite:
        assert len(s) > 0, s.name
    assert ch.training_overlap(suite, rows) == []
    # the religious slice is every hadith left out of training, the test part of the kept sample included
    test_hadith = sum(1 for r in rows if r["source"] == "hadith_tirmidhi" and r["split"] == "test")
    assert len(by_name["religious_heldout"]) > test_hadith
    alfifi = Counter(ex.gold["propaganda"] for ex in by_name["alfifi_heldout"].examples)
    assert alfifi[0] > 0 and alfifi[1] > 0
