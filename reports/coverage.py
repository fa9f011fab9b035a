"""When two periods' totals may be compared (环比, 同比): only when they add up the same cells.

A period's total for an indicator adds up (or takes the largest, or the latest of) the figures
units reported for the form periods it is made of: the months of a quarter or a year, or the
period itself. Its *coverage* is the set of cells that hold a figure, a cell being one unit in
one *part*: the part is the form period's position within the period (March is part 3 of any
year, November part 2 of the fourth quarter), so a year lines up with the year before and a
quarter with the previous quarter. A unit that sent nothing, a figure left out of a
submission, a round that was never opened and a month that has not come yet all leave their
cells empty; an explicit 0 is a figure. Units no longer in the office count in the base they
reported in, as they count in its total.

Two totals are compared only when their coverages are equal. A percentage between totals made
of different cells measures the reporting, not the work: twelve months against last year's
single month reads as a tenfold 同比增长, a quarter with December still out as a fall, and a
unit that reported this month and not the last as growth worth its whole figure. Comparing
only the cells both periods share would give a percentage that neither printed total
supports, so the percentage is left out and a :class:`CoverageGap` says why.

Coverage is per indicator: an indicator added in the middle of last year has no 同比 this year,
and does not take it away from the others.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt
import pandas as pd

from domain.periods import Period

# A cell is coded as one integer, indicator << 40 | unit id << 8 | part, so that comparing two
# periods' coverage is a sort of integers rather than a join of frames (a year of a large
# office has millions of cells).
_UNIT_SHIFT, _INDICATOR_SHIFT = 8, 40
_PART_MASK, _UNIT_MASK = (1 << _UNIT_SHIFT) - 1, (1 << (_INDICATOR_SHIFT - _UNIT_SHIFT)) - 1


class GapKind(StrEnum):
    NO_BASE = "no_base"  # the base period holds no figure of the indicator
    PARTS = "parts"  # figures for different months (or quarters) of the two periods
    UNITS = "units"  # figures for the same parts, but not from the same units


class Side(StrEnum):
    CURRENT = "current"
    BASE = "base"


@dataclass(frozen=True)
class CoverageGap:
    """Why a period's total is not compared with its base (the previous period, or last year's)."""

    kind: GapKind
    current: Period
    base: Period
    current_parts: tuple[Period, ...]  # the form periods of ``current`` holding a figure
    base_parts: tuple[Period, ...]
    narrower: Side | None = None  # PARTS: the side with fewer parts holding figures
    only_current: tuple[str, ...] = ()  # UNITS: units with figures in the current period only
    only_base: tuple[str, ...] = ()  # UNITS: units with figures in the base only
    other_parts: tuple[str, ...] = ()  # UNITS: units with figures in both, for other parts


def coverage_cells(
    values: pd.DataFrame, parts: Sequence[str], keys: Sequence[str]
) -> npt.NDArray[np.int64]:
    """The cells holding a figure among ``values``, the stored values of the form periods
    ``parts`` (in order), for the indicators ``keys``: sorted, unique cell codes."""
    part = pd.Index(list(parts)).get_indexer(values["period"])
    indicator = pd.Index(list(keys)).get_indexer(values["indicator_key"])
    unit = values["unit_id"].to_numpy(dtype="int64")
    found = (part >= 0) & (indicator >= 0)
    codes = (
        (indicator[found].astype("int64") << _INDICATOR_SHIFT)
        | (unit[found] << _UNIT_SHIFT)
        | part[found].astype("int64")
    )
    return np.unique(codes)


def coverage_gaps(
    current: npt.NDArray[np.int64],
    base: npt.NDArray[np.int64],
    *,
    keys: Sequence[str],
    periods: tuple[Period, Period],
    parts: tuple[Sequence[Period], Sequence[Period]],
    units: Mapping[int, str],
) -> dict[str, CoverageGap]:
    """The indicators whose current total must not be compared with the base's, and why.

    ``current`` and ``base``: :func:`coverage_cells` of the two periods for ``keys``;
    ``periods``: (current, base); ``parts``: the form periods each is made of; ``units``: unit
    id → name, in the order the summary lists units. An indicator without a figure in the
    current period has nothing to compare and no gap.
    """
    unequal = np.intersect1d(
        np.setxor1d(current, base, assume_unique=True) >> _INDICATOR_SHIFT,
        current >> _INDICATOR_SHIFT,
    )
    order = {unit_id: index for index, unit_id in enumerate(units)}
    gaps: dict[str, CoverageGap] = {}
    for indicator in unequal.tolist():
        mine = current[(current >> _INDICATOR_SHIFT) == indicator]
        theirs = base[(base >> _INDICATOR_SHIFT) == indicator]
        gaps[keys[indicator]] = _gap(mine, theirs, periods, parts, units, order)
    return gaps


def _gap(
    current: npt.NDArray[np.int64],
    base: npt.NDArray[np.int64],
    periods: tuple[Period, Period],
    parts: tuple[Sequence[Period], Sequence[Period]],
    units: Mapping[int, str],
    order: Mapping[int, int],
) -> CoverageGap:
    """The gap between two unequal coverages of one indicator (the current one not empty)."""
    current_parts = set((current & _PART_MASK).tolist())
    base_parts = set((base & _PART_MASK).tolist())
    found = (
        tuple(parts[0][i] for i in sorted(current_parts)),
        tuple(parts[1][i] for i in sorted(base_parts)),
    )
    if not base_parts:
        return CoverageGap(GapKind.NO_BASE, *periods, *found)
    if current_parts != base_parts:
        narrower = (
            Side.BASE
            if len(base_parts) < len(current_parts)
            else Side.CURRENT
            if len(current_parts) < len(base_parts)
            else None
        )
        return CoverageGap(GapKind.PARTS, *periods, *found, narrower=narrower)
    mine = set(((current >> _UNIT_SHIFT) & _UNIT_MASK).tolist())
    theirs = set(((base >> _UNIT_SHIFT) & _UNIT_MASK).tolist())
    differing = np.setxor1d(current, base, assume_unique=True)
    changed = set(((differing >> _UNIT_SHIFT) & _UNIT_MASK).tolist()) & mine & theirs

    def named(ids: set[int]) -> tuple[str, ...]:
        ordered = sorted(ids, key=lambda unit_id: (order.get(unit_id, len(order)), unit_id))
        return tuple(units.get(unit_id, f"#{unit_id}") for unit_id in ordered)

    return CoverageGap(
        GapKind.UNITS,
        *periods,
        *found,
        only_current=named(mine - theirs),
        only_base=named(theirs - mine),
        other_parts=named(changed),
    )
