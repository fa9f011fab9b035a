"""Drafting the statistics paragraphs of the annual 法治政府建设 report.

The office edits the wording (a Jinja2 template in the config); every number, measure word and
percentage is computed from the compiled year, never typed into the template. The template runs
in Jinja2's sandbox, so an edited config cannot reach into figbot.

A 同比 (环比) the template asks for is given only when the two years add up the same units'
figures for the same months (``reports.coverage``); otherwise it is left out of the sentence and
the draft ends with a note for the writer saying why, e.g.
"（说明：2025年仅有3月的数据，2026年有1—12月的数据，未计算同比。）".
"""

from __future__ import annotations

import math

from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from reports.compile import Summary
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


class ReportTemplateError(ValueError):
    """The office's template cannot be rendered; the message says where."""


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


def draft_report(summary: Summary, template: str = DEFAULT_TEMPLATE) -> str:
    """The template rendered on the year's figures; notes on any 同比/环比 left out follow."""
    rows = summary.comparison.set_index("key")
    asked: dict[str, list[str]] = {"yoy": [], "mom": []}

    def figure(key: str) -> str:
        value = rows.at[key, "current"]
        if math.isnan(value):
            return "（暂无数据）"
        return f"{number_text(value)}{rows.at[key, 'measure_word']}"

    def change(key: str, column: str) -> str:
        value = rows.at[key, column]
        asked[column].append(key)
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

    environment = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    context = {
        "year": summary.period.year,
        "office": summary.office_name,
        "form": summary.form_name,
        "units_total": summary.unit_count,
        "units_reported": summary.units_with_figures,
        "n": {key: figure(key) for key in rows.index},
        "value": {key: rows.at[key, "current"] for key in rows.index},
        "yoy": lambda key: change(key, "yoy"),
        "mom": lambda key: change(key, "mom"),
        "rate": rate,
    }
    try:
        text = environment.from_string(template).render(context).strip()
    except Exception as exc:
        raise ReportTemplateError(f"report template: {exc}") from None
    notes = _notes(summary, asked)
    return "\n\n".join([text, "\n".join(notes)]) if notes else text
