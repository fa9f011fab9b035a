"""Drafting the statistics paragraphs of the annual 法治政府建设 report.

The office edits the wording (a Jinja2 template in the config); every number, measure word and
percentage is computed from the compiled year, never typed into the template. The template runs
in Jinja2's sandbox, so an edited config cannot reach into figbot, and in a process of its own
that is stopped after ``seconds``, so a heavy template cannot freeze the bot (``reports.sandbox``).
"""

from __future__ import annotations

import math

from reports.compile import Summary
from reports.sandbox import Lookup, TemplateError, TemplateTooSlow, render
from reports.text import number_text

DEFAULT_TEMPLATE = (
    "{{ year }}年，{{ office }}共{{ units_total }}个社区（村）参与法治工作数据填报。"
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


def draft_report(
    summary: Summary, template: str = DEFAULT_TEMPLATE, *, seconds: float = TEMPLATE_SECONDS
) -> str:
    """The paragraphs; blocks the calling thread while the template runs (up to ``seconds``)."""
    rows = summary.comparison.set_index("key")
    keys = [str(key) for key in rows.index]

    def figure(key: str) -> str:
        value = rows.at[key, "current"]
        if math.isnan(value):
            return "（暂无数据）"
        return f"{number_text(value)}{rows.at[key, 'measure_word']}"

    def change(key: str, column: str, word: str) -> str:
        value = rows.at[key, column]
        if math.isnan(value):
            return ""
        if value == 0:
            return f"，与{'上年' if word == '同比' else '上期'}持平"
        return f"，{word}{'增长' if value > 0 else '下降'}{_percent(abs(value))}"

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
        "units_reported": int(summary.reported),
        "n": {key: figure(key) for key in keys},
        "value": {key: float(rows.at[key, "current"]) for key in keys},
        "yoy": Lookup({(key,): change(key, "yoy", "同比") for key in keys}),
        "mom": Lookup({(key,): change(key, "mom", "环比") for key in keys}),
        "rate": Lookup({(a, b): rate(a, b) for a in keys for b in keys}),
    }
    try:
        return render(template, context, seconds=seconds)
    except TemplateTooSlow as exc:
        raise ReportTemplateTooSlow(f"report template: {exc}", exc.seconds) from None
    except TemplateError as exc:
        raise ReportTemplateError(f"report template: {exc}") from None
