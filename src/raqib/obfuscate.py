"""Obfuscations that posters use to slip threats past keyword filters, as small pure functions.

Each obfuscation is ``(text, rng) -> text``: deterministic for a given ``random.Random`` state, and it returns
the text unchanged when it has nothing to work on (no long enough word, no word it knows). They build the
challenge suite's ``violent_obfuscated`` slice and can augment training positives later.

Every obfuscation says whether raqib's normaliser undoes it (``undone_by_normaliser``). If it does, a model
sees the same text with or without it, and the tests hold the normaliser to that. If not, a model has to
learn it from examples, and ``why`` says why the normaliser cannot safely undo it.

Example:
    >>> obfuscate("اعدموهم جميعا", ["dot_letters"], seed=1)  # doctest: +SKIP
    'ا.ع.د.م.و.ه.م جميعا'
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = [
    "OBFUSCATIONS",
    "Obfuscation",
    "add_diacritics",
    "arabizi_digits",
    "dot_letters",
    "elongate",
    "emoji_substitute",
    "obfuscate",
    "persian_lookalikes",
    "space_letters",
    "stretch_letters",
    "zero_width",
]

# The Arabic letters the normaliser joins when spaced (its _AR_LETTER class) and the marks it deletes.
_LETTERS = "\u0621-\u063a\u0641-\u064a\u066e\u066f\u0671-\u06d3\u06fa-\u06fc\u06ff"
_MARKS = "\u064b-\u0652\u0670"
_WORD_RE = re.compile(rf"[{_LETTERS}][{_LETTERS}{_MARKS}\u0640]*")
_LETTER_RE = re.compile(rf"[{_LETTERS}]")
_CLUSTER_RE = re.compile(rf"[{_LETTERS}][{_MARKS}\u0640]*")
_TOKEN_SPLIT = re.compile(r"(\s+)")

Rng = random.Random


def _tokens(text: str) -> list[str]:
    """Words and the whitespace between them, alternating, so that joining them gives the text back."""
    return _TOKEN_SPLIT.split(text)


def _is_word(token: str, min_letters: int = 1) -> bool:
    """A token that is one Arabic word and nothing else (no punctuation, digits, emoji or Latin)."""
    return bool(_WORD_RE.fullmatch(token)) and len(_LETTER_RE.findall(token)) >= min_letters


def _single_letter(token: str) -> bool:
    return len(_LETTER_RE.findall(token)) == 1


# Words of violence (acts and weapons) and the emoji that can stand for them, as patterns searched in a word
# without its marks and tatweel. The verbs of the training templates are here too, so the same functions can
# augment training positives.
_TRIGGERS: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = tuple(
    (re.compile(pattern), emojis)
    for pattern, emojis in (
        (r"رصاص|[اأ]طلق|طخ|مسدس|بندق|رشاش|فرغ|طبنج|كرطوش", ("🔫",)),
        (r"فجر|تفجير|قنبل|نسف|عبوة|ناسف|متفجر", ("💣", "💥")),
        (r"حرق|ولع|[اأ]شعل|^(?:[وفب]?ال)?نار$|[اأ]ضرم", ("🔥",)),
        (r"شنق|مشانق|علق", ("⚰",)),
        (r"[اأإنيتهـ]عدم|^عدم|[اإ]عدام", ("⚰", "🔪")),
        (r"نحر|ذبح|دبح|قتل|طعن|قطع|سكين|سكاكين|ساطور|موس$|خنجر", ("🔪",)),
        (r"اغتال|غتال", ("🔪", "🔫")),
        (r"[اأ]بيد|[نيت]بيد|[اإ]باد|نباد|موت|خلص|نهي|[اأ]قض|خنق|غرق", ("💀",)),
        (r"صفو|صفي|صف$", ("🔫", "🔪")),
        (r"رجم", ("🪨",)),
        (r"سحل", ("🩸",)),
        (r"هدم|كسر|هرس", ("🔨",)),
    )
)
_STRIP_MARKS = re.compile(rf"[{_MARKS}\u0640]")


def _trigger(token: str) -> tuple[str, ...] | None:
    """The emoji for a word of violence (an act or a weapon), or None for any other word.

    Obfuscators hide the word a keyword filter would catch, so the word-level obfuscations pick these first.
    """
    bare = _STRIP_MARKS.sub("", token)
    if not _LETTER_RE.search(bare):
        return None
    if len(bare) > 12:  # a long word that merely contains a pattern is something else
        return None
    for pattern, emojis in _TRIGGERS:
        if pattern.search(bare):
            return emojis
    return None


def _choose(
    tokens: list[str], candidates: list[int], rng: Rng, most: int, *, apart: bool = False
) -> list[int]:
    """Up to ``most`` word positions: a word of violence first when there is one, then any others.

    With ``apart``, never two neighbours (two spaced-out neighbour words would be joined into one).
    """
    triggers = [i for i in candidates if _trigger(tokens[i])]
    order = rng.sample(triggers, len(triggers)) + rng.sample(
        [i for i in candidates if i not in triggers], len(candidates) - len(triggers))
    chosen: list[int] = []
    for i in order:
        if len(chosen) >= most:
            break
        if not apart or all(abs(i - j) > 2 for j in chosen):
            chosen.append(i)
    return sorted(chosen)


def _separable_words(tokens: list[str], min_letters: int = 3) -> list[int]:
    """Words that can be split into single letters without touching a one-letter neighbour word.

    The normaliser joins any run of single letters, so a one-letter word (a detached و) next to a spaced
    word would be glued onto it; such words are left alone.
    """
    out = []
    for i in range(0, len(tokens), 2):
        if not _is_word(tokens[i], min_letters):
            continue
        neighbours = [tokens[j] for j in (i - 2, i + 2) if 0 <= j < len(tokens)]
        if any(_single_letter(n) for n in neighbours):
            continue
        out.append(i)
    return out


def space_letters(text: str, rng: Rng) -> str:
    """Write one or two words letter by letter with spaces (ق ت ل). Undone: the normaliser joins them."""
    tokens = _tokens(text)
    for i in _choose(tokens, _separable_words(tokens), rng, rng.choice((1, 1, 2)), apart=True):
        tokens[i] = " ".join(_CLUSTER_RE.findall(tokens[i]))
    return "".join(tokens)


_DOT_SEPARATORS = (".", ".", "_", "-", "*", "\u00b7")


def dot_letters(text: str, rng: Rng) -> str:
    """Split one or two words with dots or other marks between letters (ق.ت.ل, ق_ت_ل). Undone (joined)."""
    tokens = _tokens(text)
    for i in _choose(tokens, _separable_words(tokens), rng, rng.choice((1, 1, 2)), apart=True):
        tokens[i] = rng.choice(_DOT_SEPARATORS).join(_CLUSTER_RE.findall(tokens[i]))
    return "".join(tokens)


# Letters that do not join to the next one: a tatweel after them would float, so writers never put one there.
_NON_JOINING = set("\u0621\u0622\u0623\u0624\u0625\u0627\u062f\u0630\u0631\u0632\u0648\u0629\u0649\u0671")


def elongate(text: str, rng: Rng) -> str:
    """Stretch one or two words with tatweel (قـــتـل) or a long alef (خلاااص). Undone: tatweel is deleted and
    alef runs become one alef."""
    tokens = _tokens(text)
    words = [i for i in range(0, len(tokens), 2) if _is_word(tokens[i], 2)]
    for i in _choose(tokens, words, rng, rng.choice((1, 2))):
        word = tokens[i]
        alefs = [k for k, c in enumerate(word) if c == "\u0627" and k > 0]  # never the article's alef
        joins = [k for k in range(len(word) - 1) if word[k] not in _NON_JOINING and _LETTER_RE.match(word[k])
                 and _LETTER_RE.match(word[k + 1])]
        if alefs and (not joins or rng.random() < 0.4):
            k = rng.choice(alefs)
            word = word[:k] + "\u0627" * rng.randint(3, 7) + word[k + 1 :]
        elif joins:
            for k in sorted(rng.sample(joins, min(len(joins), rng.choice((1, 2)))), reverse=True):
                word = word[: k + 1] + "\u0640" * rng.randint(1, 5) + word[k + 1 :]
        tokens[i] = word
    return "".join(tokens)


_ALEFS = set("\u0622\u0623\u0625\u0627\u0671\u0672\u0673\u0675")  # become ا, and alef runs become one ا


def stretch_letters(text: str, rng: Rng) -> str:
    """Repeat a letter other than alef three to six times (هموتككككك). Learned (see OBFUSCATIONS)."""
    tokens = _tokens(text)
    words = [i for i in range(0, len(tokens), 2) if _is_word(tokens[i], 2)]
    if not words:
        return text
    i = _choose(tokens, words, rng, 1)[0]
    word = tokens[i]
    spots = [k for k, c in enumerate(word) if _LETTER_RE.match(c) and c not in _ALEFS
             and c not in word[max(k - 1, 0) : k] + word[k + 1 : k + 2]]  # a doubled letter stays doubled
    if not spots:
        return text
    k = rng.choice(spots[-2:] if rng.random() < 0.7 else spots)  # writers mostly stretch the end of a word
    tokens[i] = word[: k + 1] + word[k] * rng.randint(2, 5) + word[k + 1 :]
    return "".join(tokens)


# Short vowels, tanween, shadda and sukun. Never hamza or maddah above/below (U+0653-0655): NFKC would compose
# them with the letter before into another letter (و + ٔ → ؤ).
_HARAKAT = ("\u064e", "\u064f", "\u0650", "\u0652", "\u064b", "\u064c", "\u064d")
_SHADDA = "\u0651"


def add_diacritics(text: str, rng: Rng) -> str:
    """Put harakat, shadda and tanween on letters (قَتْلُ), as in a vocalised or decorated post. Undone:
    the normaliser deletes every Arabic mark."""
    rate = rng.uniform(0.3, 0.9)
    out = []
    for c in text:
        out.append(c)
        if _LETTER_RE.match(c) and rng.random() < rate:
            if rng.random() < 0.15:
                out.append(_SHADDA)
            out.append(rng.choice(_HARAKAT))
    return "".join(out)


# Persian/Urdu letters that look like Arabic ones (a Persian or Urdu keyboard, or copy-paste); all of these
# are in the normaliser's look-alike table.
_PERSIAN = {
    "\u0643": ("\u06a9", "\u06aa"),  # ك → ک ڪ
    "\u064a": ("\u06cc",),  # ي → ی
    "\u0647": ("\u06c1", "\u06be", "\u06d5"),  # ه → ہ ھ ە
    "\u0629": ("\u06c3",),  # ة → ۃ
}


def persian_lookalikes(text: str, rng: Rng) -> str:
    """Swap kaf, yeh, heh and teh marbuta for their Persian/Urdu look-alikes. Undone: mapped back."""
    rate = rng.uniform(0.5, 1.0)
    spots = [k for k, c in enumerate(text) if c in _PERSIAN]
    if not spots:
        return text
    must = rng.choice(spots)  # at least one swap, so the result always differs
    return "".join(
        rng.choice(_PERSIAN[c]) if c in _PERSIAN and (k == must or rng.random() < rate) else c
        for k, c in enumerate(text)
    )


# ZWSP, ZWNJ, ZWJ, word joiner, LRM, RLM, soft hyphen, BOM: invisible, and all deleted by the normaliser.
_INVISIBLE = ("\u200b", "\u200c", "\u200d", "\u2060", "\u200e", "\u200f", "\u00ad", "\ufeff")


def zero_width(text: str, rng: Rng) -> str:
    """Hide invisible characters inside words (a word of violence first), which breaks exact keyword
    matching. Undone: deleted."""
    tokens = _tokens(text)
    words = [i for i in range(0, len(tokens), 2) if len(_LETTER_RE.findall(tokens[i])) >= 2]
    for i in _choose(tokens, words, rng, rng.choice((1, 1, 2))):
        word = tokens[i]
        inside = [k for k in range(1, len(word))
                  if _LETTER_RE.match(word[k - 1]) and _LETTER_RE.match(word[k])]
        if not inside:
            continue
        chosen = set(rng.sample(inside, min(len(inside), rng.randint(1, 3))))
        tokens[i] = "".join((rng.choice(_INVISIBLE) if k in chosen else "") + c for k, c in enumerate(word))
    return "".join(tokens)


def emoji_substitute(text: str, rng: Rng) -> str:
    """Replace a word for the act or the weapon with emoji (🔪🔪 القضاة، 💣 على المحكمة). Learned, not undone
    (see OBFUSCATIONS). Texts with no word it knows come back unchanged."""
    tokens = _tokens(text)
    spots = [(i, e) for i in range(0, len(tokens), 2) if (e := _trigger(tokens[i]))]
    if not spots:
        return text
    i, emojis = rng.choice(spots)
    tokens[i] = rng.choice(emojis) * rng.randint(1, 3)
    return "".join(tokens)


# Arabizi ("Franco"): Latin letters, with digits for the letters Latin lacks (3 ع, 7 ح, 2 ء/ق, 5 خ, 9 ق/ص).
# Short vowels are not written in Arabic script, so they are missing here too, as in much real Arabizi.
_ARABIZI = {
    "ء": "2", "أ": "a", "إ": "e", "آ": "a", "ؤ": "2", "ئ": "2", "ا": "a", "ب": "b", "ت": "t", "ث": "th",
    "ج": "j", "ح": "7", "خ": "5", "د": "d", "ذ": "z", "ر": "r", "ز": "z", "س": "s", "ش": "sh", "ص": "s",
    "ض": "d", "ط": "t", "ظ": "z", "ع": "3", "غ": "gh", "ف": "f", "ق": "2", "ك": "k", "ل": "l", "م": "m",
    "ن": "n", "ه": "h", "و": "o", "ي": "i", "ة": "a", "ى": "a", "گ": "g", "چ": "ch", "پ": "p", "ڤ": "v",
    "\u064e": "a", "\u064f": "u", "\u0650": "i", "\u0640": "", "،": ",", "؟": "?", "؛": ";",
}
_ARABIZI_VARIANTS = {"ق": ("2", "9", "q", "g"), "خ": ("5", "kh"), "ص": ("s", "9"), "ط": ("t", "6"),
                     "ج": ("j", "g"), "ش": ("sh", "ch"), "غ": ("gh", "3'")}


def arabizi_digits(text: str, rng: Rng) -> str:
    """Transliterate into Arabizi, Latin letters and digits (a3dmohm), as dialect speakers type. Learned, not
    undone (see OBFUSCATIONS). Spelling choices (ق as 2, 9, q or g...) are made once per text."""
    table = dict(_ARABIZI)
    for letter, options in _ARABIZI_VARIANTS.items():
        table[letter] = rng.choice(options)
    out: list[str] = []
    for token in _tokens(text):
        if not _LETTER_RE.search(token):
            out.append(token)
            continue
        word = []
        if token.endswith("وا") and len(token) > 3:  # the silent alef after a plural waw (قالوا → 2alo)
            token = token[:-1]
        if token.startswith("ال") and len(token) > 3:
            word.append(rng.choice(("el", "al", "l")))
            token = token[2:]
        for k, c in enumerate(token):
            if c == _SHADDA:
                if word:
                    word.append(word[-1][-1:])
                continue
            if c in "وي" and k == 0:
                word.append("w" if c == "و" else "y")
                continue
            if c in "\u064b\u064c\u064d\u0652\u0670":
                continue
            word.append(table.get(c, c))
        out.append("".join(word))
    return "".join(out)


@dataclass(frozen=True)
class Obfuscation:
    """One obfuscation, and whether the normaliser undoes it."""

    name: str
    """The name used in manifests and ``obfuscate(kinds=...)``."""
    apply: Callable[[str, Rng], str]
    """The function ``(text, rng) -> text``."""
    undone_by_normaliser: bool
    """True when ``normalise(apply(t)) == normalise(t)``: a model never sees the difference."""
    why: str
    """Why it is undone, or why it has to be learned instead."""


OBFUSCATIONS: dict[str, Obfuscation] = {
    o.name: o
    for o in (
        Obfuscation("space_letters", space_letters, True,
                    "the normaliser joins runs of three or more single letters separated by spaces"),
        Obfuscation("dot_letters", dot_letters, True,
                    "the normaliser joins letters separated by . _ - * · (dots alone need three letters)"),
        Obfuscation("elongate", elongate, True,
                    "tatweel is deleted and a run of alefs becomes one alef"),
        Obfuscation("add_diacritics", add_diacritics, True, "every Arabic mark is deleted"),
        Obfuscation("persian_lookalikes", persian_lookalikes, True,
                    "ک ڪ ی ہ ھ ە ۃ are in the normaliser's look-alike table"),
        Obfuscation("zero_width", zero_width, True, "zero-width and bidi characters are deleted"),
        Obfuscation("stretch_letters", stretch_letters, False,
                    "runs of a letter are cut to two, not one: many real words have a letter twice "
                    "(ممكن، الله), "
                    "so cutting to one would corrupt them; a model learns that 'هموتكك' is 'هموتك'"),
        Obfuscation("emoji_substitute", emoji_substitute, False,
                    "an emoji does not say which word it replaced (🔪 is kill, stab, slaughter or a kitchen "
                    "knife), so no rule can put the word back; the normaliser only spells unreadable emoji "
                    "as words (🔪 → سكين)"),
        Obfuscation("arabizi_digits", arabizi_digits, False,
                    "turning Latin back into Arabic script is ambiguous (2 is ء or ق, 'a' any of three "
                    "letters, short vowels are guessed) and Latin text is also English or French, so a "
                    "rule would corrupt real text; a model has to read Arabizi"),
    )
}
"""Every obfuscation by name, in a fixed order."""


def obfuscate(text: str, kinds: Sequence[str], seed: int = 0) -> str:
    """Apply the named obfuscations in order, with a random state that depends only on ``seed`` and ``text``.

    Raises:
        KeyError: an unknown kind (the message lists the known ones).
    """
    unknown = [k for k in kinds if k not in OBFUSCATIONS]
    if unknown:
        raise KeyError(f"unknown obfuscation(s) {unknown}; known: {', '.join(OBFUSCATIONS)}")
    rng = random.Random(f"{seed}\x1f{text}")  # a str seed hashes with SHA-512: stable across runs
    for kind in kinds:
        text = OBFUSCATIONS[kind].apply(text, rng)
    return text
