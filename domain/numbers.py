"""Reading a count typed by a community worker.

Workers write "15", "１５", "15宗", "1,543", "十二", "两场", "一百零五人次", or "无" for zero.
Chinese numerals are read by the maintained ``cn2an`` package. Anything that is not an exact
whole number is refused with a reason the bot can explain — an approximate answer ("190多",
"约50", "4千余") carries the stated figure so the bot can offer it as a one-tap choice. Nothing
is guessed.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
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


@dataclass(frozen=True)
class CountRefused(Exception):
    reason: RefusalReason
    text: str
    suggestion: int | None = None  # for an approximate answer: the figure it states


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
_APPROX_PREFIXES = ("大约", "大概", "将近", "差不多", "接近", "约", "近", "超过", "逾")
_APPROX_SUFFIXES = ("左右", "上下", "以上", "多", "余", "来")
_VAGUE_SUFFIX = "几"  # "十几": no figure to offer
_ASCII_RE = re.compile(r"^(?P<sign>[-+]?)(?P<int>\d+)(?P<frac>\.\d+)?$")
_GROUPED_RE = re.compile(r"^[-+]?\d{1,3}(,\d{3})+(\.\d+)?$")
_CHINESE_NUMERAL_RE = re.compile(
    r"^[-负]?[0-9零〇一二两三四五六七八九十百千万亿点壹贰叁肆伍陆柒捌玖拾佰仟]+$"
)
_TRAILING_PUNCTUATION = "。.，,！!；;、 "


def _normalise(text: str) -> str:
    # NFKC folds full-width digits, signs, commas and spaces to ASCII; CJK stays as it is.
    return unicodedata.normalize("NFKC", text).strip().rstrip(_TRAILING_PUNCTUATION).strip()


def _strip_measure_word(text: str, measure_word: str | None) -> tuple[str, str | None]:
    words = tuple(
        sorted(
            {*COMMON_MEASURE_WORDS, *([measure_word] if measure_word else [])},
            key=len,
            reverse=True,
        )
    )
    for word in words:
        if text.endswith(word) and len(text) > len(word):
            return text[: -len(word)].strip(), word
    return text, None


def _number(text: str, original: str) -> float:
    """The number written in ``text`` (digits, grouped digits or Chinese numerals)."""
    if _GROUPED_RE.match(text):
        text = text.replace(",", "")
    if _ASCII_RE.match(text):
        return float(text)
    if _CHINESE_NUMERAL_RE.match(text):
        if text[0] in "百千万亿":  # "近百": a bare unit means one of it
            text = "一" + text
        if text[0] == "-":
            text = "负" + text[1:]
        try:
            return float(cn2an.cn2an(text, "smart"))
        except (ValueError, KeyError):
            pass
    raise CountRefused(RefusalReason.NOT_A_NUMBER, original)


def _approximate(text: str) -> str | None:
    """The number part of an approximate answer, or None if the answer is not approximate."""
    for prefix in _APPROX_PREFIXES:
        if text.startswith(prefix) and len(text) > len(prefix):
            return text[len(prefix) :]
    for suffix in _APPROX_SUFFIXES:
        if text.endswith(suffix) and len(text) > len(suffix):
            return text[: -len(suffix)]
    return None


def parse_count(text: str, measure_word: str | None = None, decimals: int = 0) -> Number:
    """Return the figure in ``text`` or raise :class:`CountRefused` saying why not.

    ``decimals``: how many decimal places the indicator takes (0: a whole count). A whole
    figure is returned as ``int``.
    """
    normalised = _normalise(text)
    if not normalised:
        raise CountRefused(RefusalReason.EMPTY, text)
    if normalised in ZERO_WORDS:
        return 0
    if normalised.startswith("第"):  # an ordinal ("第3次") is not a count
        raise CountRefused(RefusalReason.NOT_A_NUMBER, text)
    body, word = _strip_measure_word(normalised, measure_word)
    if body.endswith(_VAGUE_SUFFIX) and len(body) > 1:
        _number(body[:-1], text)  # "十几" is vague; "好几" is simply not a number
        raise CountRefused(RefusalReason.APPROXIMATE, text)
    approximate = _approximate(body)
    if approximate is not None:
        # "190多宗": the measure word may also sit before the approximation ("190宗左右").
        inner, inner_word = _strip_measure_word(approximate, measure_word)
        word = word or inner_word
        value = _number(inner, text)
        suggestion = int(value) if value.is_integer() and 0 <= value <= MAX_COUNT else None
        raise CountRefused(RefusalReason.APPROXIMATE, text, suggestion)
    value = _number(body, text)
    if word is not None and measure_word and word != measure_word:
        raise CountRefused(RefusalReason.WRONG_MEASURE_WORD, text)
    if value < 0:
        raise CountRefused(RefusalReason.NEGATIVE, text)
    if value > MAX_COUNT:
        raise CountRefused(RefusalReason.TOO_LARGE, text)
    if value.is_integer():
        return int(value)
    if round(value, decimals) != value:  # more places than the indicator takes (or any, for 0)
        raise CountRefused(RefusalReason.DECIMAL, text)
    return value
