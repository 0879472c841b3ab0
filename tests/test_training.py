"""Training end to end on a tiny encoder, and the data recipe's rules (dedup, masks, splits without overlap)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from raqib import recipes

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def test_training_writes_a_complete_compact_model_dir(tmp_path):
    from safetensors.torch import load_file

    from conftest import build_tiny_encoder
    from raqib.classifier import Classifier
    from raqib.training import TrainingConfig, train

    base = build_tiny_encoder(tmp_path / "base")
    pos = [{"text": "سوف اقتلك يا شباب", "violent_call": 1, "propaganda": 0},
           {"text": "الدولة الاسلامية باقية", "violent_call": 0, "propaganda": 1}]
    neg = [{"text": "صباح الخير الطقس جميل اليوم", "violent_call": 0, "propaganda": 0},
           {"text": "اعتقلت قوات الامن خلية تابعة لتنظيم داعش", "violent_call": 0, "propaganda": 0}]
    rows = (pos + neg) * 6
    cfg = TrainingConfig(base_model=str(base), epochs=1, batch_size=8, max_length=16, inference_max_length=16,
                         window_stride=4, lora_r=2, bf16=False, positive_oversample=1,
                         min_precision={"propaganda": 0.9})
    clf = train(rows, rows, tmp_path / "model", cfg, progress=False)
    out = tmp_path / "model"
    config = json.loads((out / "config.json").read_text())["raqib"]
    assert config["base"]["name"] == str(base) and config["adapter"]["type"] == "lora"
    assert set(config["calibration"]) == set(config["thresholds"]) == {"violent_call", "propaganda"}
    assert all(0.0 <= t <= 1.0 for t in config["thresholds"].values())
    weights = load_file(out / "model.safetensors")
    assert weights and all(".lora_" in k or k.startswith(("classifier.", "bert.pooler.")) for k in weights)
    record = json.loads((out / "training.json").read_text())
    assert record["steps"] == record["planned_steps"] == 3
    assert (record["device"], record["precision"]) == ("cpu", "float32")  # bf16=False: what ran, for the card
    assert "precision >= 0.9" in record["thresholds"]["propaganda"]["rule"]  # its floor, met or fallen back from
    assert record["thresholds"]["violent_call"]["rule"].startswith("max F1")
    loaded = Classifier.from_dir(out, device="cpu", dtype="float32", cache_size=0)
    texts = [r["text"] for r in rows[:4]]
    a = [r.probabilities for r in loaded.score_batch(texts)]
    b = [r.probabilities for r in clf.score_batch(texts)]
    for x, y in zip(a, b, strict=True):
        assert all(abs(x[k] - y[k]) < 1e-4 for k in x)
    # padding never reaches the head: a short post scores the same alone and beside a long one
    alone = loaded.score_batch(texts[:1])[0].probabilities
    padded = loaded.score_batch([texts[0], " ".join(r["text"] for r in rows[:3])])[0].probabilities
    assert all(abs(alone[k] - padded[k]) < 1e-4 for k in alone)


def test_recipe_masks_and_dedup_key():
    assert recipes.clean_source_text("<USER> مرحبا<LF>سطر مستخدم@ <URL>") == "@USER مرحبا\nسطر @USER URL"
    key = recipes.dedup_key("@USER قتلوهم #سوريا URL !!")
    assert key == recipes.dedup_key("قتلوهم #العراق") == "قتلوهم"


def test_recipe_split_is_stable_and_proportioned():
    splits = [recipes.split_of(f"نص رقم {i}") for i in range(5000)]
    assert splits == [recipes.split_of(f"نص رقم {i}") for i in range(5000)]
    share = {s: splits.count(s) / len(splits) for s in ("train", "validation", "test")}
    assert 0.77 < share["train"] < 0.83 and 0.08 < share["test"] < 0.12


def test_recipe_splits_share_no_text_and_synthetic_is_train_only():
    if not DATA.is_dir():
        pytest.skip(f"{DATA} (the shared labelled data) is not beside this checkout")
    rows, counts = recipes.build_rows(DATA)
    train_only = tuple(s.name for s in recipes.DEFAULT_SOURCES if s.train_only)
    by_split: dict[str, set[str]] = {"train": set(), "validation": set(), "test": set()}
    for r in rows:
        by_split[r["split"]].add(r["key"])
        if r["source"].startswith(train_only):
            assert r["split"] == "train"
    assert not by_split["train"] & by_split["test"]
    assert not by_split["train"] & by_split["validation"]
    assert not by_split["validation"] & by_split["test"]
    assert len({r["key"] for r in rows}) == len(rows)
    assert counts["alfifi_isis"]["propaganda"] > 600 and counts["dangerous_speech"]["violent_call"] > 1000


def test_recipe_carries_unannotated_labels_until_another_source_judges_the_text(tmp_path):
    def propaganda_only(root):
        yield {"text": "اقتلوهم يا جنود الخلافة", "violent_call": 0, "propaganda": 1, "source": "p"}
        yield {"text": "باقية وتتمدد", "violent_call": 0, "propaganda": 1, "source": "p"}

    def both(root):
        yield {"text": "اقتلوهم يا جنود الخلافة!!", "violent_call": 1, "propaganda": 0, "source": "b"}

    sources = (recipes.SourceSpec("p", propaganda_only, None, "role", "lic", unannotated=("violent_call",)),
               recipes.SourceSpec("b", both, None, "role", "lic"))
    rows, counts = recipes.build_rows(tmp_path, sources=sources)
    by_text = {r["text"]: r for r in rows}
    assert by_text["باقية وتتمدد"]["unannotated"] == ["violent_call"]
    merged = by_text["اقتلوهم يا جنود الخلافة"]  # the near copy from "b" judged violent_call: it is known now
    assert merged["unannotated"] == [] and merged["violent_call"] == 1 and merged["propaganda"] == 1
    assert counts["p"]["unannotated"] == ["violent_call"] and "unannotated" not in counts["b"]
    written = [json.loads(line) for path in recipes.write_splits(rows, tmp_path / "splits").values()
               for line in path.read_text(encoding="utf-8").splitlines()]
    assert sorted(r["text"] for r in written) == sorted(by_text)
    assert all(set(r) == {"text", "source", "violent_call", "propaganda"} for r in written)


def test_unannotated_labels_are_left_out_of_the_loss(tmp_path):
    """Flipping an unannotated label changes nothing in the trained weights; flipping an annotated one does."""
    from safetensors.torch import load_file

    from conftest import build_tiny_encoder
    from raqib.training import TrainingConfig, annotated_mask, train

    assert annotated_mask([{"unannotated": ["violent_call"]}, {}], ("violent_call", "propaganda")).tolist() == [
        [0.0, 1.0], [1.0, 1.0]]
    base = build_tiny_encoder(tmp_path / "base")
    cfg = TrainingConfig(base_model=str(base), epochs=1, batch_size=4, max_length=16, inference_max_length=16,
                         window_stride=4, lora_r=2, bf16=False, positive_oversample=1)

    def weights(violent: int, unannotated: list[str], name: str):
        rows = [{"text": t, "violent_call": violent * p, "propaganda": p, "unannotated": unannotated}
                for t, p in (("الدولة الاسلامية باقية", 1), ("صباح الخير", 0), ("ابايع امير المؤمنين", 1),
                             ("الجو جميل", 0))] * 3
        train(rows, rows, tmp_path / name, cfg, progress=False)
        return load_file(tmp_path / name / "model.safetensors")

    a, b = weights(0, ["violent_call"], "a"), weights(1, ["violent_call"], "b")
    assert all(a[k].equal(b[k]) for k in a)
    c = weights(1, [], "c")
    assert not all(a[k].equal(c[k]) for k in a)


def test_a_training_only_source_never_relabels_or_moves_a_held_out_text(tmp_path):
    letters = "بتثجحخدذرزسشصضطظعغفقكلمنهوي"

    def real(root):
        for i in range(40):
            word = f"{letters[i % 20]}ا{letters[i // 20 + 3]}ل"
            yield {"text": f"تغريدة عادية عن {word}", "violent_call": 0, "propaganda": 0, "source": "real"}

    def reviewed(root):
        for r in real(root):
            yield {**r, "propaganda": 1, "source": "mined"}
        yield {"text": "نص جديد لم تره المجموعة", "violent_call": 1, "propaganda": 0, "source": "mined"}

    sources = (recipes.SourceSpec("real", real, None, "role", "lic"),
               recipes.SourceSpec("mined", reviewed, None, "role", "lic", train_only=True))
    rows, counts = recipes.build_rows(tmp_path, sources=sources)
    real_rows = [r for r in rows if r["source"] == "real"]
    assert len(real_rows) == 40 and not any(r["propaganda"] for r in real_rows)
    assert {r["split"] for r in real_rows} == {"train", "validation", "test"}
    assert counts["mined"]["duplicates"] == 40 and counts["mined"]["kept"] == 1
    assert [r["split"] for r in rows if r["source"] == "mined"] == ["train"]


def test_mined_recipes_keep_the_reviewed_rows_they_name(monkeypatch):
    reviewed = [{"text": f"t{v}{p}", "violent_call": v, "propaganda": p, "source": "mined"}
                for v in (0, 1) for p in (0, 1)]
    monkeypatch.setattr(recipes, "read_mined", lambda root, review_round=1: iter(
        [{**r, "text": "2" * (review_round - 1) + r["text"]} for r in reviewed]))
    assert [r["text"] for r in recipes.read_mined_positives(DATA)] == ["t01", "t10", "t11"]
    spec = recipes.RECIPES["mined_positives"]
    assert [s.name for s in spec[:-1]] == [s.name for s in recipes.DEFAULT_SOURCES[:-1]] + ["mined"]
    assert spec[-1] is recipes.DEFAULT_SOURCES[-1] and recipes.MINED_POSITIVES.train_only
    assert [r["text"] for r in recipes.read_mined_threats(DATA)] == ["t10"]
    spec = recipes.RECIPES["mined_threats"]
    assert [s.name for s in spec[:-1]] == [s.name for s in recipes.DEFAULT_SOURCES[:-1]] + ["mined"]
    assert spec[-2] is recipes.MINED_THREATS and recipes.MINED_THREATS.train_only
    spec = recipes.RECIPES["threat_forms"]
    assert spec[:-1] == recipes.RECIPES["mined_threats"][:-1] + (recipes.SYNTHETIC_FORMS,)
    assert spec[-1] is recipes.DEFAULT_SOURCES[-1] and recipes.SYNTHETIC_FORMS.train_only
    assert [r["text"] for r in recipes.MINED_THREATS_ROUND2.read(DATA)] == ["2t10"]
    spec = recipes.RECIPES["mined_threats2"]
    assert spec[:-1] == recipes.RECIPES["mined_threats"][:-1] + (recipes.MINED_THREATS_ROUND2,)
    assert spec[-1] is recipes.DEFAULT_SOURCES[-1] and recipes.MINED_THREATS_ROUND2.train_only


def test_train_command_offers_exactly_the_recipes_that_exist():
    """The CLI spells the names out so that `raqib --help` need not import the recipes; they must not drift."""
    from raqib.cli import build_parser

    train = build_parser()._subparsers._group_actions[0].choices["train"]
    (recipe,) = [a for a in train._actions if a.dest == "recipe"]
    assert list(recipe.choices) == list(recipes.RECIPES)


def test_every_reviewed_row_is_found_once_in_the_pools_and_is_new_to_the_recipe():
    """mined.tsv names rows by key hash: each must still exist, outside the recipe's sample (so never held out)."""
    if not DATA.is_dir():
        pytest.skip(f"{DATA} (the shared labelled data) is not beside this checkout")
    from importlib.resources import files

    lines = [ln for ln in files("raqib").joinpath(recipes.MINED_FILE).read_text(encoding="utf-8").splitlines()
             if ln and not ln.startswith("#")][1:]
    hashes = [ln.split("\t")[1] for ln in lines]
    assert len(set(hashes)) == len(hashes)
    rounds = [int(ln.split("\t")[4]) for ln in lines]
    round2 = recipes.SourceSpec("mined_round2", lambda root: recipes.read_mined(root, review_round=2), None,
                                "every row of the second round", "as each pool", train_only=True)
    rows, counts = recipes.build_rows(DATA, sources=recipes.RECIPES["mined"][:-1] + (round2,))
    found = [r for r in rows if r["source"] in ("mined", "mined_round2")]
    for name, n in (("mined", rounds.count(1)), ("mined_round2", rounds.count(2))):
        got = counts.get(name, {})
        assert got.get("read", 0) == n and got.get("kept", 0) == n and not got.get("duplicates")
    assert sum(r["violent_call"] or r["propaganda"] for r in found) < len(found)  # hard negatives too
    assert {r["split"] for r in found} == {"train"}


def test_arabizi_rows_copy_only_kept_training_rows_and_keep_their_labels(monkeypatch, tmp_path):
    """Arabizi copies are drawn from the rows the recipe kept in the training split, so no held-out text is seen
    in any script and no text the caps left out comes in, and they keep the original's labels: everyday talk in
    Arabizi is a negative."""
    from raqib.obfuscate import obfuscate

    words = ["بيت", "بحر", "نهر", "ولد", "مدرسة", "ورد", "كلب", "نمر", "بنت", "دار"]  # one Arabizi spelling each
    texts = [f"{a} {b} {c}" for a in words for b in words for c in words if len({a, b, c}) == 3][:300]

    def pool(_root):
        for i, t in enumerate(texts):
            yield {"text": t, "violent_call": int(i % 5 == 0), "propaganda": 0, "source": "pool"}

    monkeypatch.setattr(recipes, "ARABIZI_SOURCES", ("pool",))
    monkeypatch.setattr(recipes, "ARABIZI_ROWS", 10_000)
    arabizi = next(s for s in recipes.DEFAULT_SOURCES if s.name == "arabizi")
    capped = recipes.SourceSpec("pool", pool, 200, "role", "lic")  # 60 positives kept, 200 of 240 negatives
    rows, counts = recipes.build_rows(tmp_path, sources=(capped, arabizi))
    kept = [r for r in rows if r["source"] == "pool"]
    train = [r for r in kept if r["split"] == "train"]
    assert 0 < len(train) < len(kept) < len(texts)
    copies = [r for r in rows if r["source"] == "arabizi"]
    expected = {obfuscate(r["text"], ["arabizi_digits"], seed=0): r["violent_call"] for r in train}
    assert {r["text"]: r["violent_call"] for r in copies} == expected
    assert {r["split"] for r in copies} == {"train"} and counts["arabizi"]["kept"] == len(copies)
    assert sum(expected.values()) < len(expected) / 2  # mostly not calls


@pytest.mark.parametrize("read", [recipes.read_synthetic, recipes.read_synthetic_forms])
def test_synthetic_obfuscated_copies_include_contrasts(tmp_path, read):
    """The obfuscations the model must learn hit calls and contrasts alike, or the writing becomes the signal."""
    rows = [r for r in read(tmp_path) if r["source"] == "synthetic_obfuscated"]
    calls = sum(r["violent_call"] for r in rows)
    assert 0 < calls < len(rows)


def test_threat_forms_come_with_contrasts_in_the_same_frames():
    """Every threat form of run 20 is written in every dialect, and its frames also carry negatives."""
    from raqib import synthetic as sy

    rows = list(sy.generate_forms())
    assert rows == list(sy.generate_forms())  # seeded
    forms = Counter(r["source"] for r in rows if r["violent_call"])
    assert set(forms) == {"synthetic_must", "synthetic_conditional", "synthetic_oath", "synthetic_whoever"}
    assert set(sy.MUST) == set(sy.CONDITIONS) == set(sy.OATHS) == set(sy.WHOEVER) == set(sy.PROHIBITIONS) \
        == set(sy.FUTURE)
    assert {"synthetic_prohibition", "synthetic_object"} <= {r["source"] for r in rows if not r["violent_call"]}
    negatives = [r["text"] for r in rows if not r["violent_call"]]
    assert len(negatives) >= len(rows) / 3
    for opener in (o for oaths in sy.OATHS.values() for o in oaths):  # the oaths also swear kindness
        assert any(t.startswith(opener) for t in negatives), opener
    assert {r["propaganda"] for r in rows} == {0}
