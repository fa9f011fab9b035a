"""The compile: one pure function from a period's stored values to the summary tables.

No database and no Telegram here: the caller loads plain records (``services.summary``) and
renders the frames (chat message, .xlsx, charts, report text). Missing is not zero: a unit that
did not report has NaN in its cells and is counted as missing, never as 0. A 环比 or 同比 is
given only between totals of the same coverage (``reports.coverage``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

import numpy as np
import numpy.typing as npt
import pandas as pd

from domain.periods import Period, PeriodKind
from reports.coverage import CoverageGap, coverage_cells, coverage_gaps


class Aggregation(StrEnum):
    SUM = "sum"  # counts over months add up (the default)
    MAX = "max"  # e.g. number of mediation committees: the largest month
    LATEST = "latest"  # e.g. staff on duty: the last reported month


class UnitStatus(StrEnum):
    ON_TIME = "on_time"
    LATE = "late"
    PARTIAL = "partial"  # a quarter or year with some months missing
    MISSING = "missing"


@dataclass(frozen=True)
class IndicatorSpec:
    key: str
    label: str
    measure_word: str
    aggregation: Aggregation = Aggregation.SUM


@dataclass(frozen=True)
class UnitSpec:
    id: int
    code: str
    name: str
    kind: str  # community | village


@dataclass(frozen=True)
class SubmissionRecord:
    unit_id: int
    period: str  # the form's own period (a month for a monthly form)
    submitted_at: datetime
    submitted_by: str
    late: bool


@dataclass(frozen=True)
class ValueRecord:
    unit_id: int
    period: str
    indicator_key: str
    value: float
    updated_at: datetime
    updated_by: str
    note: str | None = None


VALUE_COLUMNS = ["unit_id", "period", "indicator_key", "value", "updated_at", "updated_by", "note"]


@dataclass(frozen=True)
class RevisionRecord:
    unit_id: int
    period: str
    indicator_key: str
    old_value: float | None
    new_value: float
    actor: str
    at: datetime
    via: str
    reason: str | None


@dataclass(frozen=True)
class SummaryInput:
    office_name: str
    form_name: str
    form_period_kind: PeriodKind
    period: Period  # what is asked for: the form's period or a roll-up (quarter, year)
    units: list[UnitSpec]
    indicators: list[IndicatorSpec]
    submissions: list[SubmissionRecord]
    values: list[ValueRecord] | pd.DataFrame  # a frame with ValueRecord's columns, for speed
    revisions: list[RevisionRecord] = field(default_factory=list)
    timezone: str = "Asia/Shanghai"
    # Units the office no longer has: not in the table, but their figures count in the bases
    # they reported in, and a note on coverage names them.
    former_units: list[UnitSpec] = field(default_factory=list)


@dataclass
class Summary:
    office_name: str
    form_name: str
    period: Period
    indicators: list[IndicatorSpec]
    table: pd.DataFrame  # one row per unit: unit, kind, status, submitted_at, by, then indicators
    totals: pd.Series  # indicator key -> office total (NaN when nobody reported)
    # Per indicator: current, previous, mom, last_year, yoy, and mom_gap / yoy_gap: the
    # CoverageGap that left the percentage out (NaN), or None.
    comparison: pd.DataFrame
    details: pd.DataFrame  # one row per stored value of the period
    revisions: pd.DataFrame
    counts: dict[UnitStatus, int]
    timezone: str = "Asia/Shanghai"

    @property
    def reported(self) -> int:
        return (
            self.counts[UnitStatus.ON_TIME]
            + self.counts[UnitStatus.LATE]
            + self.counts[UnitStatus.PARTIAL]
        )

    @property
    def unit_count(self) -> int:
        return len(self.table)

    @property
    def units_with_figures(self) -> int:
        """Units with at least one figure of the form's indicators in the period: what "有数据"
        and "参与填报" claim. A submission alone does not count (it may hold only figures of
        indicators the form no longer asks)."""
        keys = [spec.key for spec in self.indicators]
        return int(self.table[keys].notna().any(axis=1).sum())


def constituent_periods(period: Period, form_kind: PeriodKind) -> list[str]:
    """The form periods a requested period is made of (a quarter of a monthly form: 3 months)."""
    if period.kind is form_kind:
        return [period.code]
    if form_kind is PeriodKind.MONTH and period.kind in (PeriodKind.QUARTER, PeriodKind.YEAR):
        return [month.code for month in period.months()]
    if form_kind is PeriodKind.QUARTER and period.kind is PeriodKind.YEAR:
        return [f"{period.year}Q{quarter}" for quarter in range(1, 5)]
    raise ValueError(f"a {form_kind} form cannot be summarised per {period.kind}")


def periods_needed(period: Period, form_kind: PeriodKind) -> list[str]:
    """Everything the compile reads: the period, the previous one and the same one last year."""
    needed: list[str] = []
    for p in (period, period.previous(), period.same_period_last_year()):
        needed += constituent_periods(p, form_kind)
    return needed


def _aggregate(values: pd.DataFrame, indicators: list[IndicatorSpec]) -> pd.DataFrame:
    """unit_id × indicator key for the given rows (several periods in a roll-up)."""
    columns = [spec.key for spec in indicators]
    if values.empty:
        return pd.DataFrame(columns=columns, dtype="float64")
    parts = []
    for aggregation in Aggregation:
        keys = [spec.key for spec in indicators if spec.aggregation is aggregation]
        if not keys:
            continue
        rows = values[values["indicator_key"].isin(keys)]
        grouped = rows.groupby(["unit_id", "indicator_key"])["value"]
        if aggregation is Aggregation.SUM:
            part = grouped.sum()
        elif aggregation is Aggregation.MAX:
            part = grouped.max()
        else:
            part = rows.sort_values("period").groupby(["unit_id", "indicator_key"])["value"].last()
        parts.append(part.unstack("indicator_key"))
    return pd.concat(parts, axis=1).reindex(columns=columns).astype("float64")


def _total(frame: pd.DataFrame, spec: IndicatorSpec) -> float:
    column = frame[spec.key] if spec.key in frame else pd.Series(dtype="float64")
    if column.dropna().empty:
        return float("nan")
    if spec.aggregation is Aggregation.MAX:
        return float(column.max())
    return float(column.sum())


def _change(current: float, base: float, gap: CoverageGap | None) -> float:
    """Relative change, NaN where there is no comparable base (absent, zero, or of another
    coverage)."""
    if gap is not None or pd.isna(current) or pd.isna(base) or base == 0:
        return float("nan")
    return (current - base) / base


def _coverage_gaps(
    data: SummaryInput,
    values: dict[Period, pd.DataFrame],
    listed_units: set[int],
    names: dict[int, str],
) -> tuple[dict[str, CoverageGap], dict[str, CoverageGap]]:
    """The 环比 and 同比 left out for coverage, per indicator. ``values``: the stored values of
    the period, the previous one and the same one last year. The current total adds up the
    listed units only (the table's rows), so its coverage does too."""
    keys = [spec.key for spec in data.indicators]

    def parts(period: Period) -> list[str]:
        return constituent_periods(period, data.form_period_kind)

    def cells(period: Period) -> npt.NDArray[np.int64]:
        return coverage_cells(values[period], parts(period), keys)

    listed = values[data.period]["unit_id"].isin(listed_units)
    current = coverage_cells(values[data.period][listed], parts(data.period), keys)
    gaps = []
    for base in (data.period.previous(), data.period.same_period_last_year()):
        gaps.append(
            coverage_gaps(
                current,
                cells(base),
                keys=keys,
                periods=(data.period, base),
                parts=(
                    [Period.parse(code) for code in parts(data.period)],
                    [Period.parse(code) for code in parts(base)],
                ),
                units=names,
            )
        )
    return gaps[0], gaps[1]


def compile_summary(data: SummaryInput) -> Summary:
    if isinstance(data.values, pd.DataFrame):
        all_values = data.values.reindex(columns=VALUE_COLUMNS)
    else:
        all_values = pd.DataFrame([vars(v) for v in data.values], columns=VALUE_COLUMNS)
    all_values["value"] = all_values["value"].astype("float64")

    def values_of(period: Period) -> pd.DataFrame:
        return all_values[
            all_values["period"].isin(constituent_periods(period, data.form_period_kind))
        ]

    current_periods = constituent_periods(data.period, data.form_period_kind)
    bases = (data.period.previous(), data.period.same_period_last_year())
    values = {period: values_of(period) for period in (data.period, *bases)}
    current = _aggregate(values[data.period], data.indicators)
    previous = _aggregate(values[bases[0]], data.indicators)
    last_year = _aggregate(values[bases[1]], data.indicators)

    own_submissions: dict[int, list[SubmissionRecord]] = {}
    for record in data.submissions:
        if record.period in current_periods:
            own_submissions.setdefault(record.unit_id, []).append(record)
    rows = []
    counts = dict.fromkeys(UnitStatus, 0)
    ordered_units = sorted(data.units, key=lambda u: (u.kind != "community", u.id))
    for unit in ordered_units:
        own = own_submissions.get(unit.id, [])
        periods_done = {s.period for s in own}
        if not own:
            status = UnitStatus.MISSING
        elif len(periods_done) < len(current_periods):
            status = UnitStatus.PARTIAL
        elif any(s.late for s in own):
            status = UnitStatus.LATE
        else:
            status = UnitStatus.ON_TIME
        counts[status] += 1
        latest = max(own, key=lambda s: s.submitted_at) if own else None
        rows.append(
            {
                "unit_id": unit.id,
                "unit": unit.name,
                "kind": unit.kind,
                "status": status.value,
                "submitted_at": latest.submitted_at if latest else None,
                "submitted_by": latest.submitted_by if latest else None,
            }
        )
    keys = [spec.key for spec in data.indicators]
    table = pd.DataFrame(
        rows, columns=["unit_id", "unit", "kind", "status", "submitted_at", "submitted_by"]
    )
    figures = current.reindex(index=table["unit_id"], columns=keys).reset_index(drop=True)
    figures[(table["status"] == UnitStatus.MISSING.value).to_numpy()] = float("nan")
    table = pd.concat([table, figures], axis=1)

    totals = pd.Series({spec.key: _total(table, spec) for spec in data.indicators}, dtype="float64")
    names = {unit.id: unit.name for unit in [*ordered_units, *data.former_units]}
    mom_gaps, yoy_gaps = _coverage_gaps(data, values, set(table["unit_id"]), names)
    comparison = pd.DataFrame(
        [
            {
                "key": spec.key,
                "label": spec.label,
                "measure_word": spec.measure_word,
                "current": totals[spec.key],
                "previous": _total(previous, spec),
                "mom": _change(totals[spec.key], _total(previous, spec), mom_gaps.get(spec.key)),
                "last_year": _total(last_year, spec),
                "yoy": _change(totals[spec.key], _total(last_year, spec), yoy_gaps.get(spec.key)),
                "mom_gap": mom_gaps.get(spec.key),
                "yoy_gap": yoy_gaps.get(spec.key),
            }
            for spec in data.indicators
        ],
        columns=[
            "key",
            "label",
            "measure_word",
            "current",
            "previous",
            "mom",
            "last_year",
            "yoy",
            "mom_gap",
            "yoy_gap",
        ],
    )

    labels = {spec.key: spec.label for spec in data.indicators}
    details = values[data.period].copy()
    details.insert(0, "unit", details["unit_id"].map(names))
    details.insert(2, "indicator", details["indicator_key"].map(labels))
    details = details.sort_values(["unit_id", "period", "indicator_key"]).reset_index(drop=True)
    revisions = pd.DataFrame(
        [vars(r) for r in data.revisions if r.period in current_periods],
        columns=[
            "unit_id",
            "period",
            "indicator_key",
            "old_value",
            "new_value",
            "actor",
            "at",
            "via",
            "reason",
        ],
    )
    revisions.insert(0, "unit", revisions["unit_id"].map(names))
    revisions.insert(2, "indicator", revisions["indicator_key"].map(labels))
    return Summary(
        office_name=data.office_name,
        form_name=data.form_name,
        period=data.period,
        indicators=list(data.indicators),
        table=table,
        totals=totals,
        comparison=comparison,
        details=details,
        revisions=revisions.sort_values("at").reset_index(drop=True),
        counts=counts,
        timezone=data.timezone,
    )
