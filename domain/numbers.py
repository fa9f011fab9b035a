"""Reading a count typed by a community worker.

Workers write "15", "１５", "15宗", "1,543", "十二", "两场", "一百零五人次", "共5宗", "本月无", or
"无" for zero. Chinese numerals are read by the maintained ``cn2an`` package, in its "normal"
mode and only after the text is known to be one numeral: its "smart" mode reads "七八" as 78
and "5万" as 50000 alike, and its "normal" mode still reads a string of digits ("二〇二六",
"七八") digit by digit, so what it is given is checked first (``_chinese``).

Anything that is not an exact whole number is refused with a reason the bot can explain:

- an estimate ("190多", "约50", "4千余") carries the figure it states, which the bot offers as a
  one-tap choice; a vague one ("十几", "十来", "几十") carries none;
- a range ("七八次", "两三场", "三四十", "十七八", "7-8", "十五到二十") is "X or Y", never a number;
  it carries its two bounds as choices where they are figures ("千八百": 800 or 1000) and none
  where they are not ("百十");
- characters that only look like digits (10², ①②, ½, ₁₂, ٣) are refused, not folded into
  digits; full-width digits (１５) are what phones type, and are read.

Nothing is guessed, and a numeral of any length gets a refusal, never an exception.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass
from decimal import Context, Decimal, InvalidOperation, localcontext
from enum import StrEnum

import cn2an

MAX_COUNT = 1_000_000_000
Number = int | float  # a count, or an amount where the indicator allows decimals


class RefusalReason(StrEnum):
    EMPTY = "empty"
    NOT_A_NUMBER = "not_a_number"
    NEGATIVE = "negative"
    DECIMAL = "decimal"
    TOO_LARGE = "too_large"
    WRONG_MEASURE_WORD = "wrong_measure_word"
    APPROXIMATE = "approximate"
    RANGE = "range"  # "七八次": seven or eight
    LOOKALIKE = "lookalike"  # "10²", "①②": characters that only look like digits


@dataclass
class CountRefused(Exception):
    reason: RefusalReason
    text: str
    # The figures the answer states, to offer as one-tap choices: an estimate's figure
    # ("190多": 190), a range's bounds ("七八": 7 and 8); empty where there is none to offer.
    choices: tuple[int, ...] = ()


# Measure words a worker may type after a number (longest first, so 人次 wins over 次).
COMMON_MEASURE_WORDS = tuple(
    sorted(
        (
            "人次",
            "宗",
            "件",
            "场",
            "次",
            "份",
            "个",
            "人",
            "家",
            "起",
            "户",
            "条",
            "期",
            "篇",
            "项",
            "场次",
            "名",
            "所",
            "处",
            "批",
            "册",
            "本",
            "张",
            "单",
        ),
        key=len,
        reverse=True,
    )
)
ZERO_WORDS = frozenset({"无", "没有", "没", "零", "〇", "0", "暂无"})
# Words people put around a figure, which say nothing about it: "共5宗", "合计5", "本月无",
# "开展了3次", "5宗整". The indicator's own name or alias before the figure ("调解了5宗") is
# taken off by the multi-figure reader, which knows the names (``domain.figures``).
WRAPPING_PREFIXES = (
    "本月",
    "本期",
    "本季度",
    "本季",
    "当月",
    "当期",
    "这个月",
    "全年",
    "共计",
    "合计",
    "总计",
    "总共",
    "一共",
    "共",
    "计",
    "开展了",
    "组织了",
    "组织",
    "办了",
    "开了",
    "做了",
    "开展",
    "举办了",
    "举办",
    "办理了",
    "办理",
    "接待了",
    "接待",
    "完成了",
    "完成",
    "发放了",
    "发放",
    "审查了",
    "审查",
    "进行了",
    "进行",
    "了",
    "为",
    "是",
    "有",
    "数量",
    ":",
    "=",
)
WRAPPING_SUFFIXES = ("了", "整")
_WRAPPING_PREFIXES_LONGEST_FIRST = sorted(WRAPPING_PREFIXES, key=len, reverse=True)
_APPROX_PREFIXES = ("大约", "大概", "将近", "差不多", "接近", "约", "近", "超过", "逾")
_APPROX_SUFFIXES = ("左右", "上下", "以上", "多", "余")
# An estimate that states no figure to offer: "十来", "千把", "十几", "几十", "数百".
_VAGUE_SUFFIXES = ("来", "把")
_VAGUE = "几"
_SOME = "数"  # "数十", "数百": some tens, some hundreds

_DIGITS = "0123456789"
_FULL_WIDTH_DIGITS = "０１２３４５６７８９"
_DIGIT_VALUES = {
    **dict.fromkeys("零〇", 0),
    "一": 1,
    "壹": 1,
    "二": 2,
    "两": 2,
    "贰": 2,
    "三": 3,
    "叁": 3,
    "四": 4,
    "肆": 4,
    "五": 5,
    "伍": 5,
    "六": 6,
    "陆": 6,
    "七": 7,
    "柒": 7,
    "八": 8,
    "捌": 8,
    "九": 9,
    "玖": 9,
}
_UNIT_VALUES = {
    "十": 10,
    "拾": 10,
    "百": 100,
    "佰": 100,
    "千": 1000,
    "仟": 1000,
    "万": 10_000,
    "亿": 100_000_000,
}
NUMERAL_CHARACTERS = frozenset(_DIGIT_VALUES) | frozenset(_UNIT_VALUES) | {"点", "负"}
_BIG_UNITS = "万亿"
# Two numerals side by side that people write for "X or Y": 七八, 两三, 一二 (each next to the
# other), 三五 ("three to five") and 三两 ("two or three").
_RANGE_PAIRS = {(n, n + 1) for n in range(1, 9)} | {(3, 5), (3, 2)}
_LONGEST_NUMERAL = 40  # characters; far more than any count up to MAX_COUNT takes

_ASCII_RE = re.compile(r"^(?P<sign>[-+]?)[0-9]+(?:\.[0-9]+)?$")
_GROUPED_RE = re.compile(r"^[-+]?[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?$")
_MIXED_UNIT_RE = re.compile(
    r"^(?P<number>[0-9]+(?:\.[0-9]+)?)(?P<unit>十万|百万|千万|[十百千万亿])$"
)
_ASCII_RUN = re.compile(r"[0-9]+")
_CHINESE_NUMERAL_RE = re.compile(
    r"^[-负]?[0-9零〇一二两三四五六七八九十百千万亿点壹贰叁肆伍陆柒捌玖拾佰仟]+$"
)
_DIGIT_RUN = re.compile(r"[零〇一二两三四五六七八九壹贰叁肆伍陆柒捌玖]+")
_EXPLICIT_RANGE = re.compile(
    r"^(?P<low>[^~到至或、—–-]+?)\s*(?:到|至|~|-|—|–|、|或者|或)\s*(?P<high>[^~到至或、—–-]+)$"
)
_TRAILING_PUNCTUATION = "。.，,！!；;、 "


@functools.cache
def is_lookalike(character: str) -> bool:
    """Whether ``character`` only looks like a digit or a numeral: ², ₁, ①, ½, ٣, 𝟏, ㈠, ⼗.

    Unicode's compatibility folding (NFKC) turns such characters into plain digits, which is
    how "10²" would become 102; only ASCII digits, full-width digits and the Chinese numerals
    count as numerals."""
    if character in _DIGITS or character in _FULL_WIDTH_DIGITS:
        return False
    if character in NUMERAL_CHARACTERS:
        return False
    if unicodedata.category(character).startswith("N"):
        return True
    folded = unicodedata.normalize("NFKC", character)
    return folded != character and any(
        c in _DIGITS or c in NUMERAL_CHARACTERS or unicodedata.category(c).startswith("N")
        for c in folded
    )


def fold(text: str) -> str:
    """``text`` with full-width digits, letters, signs and spaces folded to ASCII (NFKC), and
    characters that only look like digits left as they are (see :func:`is_lookalike`)."""
    if text.isascii():
        return text
    parts: list[str] = []
    start = 0
    for index, character in enumerate(text):
        if is_lookalike(character):
            parts.append(unicodedata.normalize("NFKC", text[start:index]))
            parts.append(character)
            start = index + 1
    parts.append(unicodedata.normalize("NFKC", text[start:]))
    return "".join(parts)


def strip_wrapping(text: str) -> str:
    """``text`` without the words around its figure ("本月共" … "了"): see WRAPPING_PREFIXES."""
    text = text.strip()
    while text:
        # The longest word first, so "本季度" is not taken for "本季" leaving "度".
        prefix = next((p for p in _WRAPPING_PREFIXES_LONGEST_FIRST if text.startswith(p)), "")
        suffix = next((s for s in WRAPPING_SUFFIXES if text.endswith(s)), "")
        if not prefix and not suffix:
            break
        text = text[len(prefix) : len(text) - len(suffix)].strip()
    return text


def _strip_measure_word(text: str, words: tuple[str, ...]) -> tuple[str, str | None]:
    for word in words:
        if text.endswith(word) and len(text) > len(word):
            return text[: -len(word)].strip(), word
    return text, None


def _strip_any(text: str, affixes: tuple[str, ...], *, prefix: bool) -> tuple[str, bool]:
    for affix in affixes:
        if len(text) > len(affix) and (text.startswith(affix) if prefix else text.endswith(affix)):
            return (text[len(affix) :] if prefix else text[: -len(affix)]), True
    return text, False


def _offer(*values: Decimal) -> tuple[int, ...]:
    """The figures to offer as one-tap choices: whole counts in range, or none at all."""
    if all(v == v.to_integral_value() and 0 <= v <= MAX_COUNT for v in values):
        return tuple(int(v) for v in values)
    return ()


def _range(original: str, low: Decimal | None = None, high: Decimal | None = None) -> CountRefused:
    if low is None or high is None:
        return CountRefused(RefusalReason.RANGE, original)
    return CountRefused(RefusalReason.RANGE, original, _offer(*sorted((low, high))))


def _not_a_number(original: str) -> CountRefused:
    return CountRefused(RefusalReason.NOT_A_NUMBER, original)


def _cn2an(text: str, original: str) -> Decimal:
    """A Chinese numeral already checked by ``_chinese``, read by cn2an."""
    try:
        return Decimal(str(cn2an.cn2an(text, "normal")))
    except (ValueError, KeyError, IndexError, OverflowError, InvalidOperation):
        raise _not_a_number(original) from None


def _chinese(text: str, original: str) -> Decimal:
    """A Chinese numeral, or the refusal saying why it is none ("七八" is a range)."""
    if text[0] in "百千万亿佰仟" and len(text) > 1:  # a numeral without its leading 一
        unit, rest = _UNIT_VALUES[text[0]], text[1:]
        if all(c in _BIG_UNITS for c in rest):  # "百万": a million
            return _cn2an("一" + text, original)
        if len(rest) == 1 and _DIGIT_VALUES.get(rest, 0):  # "千五": 1500, as 一千五
            return _cn2an("一" + text, original)
        if rest[0] == "八" and _UNIT_VALUES.get(rest[1:]) == unit // 10:
            # "千八百", "百八十", "万八千": eight hundred to a thousand, eighty to a hundred.
            raise _range(original, Decimal(unit * 8 // 10), Decimal(unit))
        if rest[0] in _UNIT_VALUES:
            raise _range(original)  # "百十", "千百": a hundred or so
        raise _not_a_number(original)
    if text in _UNIT_VALUES:  # "近百": a bare unit is one of it
        text = "一" + text
    whole, point, fraction = text.partition("点")
    if point:  # "十二点三五": the places after 点 are read digit by digit
        if not whole or not fraction or any(c not in _DIGIT_VALUES for c in fraction):
            raise _not_a_number(original)  # "一点" is "a little", not 1
        try:
            _chinese(whole, original)  # the whole part is a numeral of its own
        except CountRefused:
            raise _not_a_number(original) from None
        return _cn2an(text, original)
    pair: int | None = None
    for run in _DIGIT_RUN.finditer(text):
        digits = run.group()
        if len(digits) == 1:
            continue
        values = (_DIGIT_VALUES[digits[0]], _DIGIT_VALUES[digits[-1]])
        if (
            len(digits) == 2
            and values[0] == 0
            and values[1] != 0
            and run.start() > 0
            and text[run.start() - 1] in _UNIT_VALUES
        ):
            continue  # "一百零五"
        if len(digits) == 2 and values in _RANGE_PAIRS and pair is None:
            pair = run.start()
            continue
        raise _not_a_number(original)  # digit by digit ("二〇二六", "九九九"): not a count
    if pair is not None:
        # "二十三四" → 二十三 or 二十四; "三四十" → 三十 or 四十; "十七八" → 十七 or 十八.
        low = _cn2an(text[: pair + 1] + text[pair + 2 :], original)
        high = _cn2an(text[:pair] + text[pair + 1 :], original)
        raise _range(original, low, high)
    return _cn2an(text, original)


def _number(text: str, original: str) -> Decimal:
    """The exact number written in ``text`` (digits, grouped digits or Chinese numerals)."""
    if _GROUPED_RE.match(text):
        text = text.replace(",", "")
    if _ASCII_RE.match(text):
        return Decimal(text)  # exact, however long: no float rounds it, none overflows
    if not text or len(text) > _LONGEST_NUMERAL:
        raise _not_a_number(original)
    mixed = _MIXED_UNIT_RE.match(text)
    if mixed:  # "4千", "1.5万"
        unit = 1
        for character in mixed.group("unit"):
            unit *= _UNIT_VALUES[character]
        with localcontext(Context(prec=_LONGEST_NUMERAL * 2)):  # exact: no digit rounded off
            return Decimal(mixed.group("number")) * unit
    explicit = _EXPLICIT_RANGE.match(text)
    if explicit:  # "7-8", "十五到二十", "7、8"
        sides = []
        for side in (explicit.group("low"), explicit.group("high")):
            side = _strip_measure_word(side.strip(), COMMON_MEASURE_WORDS)[0]
            if side[:1] == "0" and len(side) > 1 and side[1:2] != ".":
                raise _not_a_number(original)  # "010-12345678": a telephone number
            try:
                sides.append(_number(side, original))
            except CountRefused:
                raise _not_a_number(original) from None
        if not 0 <= sides[0] < sides[1]:
            raise _not_a_number(original)  # "2026-11": a month
        raise _range(original, sides[0], sides[1])
    if _CHINESE_NUMERAL_RE.match(text):
        if text[0] == "-":
            text = "负" + text[1:]
        negative = text[0] == "负"
        if negative:
            text = text[1:]
        if not text:
            raise _not_a_number(original)
        if any(c in _DIGITS for c in text):  # "1万5千": the digits as Chinese numerals
            if any(run.group()[0] == "0" for run in _ASCII_RUN.finditer(text)):
                raise _not_a_number(original)
            try:
                text = _ASCII_RUN.sub(lambda run: str(cn2an.an2cn(run.group())), text)
            except ValueError:  # more digits than cn2an writes in numerals
                raise _not_a_number(original) from None
        value = _chinese(text, original)
        return -value if negative else value
    raise _not_a_number(original)


def _vague(text: str, original: str) -> bool:
    """Whether ``text`` is an estimate with no figure in it: "十几", "几十", "数百"."""
    if _VAGUE in text:
        rest = text.replace(_VAGUE, "")
    elif text.startswith(_SOME) and len(text) > 1 and text[1] in _UNIT_VALUES:
        rest = text[1:]
    else:
        return False
    if not rest:
        return False
    try:
        _number(rest, original)
    except CountRefused as refused:
        return refused.reason is RefusalReason.RANGE  # "几千几百"
    return True


def parse_count(
    text: str,
    measure_word: str | None = None,
    decimals: int = 0,
    *,
    also: Collection[str] = (),
) -> Number:
    """Return the figure in ``text`` or raise :class:`CountRefused` saying why not.

    ``measure_word``: the indicator's (a figure in another one is refused); ``also``: other
    measure words the indicator is counted in ("件" for disputes counted in "宗").
    ``decimals``: how many decimal places the indicator takes (0: a whole count). A whole
    figure is returned as ``int``.
    """
    folded = fold(text).strip().rstrip(_TRAILING_PUNCTUATION).strip()
    if not folded:
        raise CountRefused(RefusalReason.EMPTY, text)
    if any(is_lookalike(c) for c in folded):
        raise CountRefused(RefusalReason.LOOKALIKE, text)
    body = strip_wrapping(folded)
    if not body:  # "共", "合计": the figure is missing
        raise CountRefused(RefusalReason.EMPTY, text)
    if body in ZERO_WORDS:
        return 0
    if body.startswith("第"):  # an ordinal ("第3次") is not a count
        raise _not_a_number(text)
    accepted = {*(also or ()), *([measure_word] if measure_word else [])}
    words = tuple(sorted({*COMMON_MEASURE_WORDS, *accepted}, key=len, reverse=True))
    body, word = _strip_measure_word(body, words)
    # "约50", "190多宗", "50宗左右": the measure word may also sit inside the estimate.
    body, before = _strip_any(body, _APPROX_PREFIXES, prefix=True)
    body, after = _strip_any(body, _APPROX_SUFFIXES, prefix=False)
    body, vague = _strip_any(body, _VAGUE_SUFFIXES, prefix=False)
    if word is None:
        body, word = _strip_measure_word(body, words)
    wrong_word = word is not None and measure_word is not None and word not in accepted
    try:
        if _vague(body, text):
            raise CountRefused(RefusalReason.APPROXIMATE, text)
        value = _number(body, text)
    except CountRefused as refused:
        if wrong_word and refused.reason is not RefusalReason.NOT_A_NUMBER:
            raise CountRefused(RefusalReason.WRONG_MEASURE_WORD, text) from None
        raise
    if wrong_word:
        raise CountRefused(RefusalReason.WRONG_MEASURE_WORD, text)
    if vague:
        raise CountRefused(RefusalReason.APPROXIMATE, text)
    if before or after:
        raise CountRefused(RefusalReason.APPROXIMATE, text, _offer(value))
    if value < 0:
        raise CountRefused(RefusalReason.NEGATIVE, text)
    if value > MAX_COUNT:
        raise CountRefused(RefusalReason.TOO_LARGE, text)
    if value == value.to_integral_value():
        return int(value)
    if value != round(value, decimals):  # more places than the indicator takes (or any, for 0)
        raise CountRefused(RefusalReason.DECIMAL, text)
    return float(value)
