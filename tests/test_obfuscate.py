"""Obfuscations: each is undone by the normaliser (a model never sees it) or changes what the model sees (so
it has to be learned from examples, and the docs say why the normaliser cannot safely undo it)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from raqib.normalise import normalise
from raqib.obfuscate import OBFUSCATIONS, obfuscate

REPO = Path(__file__).resolve().parent.parent
FUNCTIONAL = REPO / "evaluation" / "challenge" / "violent_functional.jsonl"

# Real-looking posts beyond the threats: punctuation, hashtags, mentions, links, digits, Latin, emoji,
# newlines, one-letter words, doubled letters, diacritics and hamza forms, which the obfuscations must not
# disturb.
OTHER_EXAMPLES = [
    "قالت وزارة الداخلية إن قوات الأمن اعتقلت خلية تابعة لتنظيم داعش في ريف المدينة.",
    "@user صباح الخير يا جماعة، الجو اليوم حلو مرة 😍 #الرياض_الآن",
    "ممكن حد يقولي فين أقرب صيدلية؟ https://example.com/map",
    "الله أكبر ولله الحمد، عيد مبارك على الجميع 🌙",
    "و الله ما فهمت شي من المحاضرة\nبكرة الامتحان الساعة 9",
    "قُلْ هُوَ اللَّهُ أَحَدٌ",
    "مبروك للهلال الفوز 3-1 على النصر، مباراة ممتازة",
    "Je suis d'accord avec toi, يعطيك الصحة خويا",
]


def _examples() -> list[str]:
    rows = [json.loads(line) for line in FUNCTIONAL.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r["text"] for r in rows] + OTHER_EXAMPLES


EXAMPLES = _examples()
UNDONE = [name for name, o in OBFUSCATIONS.items() if o.undone_by_normaliser]
LEARNED = [name for name, o in OBFUSCATIONS.items() if not o.undone_by_normaliser]


def test_obfuscate_every_kind_documents_whether_it_is_undone() -> None:
    assert set(UNDONE) == {"space_letters", "dot_letters", "elongate", "add_diacritics", "persian_lookalikes",
                           "zero_width"}
    assert set(LEARNED) == {"stretch_letters", "emoji_substitute", "arabizi_digits"}
    for o in OBFUSCATIONS.values():
        assert o.why and o.apply.__doc__, o.name


@pytest.mark.parametrize("kind", UNDONE)
def test_obfuscate_undone_by_normaliser(kind: str) -> None:
    fn = OBFUSCATIONS[kind].apply
    changed = 0
    for seed in range(3):
        for text in EXAMPLES:
            out = fn(text, random.Random(seed))
            changed += out != text
            assert normalise(out) == normalise(text), (kind, seed, out)
    assert changed >= 0.9 * 3 * len(EXAMPLES) - 3 * len(OTHER_EXAMPLES), f"{kind} rarely changes anything"


@pytest.mark.parametrize("kind", LEARNED)
def test_obfuscate_learned_kinds_change_what_the_model_sees(kind: str) -> None:
    fn = OBFUSCATIONS[kind].apply
    changed = 0
    for seed in range(3):
        for text in EXAMPLES:
            out = fn(text, random.Random(seed))
            if out != text:
                changed += 1
                assert normalise(out) != normalise(text), (kind, out)
    assert changed >= 0.5 * 3 * len(EXAMPLES), f"{kind} rarely changes anything"


def test_obfuscate_is_deterministic_and_ignores_global_random() -> None:
    text = "اشنقوا نواب البرلمان على أعمدة الكهرباء"
    kinds = ["persian_lookalikes", "add_diacritics", "zero_width"]
    random.seed(1)
    a = obfuscate(text, kinds, seed=3)
    random.seed(2)
    assert obfuscate(text, kinds, seed=3) == a
    assert len({obfuscate(text, kinds, seed=s) for s in range(5)}) > 1
    assert normalise(a) == normalise(text)


def test_obfuscate_unknown_kind_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="space_letters"):
        obfuscate("نص", ["rot13"])


def test_obfuscate_leaves_text_without_arabic_alone() -> None:
    for kind in OBFUSCATIONS:
        assert obfuscate("hello world 123 !", [kind]) == "hello world 123 !"
        assert obfuscate("", [kind]) == ""


def test_obfuscate_spaced_word_never_touches_a_one_letter_neighbour() -> None:
    # the normaliser would join a detached و onto the spaced letters, so such words are left alone
    for seed in range(20):
        out = obfuscate("و اعدموهم", ["space_letters"], seed=seed)
        assert out == "و اعدموهم"


def test_obfuscate_examples() -> None:
    assert obfuscate("اعدموهم", ["space_letters"]) == "ا ع د م و ه م"
    dotted = obfuscate("اعدموهم", ["dot_letters"])
    assert len(dotted) == 13 and dotted[::2] == "اعدموهم"
    assert "🔫" in obfuscate("أطلقوا الرصاص", ["emoji_substitute"])
    assert obfuscate("هموتك يا عمر", ["arabizi_digits"], seed=1).startswith("hmotk ya 3m")
    assert normalise(obfuscate("هموتك", ["stretch_letters"])) != "هموتك"
    assert obfuscate("اعدموهم", ["elongate", "zero_width"]) != "اعدموهم"
