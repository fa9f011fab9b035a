"""Drafting the statistics paragraphs of the annual 法治政府建设 report.

The office edits the wording (a Jinja2 template in the config); every number, measure word and
percentage is computed from the compiled year, never typed into the template. The template runs
in Jinja2's sandbox, so an edited config cannot reach into figbot, and in a process of its own
that is stopped after ``seconds``, so a heavy template cannot freeze the bot (``reports.sandbox``).

A 同比 (环比) the template asks for is given only when the two years add up the same units'
figures for the same months (``reports.coverage``); otherwise it is left out of the sentence and
the draft ends with a note for the writer saying why, e.g.
"（说明：2025年仅有3月的数据，2026年有1—12月的数据，未计算同比。）".
"""

from __future__ import annotations

import math

from reports.compile import Summary
from reports.sandbox import Lookup, TemplateError, TemplateTooSlow, render
from reports.text import gap_text, number_text, withheld

DEFAULT_TEMPLATE = (
    "{{ year }}年，{{ office }}所辖{{ units_total }}个社区（村）"
    "{% if units_reported == units_total %}全部{% else %}中有{{ units_reported }}个{% endif %}"
    "参与法治工作数据填报。"
    "全年共开展矛盾纠纷排查{{ n.dispute_screenings }}{{ yoy('dispute_screenings') }}，"
    "调解矛盾纠纷{{ n.disputes_mediated }}，"
    "调解成功{{ n.mediated_success }}，"
    "调解成功率{{ rate('mediated_success', 'disputes_mediated') }}；"
    "开展法治讲座{{ n.legal_lectures }}{{ yoy('legal_lectures') }}；"
    "接受群众法律咨询{{ n.legal_consultations }}{{ yoy('legal_consultations') }}；"
    "审查合同{{ n.contracts_reviewed }}；开展行政检查{{ n.inspections }}；"
    "发放普法宣传资料{{ n.leaflets_distributed }}。"
)


TEMPLATE_SECONDS = 10.0  # the longest the template may run (the config's default)


class ReportTemplateError(ValueError):
    """The office's template cannot be rendered; the message says where."""


class ReportTemplateTooSlow(ReportTemplateError):
    """The template ran past its time and was stopped."""

    def __init__(self, message: str, seconds: float) -> None:
        super().__init__(message)
        self.seconds = seconds


def _percent(value: float) -> str:
    text = f"{value * 100:.1f}".rstrip("0").rstrip(".")
    return f"{text}%"


WORDS = {"mom": "环比", "yoy": "同比"}


def _notes(summary: Summary, asked: dict[str, list[str]]) -> list[str]:
    """One note per reason a percentage the template asked for is left out for coverage (a
    year's 环比 and 同比 share their base, and a note)."""
    words: dict[tuple[str, ...], list[str]] = {}
    for column, keys in asked.items():
        for labels, gap in withheld(summary, column, keys):
            about = f"{'、'.join(labels)}方面，" if labels else ""
            words.setdefault((about, gap_text(gap)), []).append(WORDS[column])
    return [
        f"（说明：{about}{reason}，未计算{'、'.join(names)}。）"
        for (about, reason), names in words.items()
    ]


def draft_report(
    summary: Summary, template: str = DEFAULT_TEMPLATE, *, seconds: float = TEMPLATE_SECONDS
) -> str:
    """The template rendered on the year's figures, notes on any 同比/环比 left out following;
    blocks the calling thread while the template runs (up to ``seconds``)."""
    rows = summary.comparison.set_index("key")
    keys = [str(key) for key in rows.index]

    def figure(key: str) -> str:
        value = rows.at[key, "current"]
        if math.isnan(value):
            return "（暂无数据）"
        return f"{number_text(value)}{rows.at[key, 'measure_word']}"

    def change(key: str, column: str) -> str:
        value = rows.at[key, column]
        if math.isnan(value):
            return ""
        if value == 0:
            return f"，与{'上年' if column == 'yoy' else '上期'}持平"
        return f"，{WORDS[column]}{'增长' if value > 0 else '下降'}{_percent(abs(value))}"

    def rate(part: str, whole: str) -> str:
        a, b = rows.at[part, "current"], rows.at[whole, "current"]
        if math.isnan(a) or math.isnan(b) or b == 0:
            return "—"
        return _percent(a / b)

    context = {  # plain data: it is sent to the process that renders the template
        "year": int(summary.period.year),
        "office": summary.office_name,
        "form": summary.form_name,
        "units_total": int(summary.unit_count),
        "units_reported": int(summary.units_with_figures),
        "n": {key: figure(key) for key in keys},
        "value": {key: float(rows.at[key, "current"]) for key in keys},
        "yoy": Lookup({(key,): change(key, "yoy") for key in keys}),
        "mom": Lookup({(key,): change(key, "mom") for key in keys}),
        "rate": Lookup({(a, b): rate(a, b) for a in keys for b in keys}),
    }
    try:
        rendered = render(template, context, seconds=seconds)
    except TemplateTooSlow as exc:
        raise ReportTemplateTooSlow(f"report template: {exc}", exc.seconds) from None
    except TemplateError as exc:
        raise ReportTemplateError(f"report template: {exc}") from None
    # Notes for what the template asked for, not for every figure the year has.
    asked = {
        column: [key for key in keys if (key,) in rendered.asked.get(column, set())]
        for column in ("yoy", "mom")
    }
    notes = _notes(summary, asked)
    text = rendered.text
    return "\n\n".join([text, "\n".join(notes)]) if notes else text
