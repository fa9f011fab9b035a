"""Reading a count typed by a community worker.

The foundation accepts a non-negative integer in ASCII or full-width digits, optionally followed
by the indicator's measure word ("15", "１５", "15宗"). Anything else is refused with a reason the
bot can explain; nothing is guessed.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

MAX_COUNT = 1_000_000_000


class RefusalReason(StrEnum):
    EMPTY = "empty"
    NOT_A_NUMBER = "not_a_number"
    NEGATIVE = "negative"
    DECIMAL = "decimal"
    TOO_LARGE = "too_large"
    WRONG_MEASURE_WORD = "wrong_measure_word"


@dataclass(frozen=True)
class CountRefused(Exception):
    reason: RefusalReason
    text: str


# Measure words a worker may type after a number; used only to tell "wrong measure word" apart
# from plain garbage, never to accept it.
COMMON_MEASURE_WORDS = (
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
)

_NUMBER_RE = re.compile(r"^(?P<sign>[-+]?)(?P<int>\d+)(?P<frac>\.\d+)?\s*(?P<rest>.*)$")


def _normalise(text: str) -> str:
    # NFKC folds full-width digits, signs and spaces to ASCII; we keep CJK as is.
    return unicodedata.normalize("NFKC", text).strip()


def parse_count(text: str, measure_word: str | None = None) -> int:
    """Return the count in ``text`` or raise :class:`CountRefused` saying why not."""
    normalised = _normalise(text)
    if not normalised:
        raise CountRefused(RefusalReason.EMPTY, text)
    match = _NUMBER_RE.match(normalised)
    if match is None:
        raise CountRefused(RefusalReason.NOT_A_NUMBER, text)
    rest = match["rest"].strip()
    if rest:
        if measure_word and rest == measure_word:
            pass
        elif rest in COMMON_MEASURE_WORDS:
            raise CountRefused(RefusalReason.WRONG_MEASURE_WORD, text)
        else:
            raise CountRefused(RefusalReason.NOT_A_NUMBER, text)
    if match["sign"] == "-" and int(match["int"]) != 0:
        raise CountRefused(RefusalReason.NEGATIVE, text)
    if match["frac"] is not None and int(match["frac"][1:]) != 0:
        raise CountRefused(RefusalReason.DECIMAL, text)
    value = int(match["int"])
    if value > MAX_COUNT:
        raise CountRefused(RefusalReason.TOO_LARGE, text)
    return value
