"""Rules a figure must keep: bounds per indicator, rules across indicators, and outliers.

Cross-indicator rules are written in the config as simple comparisons over indicator keys,
e.g. ``mediated_success <= disputes_mediated`` or ``a + b <= c``; they are parsed here (never
evaluated by Python's ``eval``) so a typo stops start-up with a message naming the rule.
"""

from __future__ import annotations

import math
import operator
import re
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from domain.numbers import MAX_COUNT, Number

_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
}
_SHOWN = {"<=": "≤", ">=": "≥", "==": "=", "!=": "≠", "<": "<", ">": ">"}
_TOKEN = re.compile(
    r"\s*(?:(?P<op><=|>=|==|!=|<|>)|(?P<sign>[+-])|(?P<num>\d+)|(?P<key>[a-z][a-z0-9_]*))"
)


class RuleError(ValueError):
    """A rule that cannot be read; the message says what is wrong with it."""


@dataclass(frozen=True)
class Term:
    sign: int  # +1 or -1
    key: str | None = None
    number: int = 0


@dataclass(frozen=True)
class CrossRule:
    text: str
    left: tuple[Term, ...]
    op: str
    right: tuple[Term, ...]

    @property
    def keys(self) -> list[str]:
        return [t.key for t in (*self.left, *self.right) if t.key is not None]

    def shown(self, labels: Mapping[str, str]) -> str:
        """The rule with indicator labels, e.g. "调解成功 ≤ 调解纠纷"."""

        def side(terms: tuple[Term, ...]) -> str:
            parts = []
            for index, term in enumerate(terms):
                name = labels.get(term.key, term.key) if term.key else str(term.number)
                sign = "-" if term.sign < 0 else ("+" if index else "")
                parts.append(f"{sign} {name}".strip() if index else f"{sign}{name}")
            return " ".join(parts)

        return f"{side(self.left)} {_SHOWN[self.op]} {side(self.right)}"


def parse_rule(text: str, known_keys: Sequence[str]) -> CrossRule:
    position = 0
    tokens: list[tuple[str, str]] = []
    while position < len(text.rstrip()):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise RuleError(f"cannot read {text[position:].strip()!r} in rule {text!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    ops = [i for i, (kind, _) in enumerate(tokens) if kind == "op"]
    if len(ops) != 1:
        raise RuleError(f"rule {text!r} needs exactly one comparison (<=, <, >=, >, ==, !=)")
    split = ops[0]

    def side(part: list[tuple[str, str]]) -> tuple[Term, ...]:
        terms: list[Term] = []
        sign = 1
        expect_operand = True
        for kind, value in part:
            if kind == "sign" and expect_operand and not terms and value == "-":
                sign = -1
            elif kind == "sign" and not expect_operand:
                sign = 1 if value == "+" else -1
                expect_operand = True
            elif kind in ("num", "key") and expect_operand:
                if kind == "key" and value not in known_keys:
                    raise RuleError(f"rule {text!r}: {value!r} is not an indicator of the form")
                terms.append(
                    Term(sign, key=value) if kind == "key" else Term(sign, number=int(value))
                )
                sign, expect_operand = 1, False
            else:
                raise RuleError(f"rule {text!r} is not a comparison of sums of indicators")
        if expect_operand:
            raise RuleError(f"rule {text!r} has a side without an indicator or number")
        return tuple(terms)

    left, right = side(tokens[:split]), side(tokens[split + 1 :])
    rule = CrossRule(text=text.strip(), left=left, op=tokens[split][1], right=right)
    if not rule.keys:
        raise RuleError(f"rule {text!r} names no indicator")
    return rule


def _total(terms: tuple[Term, ...], values: Mapping[str, float | None]) -> float | None:
    total: float = 0
    for term in terms:
        value = values.get(term.key) if term.key is not None else term.number
        if value is None:
            return None
        total += term.sign * value
    return total


def rule_holds(rule: CrossRule, values: Mapping[str, float | None]) -> bool:
    """True when the rule holds, or cannot be checked because a value is not given."""
    left, right = _total(rule.left, values), _total(rule.right, values)
    if left is None or right is None:
        return True
    return _COMPARISONS[rule.op](left, right)


def broken_rules(rules: Sequence[CrossRule], values: Mapping[str, float | None]) -> list[CrossRule]:
    return [rule for rule in rules if not rule_holds(rule, values)]


class Violation(StrEnum):
    """How a value misses its indicator's bounds."""

    BELOW = "below"  # under the indicator's minimum
    ABOVE = "above"  # over its maximum, or over MAX_COUNT whatever the config allows
    DECIMALS = "decimals"  # more decimal places than the indicator takes


@dataclass(frozen=True)
class Bounds:
    """What a value of one indicator may be.

    Every value is written through ``services.values.write_values``, which checks it here,
    so no way into the database (a typed answer, a tapped suggestion, figures read from a
    message, a coordinator's correction) can store a value these bounds refuse.
    """

    minimum: int | None = None
    maximum: int | None = None
    decimals: int = 0  # decimal places taken (0: a whole count)

    @property
    def ceiling(self) -> int:
        """The largest value taken: the indicator's maximum, never more than MAX_COUNT."""
        return MAX_COUNT if self.maximum is None else min(self.maximum, MAX_COUNT)

    def violation(self, value: Number) -> Violation | None:
        """How ``value`` misses the bounds, or None when it is within them."""
        # An int of any length compares exactly; only a float can be inf or NaN.
        if value > self.ceiling or (isinstance(value, float) and not math.isfinite(value)):
            return Violation.ABOVE
        if self.minimum is not None and value < self.minimum:
            return Violation.BELOW
        if round(value, self.decimals) != value:
            return Violation.DECIMALS
        return None

    def bound(self, violation: Violation) -> int:
        """The bound ``violation`` crossed, to name it to the user (for DECIMALS: the places)."""
        if violation is Violation.BELOW:
            return self.minimum or 0
        if violation is Violation.ABOVE:
            return self.ceiling
        return self.decimals


@dataclass(frozen=True)
class OutlierPolicy:
    """Question a value far from the unit's own history (factor 0 switches it off)."""

    factor: float = 3.0
    floor: int = 10  # small counts swing: neither the value nor the median below this counts
    history: int = 6  # how many of the unit's last reported periods to compare with
    min_history: int = 3  # with less history nothing is "unusual" yet


@dataclass(frozen=True)
class Outlier:
    value: float
    median: float
    high: bool  # True: far above the usual; False: far below


def outlier(value: float, history: Sequence[float], policy: OutlierPolicy) -> Outlier | None:
    """Whether ``value`` is unusual against ``history`` (the latest periods first)."""
    recent = list(history[: policy.history])
    if policy.factor <= 0 or len(recent) < policy.min_history:
        return None
    median = statistics.median(recent)
    if value >= policy.floor and value > policy.factor * median:
        return Outlier(value, median, high=True)
    if median >= policy.floor and value * policy.factor < median:
        return Outlier(value, median, high=False)
    return None


def change_percent(value: float, base: float | None) -> float | None:
    """+200.0 for 9 → 27; None without a usable base."""
    if base is None or base == 0:
        return None
    return (value - base) / base * 100
