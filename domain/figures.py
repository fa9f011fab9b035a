"""Reading several figures from one message: "调解纠纷15宗，讲座3场，检查二十次".

Each figure is matched to an indicator by its label or a declared alias (the longest name
wins, so 调解成功 is not read as 调解), or — when no name is given — by a measure word only one
indicator uses ("3场"). Whatever cannot be matched or read is returned as a problem naming the
text, never guessed. The result is only ever shown back for confirmation; nothing here stores.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, replace
from enum import StrEnum

from domain.numbers import (
    COMMON_MEASURE_WORDS,
    NUMERAL_CHARACTERS,
    CountRefused,
    Number,
    RefusalReason,
    fold,
    is_lookalike,
    parse_count,
    strip_wrapping,
)


@dataclass(frozen=True)
class Vocabulary:
    """How one indicator may be named in a message."""

    key: str
    label: str
    measure_word: str
    aliases: tuple[str, ...] = ()
    decimals: int = 0
    other_measure_words: tuple[str, ...] = ()  # also counted in these ("件" for "宗")

    @property
    def names(self) -> tuple[str, ...]:
        return (self.label, *self.aliases)

    @property
    def measure_words(self) -> tuple[str, ...]:
        return (self.measure_word, *self.other_measure_words)

    def parse(self, text: str) -> Number:
        """``text`` read as one figure of this indicator (see :func:`parse_count`)."""
        return parse_count(text, self.measure_word, self.decimals, also=self.other_measure_words)


class ProblemKind(StrEnum):
    UNKNOWN = "unknown"  # a number with nothing saying which indicator it is
    NO_NUMBER = "no_number"  # an indicator named without a figure
    REFUSED = "refused"  # a figure that is not an exact count (see ``reason``)
    CONFLICT = "conflict"  # the same indicator given two different figures
    OUT_OF_BOUNDS = "out_of_bounds"  # a count outside the indicator's min/max (set by callers)


@dataclass(frozen=True)
class Figure:
    key: str
    value: Number
    text: str  # the part of the message it was read from
    named: bool = True  # False: matched by its measure word alone ("3场")


@dataclass(frozen=True)
class Problem:
    kind: ProblemKind
    text: str
    key: str | None = None
    reason: RefusalReason | None = None
    choices: tuple[int, ...] = ()  # see CountRefused.choices
    named: bool = True


@dataclass(frozen=True)
class Reading:
    figures: list[Figure] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    correction: bool = False  # "更正 …", "… 改为 5": the writer changes what was given
    reason: str | None = None  # "原因：…" given with a correction

    @property
    def named_any(self) -> bool:
        """Whether the message names an indicator at all (otherwise it is a plain answer)."""
        return any(f.named for f in self.figures) or any(
            p.key is not None and p.named for p in self.problems
        )

    def only_about(self, key: str) -> bool:
        """ "调解纠纷12宗" while 调解纠纷 is asked: one figure (or one refusal), of ``key``."""
        keys = {f.key for f in self.figures} | {p.key for p in self.problems}
        return keys == {key} and len(self.figures) + len(self.problems) == 1


_CORRECTION_PREFIX = re.compile(r"^(?:更正|改正|修正|更改|修改)\s*[:：]?\s*")
_CORRECTION_VERB = re.compile(r"(?:改为|改成|应为|更正为|修改为|更正成)")
_REASON = re.compile(r"(?:原因|理由|说明)\s*[:：是为]?\s*(?P<reason>.+)$")
# "、" lists figures ("调解5宗、讲座3场") except between two numerals, where it writes a range
# ("七、八宗", "7、8宗") that the figure's reading refuses as such.
_NUMERAL_CLASS = "0-9零〇一二两三四五六七八九十百千万亿"
_SEPARATORS = re.compile(rf"[,;。!?\n]+|(?<![{_NUMERAL_CLASS}])、|、(?![{_NUMERAL_CLASS}])")
_GROUPED_THOUSANDS = re.compile(r"(?<=[0-9]),(?=[0-9]{3}(?![0-9]))")
# What looks like a number but is a date or an ordinal: "10月", "2026年", "第3次", "3号".
_NOT_A_COUNT = re.compile(
    r"^(?:[0-9]{4}年(?:[0-9]{1,2}月)?(?:份)?|[0-9]{1,2}月(?:份)?|[0-9]{1,2}[日号]"
    r"|第[0-9一二三四五六七八九十]+\S*)$"
)
_HAS_NUMBER = re.compile(r"[0-9零〇一二两三四五六七八九十百千万]")
_DIGIT = re.compile(r"[0-9]")


_MARKUP = re.compile(r"</?[a-zA-Z][^<>]{0,30}>|[*_~`]")
_LEADING_COUNT = re.compile(r"^\s*(?:[-+]?[0-9][0-9.]*|[零〇一二两三四五六七八九十百千万亿]+)\s*")
# What may follow a figure read off the front of a region ("5其中成功4", "12（其中3宗成功）"):
# a word or a bracket. Anything else glued to it ("1e309", "15%", "10²") makes the whole
# region unreadable: a figure is never read from part of what was written.
_OPENING_BRACKETS = "(（[【《"


def _normalise(text: str) -> str:
    text = fold(text)  # full-width to ASCII; "10²", "①" stay what they are
    text = _MARKUP.sub("", text)  # <b>调解</b>5宗, **讲座** 3场: read the words, not the markup
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C" or ch == "\n")
    return _GROUPED_THOUSANDS.sub("", text).strip()


def _strip_fillers(text: str) -> str:
    """The figure without the words around it ("本月共…了", see ``strip_wrapping``); of a
    correction, what its verb gives ("改为5", "由5宗改为6宗": the 6宗, never the 5)."""
    return strip_wrapping(_CORRECTION_VERB.split(text)[-1]).strip()


def _name_spans(piece: str, vocabulary: list[Vocabulary]) -> list[tuple[int, int, Vocabulary]]:
    """Non-overlapping occurrences of indicator names, longest names first."""
    names = sorted(
        ((name, entry) for entry in vocabulary for name in entry.names),
        key=lambda pair: len(pair[0]),
        reverse=True,
    )
    taken = [False] * len(piece)
    spans: list[tuple[int, int, Vocabulary]] = []
    for name, entry in names:
        start = piece.find(name)
        while start != -1:
            end = start + len(name)
            if not any(taken[start:end]):
                spans.append((start, end, entry))
                for i in range(start, end):
                    taken[i] = True
            start = piece.find(name, end)
    return sorted(spans, key=lambda span: span[0])


def _looks_like_count(text: str) -> bool:
    return bool(_HAS_NUMBER.search(text)) and not _NOT_A_COUNT.match(text)


def _read_count(text: str, entry: Vocabulary) -> Figure | Problem:
    quantity = _strip_fillers(text)
    if not quantity:
        return Problem(ProblemKind.NO_NUMBER, entry.label, key=entry.key)
    try:
        return Figure(entry.key, entry.parse(quantity), quantity)
    except CountRefused as refused:
        return Problem(
            ProblemKind.REFUSED,
            quantity,
            key=entry.key,
            reason=refused.reason,
            choices=refused.choices,
        )


def _split_region(region: str, vocabulary: list[Vocabulary]) -> tuple[str, str]:
    """The figure after a name, and what follows it ("讲座3场 电话138…", "5宗其中成功4宗")."""
    words = {w for e in vocabulary for w in e.measure_words} | set(COMMON_MEASURE_WORDS)
    tokens = region.split()
    if len(tokens) <= 1:
        return _split_glued(region, words)
    head = [tokens.pop(0)]
    while tokens and (tokens[0] in words or not _HAS_NUMBER.search("".join(head))):
        head.append(tokens.pop(0))  # "15 宗", "为 15"
    return "".join(head), " ".join(tokens)


def _split_glued(region: str, words: set[str]) -> tuple[str, str]:
    """ "5宗其中成功4宗" → ("5宗", "其中成功4宗"); a region that reads whole stays whole."""
    quantity = _strip_fillers(region)
    try:
        parse_count(quantity)
        return region, ""
    except CountRefused as refused:
        if refused.reason not in (RefusalReason.NOT_A_NUMBER, RefusalReason.LOOKALIKE):
            return region, ""
    head = _LEADING_COUNT.match(quantity)
    if head is None or head.end() == len(quantity):
        return region, ""
    rest = quantity[head.end() :]
    for word in sorted(words, key=len, reverse=True):
        if rest.startswith(word):
            return quantity[: head.end()] + word, rest[len(word) :].strip()
    if _ends_a_figure(rest[0]):
        return quantity[: head.end()], rest.strip()
    return region, ""


def _ends_a_figure(character: str) -> bool:
    """Whether ``character`` may follow a figure without being part of it: a Chinese word
    ("其中") or an opening bracket, not a letter, digit, sign or numeral ("1e309", "15%")."""
    if character in _OPENING_BRACKETS:
        return True
    return (
        unicodedata.category(character) == "Lo"
        and character not in NUMERAL_CHARACTERS
        and not is_lookalike(character)
        and not character.isascii()
    )


def _by_measure_word(text: str, vocabulary: list[Vocabulary]) -> Figure | Problem | None:
    """A bare figure ("3场"): matched only when exactly one indicator uses that measure word."""
    quantity = _strip_fillers(text)
    if not quantity or not _looks_like_count(quantity):
        return None
    for word in sorted({w for e in vocabulary for w in e.measure_words}, key=len, reverse=True):
        if quantity.endswith(word) and len(quantity) > len(word):
            users = [e for e in vocabulary if word in e.measure_words]
            bare = _LEADING_COUNT.match(quantity[: -len(word)])
            if len(users) == 1 and bare and bare.end() == len(quantity) - len(word):
                return replace(_read_count(quantity, users[0]), named=False)
            break
    return Problem(ProblemKind.UNKNOWN, quantity)


def _take(read: Figure | Problem, figures: list[Figure], problems: list[Problem]) -> None:
    if isinstance(read, Figure):
        figures.append(read)
    else:
        problems.append(read)


def read_figures(text: str, vocabulary: list[Vocabulary]) -> Reading:
    """Every figure the message gives, and every part of it that could not be taken."""
    normalised = _normalise(text)
    correction = False
    reason: str | None = None
    prefix = _CORRECTION_PREFIX.match(normalised)
    if prefix:
        correction = True
        normalised = normalised[prefix.end() :]
    if _CORRECTION_VERB.search(normalised):
        correction = True
    found = _REASON.search(normalised)
    if found:
        reason = found.group("reason").strip(" ,;。") or None
        normalised = normalised[: found.start()]

    figures: list[Figure] = []
    problems: list[Problem] = []
    for piece in _SEPARATORS.split(normalised.replace("，", ",").replace("；", ";")):
        piece = piece.strip()
        if not piece:
            continue
        spans = _name_spans(piece, vocabulary)
        if not spans:
            matched = _by_measure_word(piece, vocabulary)
            if matched is not None:
                _take(matched, figures, problems)
            continue
        lead = _strip_fillers(piece[: spans[0][0]])
        lead_is_count = bool(lead) and _looks_like_count(lead) and not _NOT_A_COUNT.match(lead)
        for index, (_, end, entry) in enumerate(spans):
            stop = spans[index + 1][0] if index + 1 < len(spans) else len(piece)
            region = piece[end:stop]
            if index == 0 and lead_is_count and not _strip_fillers(region):
                _take(_read_count(lead, entry), figures, problems)  # "3份合同": count first
                lead_is_count = False
                continue
            if index == 0 and lead_is_count:
                problems.append(Problem(ProblemKind.UNKNOWN, lead))
                lead_is_count = False
            quantity, leftover = _split_region(region, vocabulary)
            read = _read_count(quantity, entry)
            _take(read, figures, problems)
            if leftover:
                rest = _by_measure_word(leftover, vocabulary)
                if rest is None and _DIGIT.search(leftover):
                    rest = Problem(ProblemKind.UNKNOWN, leftover)
                if rest is not None:
                    _take(rest, figures, problems)

    unique: dict[str, Figure] = {}
    for figure in figures:
        earlier = unique.get(figure.key)
        if earlier is not None and earlier.value != figure.value:
            problems.append(
                Problem(ProblemKind.CONFLICT, f"{earlier.text} / {figure.text}", key=figure.key)
            )
        unique.setdefault(figure.key, figure)
    conflicted = {p.key for p in problems if p.kind is ProblemKind.CONFLICT}
    kept = [f for f in unique.values() if f.key not in conflicted]
    return Reading(figures=kept, problems=problems, correction=correction, reason=reason)


def read_answer(text: str, entry: Vocabulary, reading: Reading) -> Number:
    """The figure ``text`` gives in answer to ``entry``'s question, or :class:`CountRefused`.

    ``reading`` is ``read_figures(text, …)``. Where it reads ``entry`` alone ("调解了5宗",
    "调解纠纷：5宗"), its figure or its refusal is the answer, so a single answer and a message
    of several figures are read by the same rules; otherwise the whole text is one count
    ("5", "共5宗", "本月无")."""
    if reading.only_about(entry.key):
        if reading.figures:
            return reading.figures[0].value
        problem = reading.problems[0]
        raise CountRefused(
            problem.reason or RefusalReason.NOT_A_NUMBER, problem.text, problem.choices
        )
    return entry.parse(text)
