"""Templates from the config: rendered in Jinja's sandbox, in a process stopped in time."""

from __future__ import annotations

import multiprocessing
import time

import pytest

from reports.sandbox import Lookup, TemplateError, TemplateTooSlow, render

# Three hundred million turns of an empty loop: some ten seconds of a CPU, were it not stopped.
HEAVY_TEMPLATE = (
    "{% for i in range(30000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}"
    "{{ n.disputes_mediated }}"
)


def test_a_template_gets_its_figures_and_functions_as_data() -> None:
    context = {"n": {"a": "12宗"}, "yoy": Lookup({("a",): "，同比增长5%"})}
    rendered = render("  调解{{ n.a }}{{ yoy('a') }}。\n", context, seconds=10)
    assert rendered.text == "调解12宗，同比增长5%。"
    assert rendered.asked == {"yoy": {("a",)}}
    with pytest.raises(TemplateError, match="'b'"):
        render("{{ yoy('b') }}", context, seconds=10)


def test_a_template_past_its_time_is_stopped_and_leaves_no_process() -> None:
    started = time.monotonic()
    with pytest.raises(TemplateTooSlow, match="stopped after 0.5 s"):
        render(HEAVY_TEMPLATE, {"n": {"disputes_mediated": "5宗"}}, seconds=0.5)
    assert time.monotonic() - started < 3
    assert multiprocessing.active_children() == []


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("{{ 'x' * 4000000000 }}", "MemoryError"),  # four gigabytes: over the child's cap
        ("{{ ''.__class__.__mro__ }}", "unsafe"),  # the sandbox keeps Python's insides shut
        ("{% for i in range(10**6) %}{% endfor %}", "Range too big"),
        ("{{ missing }}", "'missing' is undefined"),
    ],
)
def test_a_template_that_breaks_the_rules_is_refused(template: str, problem: str) -> None:
    with pytest.raises(TemplateError, match=problem):
        render(template, {}, seconds=10)
