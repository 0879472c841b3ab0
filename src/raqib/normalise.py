"""The Arabic normaliser: what every post looks like to the model, at training and at inference.

A normaliser version is a fixed tuple of steps. Each step is one rule table (a ``str.translate`` map, a
compiled regex with its replacement, or NFKC) with two ways to run it: ``apply`` (the fast path used by
:func:`normalise`) and ``apply_with_map`` (the same rule, also saying where each output character came from,
used by :func:`normalise_with_offsets`). Both read the same table, so the two paths cannot drift apart.

Any change to any output means a new ``NORMALISER_VERSION``: a trained model pins the version it saw. Keep old
versions while a shipped model names them.
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources

import camel_tools
from camel_tools.utils.normalize import (
    normalize_alef_ar,
    normalize_alef_maksura_ar,
    normalize_teh_marbuta_ar,
    normalize_unicode,
)

from raqib.errors import IncompatibleModelError

__all__ = [
    "NORMALISER_NAME",
    "NORMALISER_VERSION",
    "SUPPORTED_VERSIONS",
    "Normalised",
    "NormaliserOptions",
    "normalise",
    "normalise_with_offsets",
    "normaliser_info",
    "normaliser_options",
]

NORMALISER_NAME = "raqib"
NORMALISER_VERSION = "1"
SUPPORTED_VERSIONS: tuple[str, ...] = ("1",)


@dataclass(frozen=True, slots=True)
class NormaliserOptions:
    """The letter-merging choices of one normaliser version (frozen: a model depends on them)."""

    unify_alef: bool = True
    """أ إ آ ٱ → ا: on. Hamza on alef is written inconsistently on social media; merging makes 2.3% fewer
    word types on 4,000 posts of shared/data at no token cost (2.12 → 2.15 e5 pieces per affected word)."""
    alef_maksura_to_yeh: bool = False
    """ى → ي: off. No token gain (1.74 → 1.75 pieces per affected word) and it merges words (على / علي)."""
    teh_marbuta_to_heh: bool = False
    """ة → ه: off. The e5 tokenizer learnt standard spelling: affected words go from 2.28 to 2.72 pieces and
    from 62% to 45% whole-word pieces (الدولة، ولاية)."""


_OPTIONS: dict[str, NormaliserOptions] = {"1": NormaliserOptions()}


@dataclass(frozen=True, slots=True)
class Normalised:
    """Normalised text plus, for each of its characters, where it came from in the original text."""

    text: str
    offsets: tuple[int, ...]
    """len(text) + 1 entries: offsets[i] is the index in the original of normalised character i;
    offsets[len(text)] is len(original). Non-decreasing."""

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """The original span (end exclusive) that normalised ``text[start:end]`` came from.

        Indices are clipped like a slice. The span runs to where the next normalised character came from, so
        it covers characters the normaliser deleted (diacritics, tatweel, a collapsed run) inside the span.
        """
        n = len(self.text)
        start = min(max(start, 0), n)
        end = min(max(end, start), n)
        orig_start = self.offsets[start]
        if end == start:
            return orig_start, orig_start
        orig_end = max(self.offsets[end], self.offsets[end - 1] + 1)
        return orig_start, min(orig_end, self.offsets[n])


# ------------------------------------------------------------------------------------------------------------
# Steps: one rule table, two ways to run it.


def _align(text: str, start: int, end: int, repl: str) -> list[int]:
    """Map each character of a replacement back into ``text[start:end]``.

    Greedy subsequence match: a replacement that keeps some of the matched characters (joined letters, a
    collapsed run) points each kept one at its source; new characters (``URL``, an emoji's word) point at the
    position reached so far. Monotone, and always inside the match.
    """
    out: list[int] = []
    pos = start
    last = end - 1
    find = text.find
    for ch in repl:
        j = find(ch, pos, end) if pos < end else -1
        if j >= 0:
            out.append(j)
            pos = j + 1
        else:
            out.append(min(pos, last))
    return out


def _pad_map(repl: str, start: int, end: int, length: int) -> list[int]:
    """Map a mask (`` URL ``) onto its match: leading spaces and the word point at the match start, trailing
    spaces at the character after the match, so a span over the mask covers the whole match."""
    core = len(repl.rstrip(" "))
    if core == 0:
        return [start] * len(repl)
    after = min(end, length - 1)
    return [start] * core + [after] * (len(repl) - core)


class _CharMap:
    """A character-for-string table: ``str.translate`` on the fast path."""

    __slots__ = ("table",)

    def __init__(self, table: dict[int, str | None]) -> None:
        self.table = table

    def apply(self, text: str) -> str:
        return text.translate(self.table)

    def apply_with_map(self, text: str) -> tuple[str, list[int]]:
        get = self.table.get
        parts: list[str] = []
        idx: list[int] = []
        for i, ch in enumerate(text):
            r = get(ord(ch), ch)
            if r:
                parts.append(r)
                idx.extend([i] * len(r))
        return "".join(parts), idx


class _Sub:
    """A compiled regex and its replacement (a literal without backslashes, or a function of the match).

    ``trigger`` lists substrings without which the regex cannot match: a cheap skip on the fast path only.
    """

    __slots__ = ("pattern", "repl", "trigger", "keeps")

    def __init__(
        self,
        pattern: re.Pattern[str],
        repl: str | Callable[[re.Match[str]], str],
        trigger: tuple[str, ...] = (),
        *,
        keeps: bool = False,
    ) -> None:
        if isinstance(repl, str) and "\\" in repl:
            raise ValueError("literal replacements must not contain backslashes")
        self.pattern = pattern
        self.repl = repl
        self.trigger = trigger
        # keeps: the replacement keeps characters of the match (joined letters, a shortened run), so they are
        # aligned to their sources; otherwise (a mask such as URL) the whole replacement points at the match
        # start.
        self.keeps = keeps

    def apply(self, text: str) -> str:
        if self.trigger and not any(t in text for t in self.trigger):
            return text
        return self.pattern.sub(self.repl, text)

    def apply_with_map(self, text: str) -> tuple[str, list[int]]:
        parts: list[str] = []
        idx: list[int] = []
        last = 0
        repl = self.repl
        for m in self.pattern.finditer(text):
            s, e = m.span()
            parts.append(text[last:s])
            idx.extend(range(last, s))
            r = repl if isinstance(repl, str) else repl(m)
            parts.append(r)
            idx.extend(_align(text, s, e, r) if self.keeps else _pad_map(r, s, e, len(text)))
            last = e
        parts.append(text[last:])
        idx.extend(range(last, len(text)))
        return "".join(parts), idx


# Characters that can compose with the character before them although their combining class is 0 (Hangul
# jamo, compatibility jamo, a few Indic vowel signs): they stay in the previous NFKC cluster.
_NFKC_CONTINUES = re.compile(
    "[\u0b3e\u0b56\u0b57\u0bbe\u0bd7\u0c56\u0cc2\u0cd5\u0cd6\u0d3e\u0d57\u0dcf\u0ddf\u102e\u1161-\u1175"
    "\u11a8-\u11c2\u1b35\u3131-\u318e\uffa0-\uffdc\U000110a7\U00011127\U0001133e\U00011357\U000114b0"
    "\U000114ba\U000114bd\U000115af\U00011930]"
)


class _Nfkc:
    """Unicode NFKC (presentation forms ﻻ ﷲ, full-width Latin, NBSP, ligatures), as camel_tools does it.

    ``camel_tools.utils.normalize.normalize_unicode`` is two character fixes (﷼ ﷽, in the pre-NFKC table) plus
    ``unicodedata.normalize('NFKC')``; they are split so the offsets path can follow the fixes.
    """

    __slots__ = ()

    def apply(self, text: str) -> str:
        return text if text.isascii() else unicodedata.normalize("NFKC", text)

    def apply_with_map(self, text: str) -> tuple[str, list[int]]:
        whole = self.apply(text)
        if whole == text:
            return text, list(range(len(text)))
        # NFKC cluster by cluster (a starter plus what can combine with it), then check against the whole.
        combining = unicodedata.combining
        cont = _NFKC_CONTINUES.match
        parts: list[str] = []
        idx: list[int] = []
        n = len(text)
        i = 0
        while i < n:
            j = i + 1
            while j < n and (combining(text[j]) or cont(text, j)):
                j += 1
            seg = text[i:j]
            r = seg if seg.isascii() else unicodedata.normalize("NFKC", seg)
            parts.append(r)
            idx.extend(_align(text, i, j, r) if r != seg else range(i, j))
            i = j
        if "".join(parts) == whole:
            return whole, idx
        # Pathological input where clusters interact: fall back to a proportional map (monotone, in range).
        m = len(whole)
        return whole, [k * n // m for k in range(m)]


class _Whitespace:
    """Every whitespace run (newline, tab, NBSP after NFKC, ...) becomes one space; ends are stripped."""

    __slots__ = ()
    _RUN = re.compile(r"\s+")

    def apply(self, text: str) -> str:
        return " ".join(text.split())

    def apply_with_map(self, text: str) -> tuple[str, list[int]]:
        out, idx = _Sub(self._RUN, " ", keeps=True).apply_with_map(text)
        lo, hi = 0, len(out)
        if out.startswith(" "):
            lo = 1
        if hi > lo and out.endswith(" "):
            hi -= 1
        return out[lo:hi], idx[lo:hi]


_Step = _CharMap | _Sub | _Nfkc | _Whitespace


# ------------------------------------------------------------------------------------------------------------
# Rule tables.


def _span(first: int, last: int) -> range:
    return range(first, last + 1)


# Invisible format characters: zero-width (ZWSP ZWNJ ZWJ WJ), bidi controls (LRM RLM ALM LRE RLE PDF LRO RLO
# LRI RLI FSI PDI), BOM, soft hyphen, CGJ, Mongolian selectors, variation selectors (U+FE0F emoji
# presentation), language tags. Deleted *before* NFKC, so nothing invisible can block or fake a composition.
_INVISIBLE = [
    0x00AD,
    0x034F,
    0x061C,
    0x115F,
    0x1160,
    0x17B4,
    0x17B5,
    0x180E,
    0x3164,
    0xFEFF,
    0xFFA0,
    0xE0001,
    *_span(0x180B, 0x180F),
    *_span(0x200B, 0x200F),
    *_span(0x202A, 0x202E),
    *_span(0x2060, 0x206F),
    *_span(0xFE00, 0xFE0F),
    *_span(0xE0020, 0xE007F),
    *_span(0xE0100, 0xE01EF),
    *_span(0xFFF9, 0xFFFB),
]
# Private-use characters (BMP): old vendor emoji encodings (SoftBank U+E001-E537 in 2015 tweets) that no
# font or tokenizer reads; they only tell which phone or corpus a post came from.
_PRIVATE_USE = _span(0xE000, 0xF8FF)
# C0/C1 controls that are not whitespace (whitespace controls are collapsed to spaces later), and lone
# surrogates (they cannot be encoded as UTF-8, so the tokenizer would fail on them).
_CONTROLS = [*_span(0x00, 0x08), *_span(0x0E, 0x1B), *_span(0x7F, 0x84), *_span(0x86, 0x9F)]
_SURROGATES = _span(0xD800, 0xDFFF)
_TATWEEL = 0x0640

# Arabic marks beyond camel_tools' AR_DIAC_CHARSET (tashkeel, shadda, sukun, superscript alef): maddah and
# hamza above/below (after NFKC has composed them into letters), the other combining marks U+0656-065F,
# Quranic annotation signs U+0610-061A and U+06D6-06ED, extended Quranic marks U+08CA-08FF.
_EXTRA_MARKS = [
    *_span(0x0610, 0x061A),
    *_span(0x064B, 0x065F),
    0x0670,
    *_span(0x06D6, 0x06ED),
    *_span(0x08CA, 0x08FF),
]

# Persian/Urdu/Kurdish letters that are look-alikes of Arabic ones (keyboard layouts, copy-paste).
# پ چ ڤ گ are kept: Arabic dialects write them for p, ch, v, g.
_LOOKALIKES = {
    "\u06a9": "\u0643",  # ک keheh → ك
    "\u06aa": "\u0643",  # ڪ swash kaf → ك
    "\u06cc": "\u064a",  # ی Farsi yeh → ي
    "\u06c0": "\u0647",  # ۀ heh with yeh above → ه
    "\u06c1": "\u0647",  # ہ heh goal → ه
    "\u06c2": "\u0647",  # ۂ heh goal with hamza → ه
    "\u06be": "\u0647",  # ھ heh doachashmee → ه
    "\u06d5": "\u0647",  # ە ae → ه
    "\u06c3": "\u0629",  # ۃ teh marbuta goal → ة
}
_ALEF_EXTRA = "\u0672\u0673\u0675"  # ٲ ٳ ٵ (wavy hamza / high hamza alef), beyond camel_tools' four
_DIGITS = {
    **{chr(0x0660 + d): str(d) for d in range(10)},
    **{chr(0x06F0 + d): str(d) for d in range(10)},
    "\u066a": "%",
    "\u066b": ".",
    "\u066c": ",",
}

# Dataset artefacts that stand for the same thing in different corpora: the OSACT newline marker, ArMI's and
# dangerous_speech's user masks, lower/angle-bracket URL masks. Unifying them stops a model from learning
# which corpus a post came from.
_ARTEFACT_RE = re.compile(r"<LF>|<USER>|مستخدم@|<URL>|<url>")
_ARTEFACTS = {"<LF>": " ", "<USER>": " @USER ", "مستخدم@": " @USER ", "<URL>": " URL ", "<url>": " URL "}

# Social-media entities, masked the way the OSACT data already is (URL, @USER), plus EMAIL and PHONE.
_URL_RE = re.compile(r"(?:[Hh][Tt][Tt][Pp][Ss]?://|[Ww]{3}\.)(?:[!-~]*[A-Za-z0-9/=_#-])?")
_URL_TRIGGERS = ("://", "ww.", "wW.", "Ww.", "WW.")  # one of these is in every match
_EMAIL_RE = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
)
_MENTION_RE = re.compile(r"@[A-Za-z0-9_]+")
# 9 to 15 digits (E.164 allows at most 15), optionally led by + or 00, with single spaces or hyphens allowed
# between digits. Shorter numbers (years, counts) are kept.
_PHONE_RE = re.compile(r"(?<![\w+])\+?\d(?:[ -]?\d){8,14}(?!\d)")
# Hashtags keep their '#' on the first word; underscores become spaces so the tokenizer sees words.
_HASHTAG_RE = re.compile(r"#\w*_\w*")


def _hashtag(m: re.Match[str]) -> str:
    words = [w for w in m.group()[1:].split("_") if w]
    return "#" + " ".join(words)


# Obfuscated words: single Arabic letters separated by spaces, dots, underscores, hyphens, asterisks or middle
# dots (ق ت ل, ق.ت.ل, ق_ت_ل, ق-ت-ل, ق . ت . ل). Joined when there are at least 3 letters, or at least 2 with a
# separator no ordinary text puts between two letters (_ - * ·). Dots alone need 3 so that abbreviations (ق.م,
# ص.ب, أ.د) survive. The run must not touch another letter or digit, so a standalone و before a normal word is
# never joined.
_AR_LETTER = "\u0621-\u063a\u0641-\u064a\u066e\u066f\u0671-\u06d3\u06fa-\u06fc\u06ff"
_JOIN_RE = re.compile(
    rf"(?<![^\W_])[{_AR_LETTER}](?:(?: ?[._*\-\u00b7\u2022]+ ?| )[{_AR_LETTER}])+(?![^\W_])"
)
_JOIN_LETTER_RE = re.compile(rf"[{_AR_LETTER}]")
_STRONG_SEPARATORS = frozenset("_*-\u00b7\u2022")


def _join(m: re.Match[str]) -> str:
    run = m.group()
    letters = _JOIN_LETTER_RE.findall(run)
    if len(letters) >= 3 or any(c in _STRONG_SEPARATORS for c in run):
        return "".join(letters)
    return run


# Repetition for emphasis: a run of 3+ identical characters (letters, punctuation, emoji; never digits or
# spaces) becomes 2 (ههههه → هه, !!!!! → !!, 🔪🔪🔪🔪 → 🔪🔪). No Arabic word has a letter three times in a
# row, and many have it twice (الله، ممكن), so 2 keeps every real word. Alef is the exception: a doubled
# alef is not Arabic spelling but stretching (جداااا، خلاااص) or two words glued (يااخي، لااذبحك), so 2+
# alefs become 1 (جدا، خلاص، ياخي، لاذبحك). Measured on the 2,060 double-alef words in shared/data tweets:
# 2.66 e5 pieces per word, against 3.06 when a pair is kept and 3.47 when runs become 2 like other letters.
_REPEAT_RE = re.compile(r"(\u0627)\1+|([^\d\s\u0627])\2{2,}")


def _repeat(m: re.Match[str]) -> str:
    if m.group(1):
        return m.group(1)
    return m.group(2) * 2


# Emoji that carry signal but that the e5 (XLM-R) tokenizer turns into <unk>: replaced by an Arabic word.
# Emoji the tokenizer can read (💣 🔫 💥 ☠ 💀 🔥 ✊ ⚔ ...) are kept as they are. The table is JSON data in
# raqib/charmaps/emoji_words.json; every word is written in its normalised form.
def _emoji_words() -> dict[str, str]:
    raw = resources.files("raqib").joinpath("charmaps/emoji_words.json").read_text(encoding="utf-8")
    data = json.loads(raw)
    return {k: v for k, v in data["emoji"].items()}


# ------------------------------------------------------------------------------------------------------------
# Building a version's pipeline (once per version, on first use).


def _table(pairs: Iterable[tuple[int, str | None]]) -> dict[int, str | None]:
    return {cp: (r if r else None) for cp, r in pairs}


@functools.cache
def _arabic_marks() -> frozenset[int]:
    """The diacritics to delete: camel_tools' own set plus the extra Arabic marks above.

    ``camel_tools.utils.dediac`` imports ``charsets``, which loops over every code point (about 0.3 s), so it
    is imported here, once, on first use, and turned into a ``str.translate`` table (faster than its regex).
    """
    from camel_tools.utils.dediac import dediac_ar

    candidates = [*_EXTRA_MARKS, *_span(0x0600, 0x06FF)]
    return frozenset(cp for cp in candidates if dediac_ar(chr(cp)) == "") | frozenset(_EXTRA_MARKS)


@functools.cache
def _pipeline(version: str) -> tuple[_Step, ...]:
    opts = _OPTIONS[version]
    deleted: list[tuple[int, str | None]] = [
        (cp, None) for cp in (*_INVISIBLE, *_PRIVATE_USE, *_CONTROLS, *_SURROGATES)
    ]
    # camel_tools' normalize_unicode fixes two characters that NFKC leaves alone (or spells in Persian).
    unicode_fixes = [(cp, normalize_unicode(chr(cp))) for cp in (0xFDFC, 0xFDFD)]
    pre = _table([*deleted, (_TATWEEL, None), *((cp, f" {r} ") for cp, r in unicode_fixes)])

    main_pairs: list[tuple[int, str | None]] = [*deleted, (_TATWEEL, None)]
    main_pairs += [(cp, None) for cp in sorted(_arabic_marks())]
    main_pairs += [(ord(k), v) for k, v in _LOOKALIKES.items()]
    main_pairs += [(ord(k), v) for k, v in _DIGITS.items()]
    if opts.unify_alef:
        # The letters camel_tools' normalize_alef_ar rewrites (أ إ آ ٱ), taken from it, plus three rare forms.
        alefs = [cp for cp in _span(0x0621, 0x06FF) if normalize_alef_ar(chr(cp)) != chr(cp)]
        main_pairs += [(cp, normalize_alef_ar(chr(cp))) for cp in alefs]
        main_pairs += [(ord(c), "\u0627") for c in _ALEF_EXTRA]
    if opts.alef_maksura_to_yeh:
        main_pairs.append((0x0649, normalize_alef_maksura_ar("\u0649")))
    if opts.teh_marbuta_to_heh:
        main_pairs += [(0x0629, normalize_teh_marbuta_ar("\u0629")), (0x06C3, "\u0647")]
    main = _table(main_pairs)

    emoji = _table((ord(k), f" {v} ") for k, v in _emoji_words().items())
    return (
        _CharMap(pre),
        _Nfkc(),
        _CharMap(main),
        _Nfkc(),  # only does anything if deleting a mark let two non-Arabic characters compose
        _Sub(_ARTEFACT_RE, lambda m: _ARTEFACTS[m.group()], ("<", "مستخدم@")),
        # Hashtags first: their underscores become spaces, which could otherwise make a URL or a phone number
        # appear only on a second pass (normalise must be idempotent).
        _Sub(_HASHTAG_RE, _hashtag, ("#",), keeps=True),
        _Sub(_URL_RE, " URL ", _URL_TRIGGERS),
        _Sub(_EMAIL_RE, " EMAIL ", ("@",)),
        _Sub(_MENTION_RE, " @USER ", ("@",)),
        _Sub(_PHONE_RE, " PHONE "),
        _Whitespace(),
        # Runs are collapsed before and after joining: before, so that a stretched letter cannot hide a single
        # letter from the join (ااا_ت); after, for runs the join creates (ه ه ه ه → هههه → هه).
        _Sub(_REPEAT_RE, _repeat, keeps=True),
        _Sub(_JOIN_RE, _join, keeps=True),
        _Sub(_REPEAT_RE, _repeat, keeps=True),
        _CharMap(emoji),
        _Whitespace(),
    )


# ------------------------------------------------------------------------------------------------------------
# Public API.


def _check(text: object, version: object) -> tuple[_Step, ...]:
    if not isinstance(text, str):
        raise TypeError(
            f"normalise() needs a str, got {type(text).__name__}; decode bytes or skip missing texts first"
        )
    if not isinstance(version, str) or version not in _OPTIONS:
        raise IncompatibleModelError(
            f"normaliser version {version!r} is not supported; this raqib supports "
            f"{', '.join(repr(v) for v in SUPPORTED_VERSIONS)}. Use a model trained with one of these, "
            "or upgrade raqib."
        )
    return _pipeline(version)  # type: ignore[arg-type]


def normalise(text: str, *, version: str = NORMALISER_VERSION) -> str:
    """The text as the model sees it (the fast path; equal to ``normalise_with_offsets(text).text``)."""
    for step in _check(text, version):
        text = step.apply(text)
    return text


def normalise_with_offsets(text: str, *, version: str = NORMALISER_VERSION) -> Normalised:
    """The normalised text and where each of its characters came from, to point at spans of the original."""
    steps = _check(text, version)
    original_length = len(text)
    offsets: list[int] = list(range(original_length))
    for step in steps:
        text, local = step.apply_with_map(text)
        offsets = [offsets[i] for i in local]
    offsets.append(original_length)
    return Normalised(text, tuple(offsets))


def normaliser_options(version: str = NORMALISER_VERSION) -> NormaliserOptions:
    """The letter-merging options of a version."""
    _check("", version)
    return _OPTIONS[version]


def normaliser_info(version: str = NORMALISER_VERSION) -> dict[str, str]:
    """What a model config records about its normaliser: NFKC depends on Python's Unicode tables."""
    _check("", version)
    return {
        "name": NORMALISER_NAME,
        "version": version,
        "unicode_version": unicodedata.unidata_version,
        "camel_tools": camel_tools.__version__,
    }
