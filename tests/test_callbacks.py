"""Button data: what figbot builds it reads back; anything else a client sends is refused."""

from __future__ import annotations

import pytest

from bot.callbacks import ReportCallback, is_report_data


@pytest.mark.parametrize(
    "callback",
    [
        ReportCallback("start", 1),
        ReportCallback("edit", 2_147_483_647, "disputes_mediated"),
        ReportCallback("accept", 12, "3=190"),
    ],
)
def test_what_figbot_builds_it_reads_back(callback: ReportCallback) -> None:
    data = callback.encode()
    assert ReportCallback.decode(data) == callback and is_report_data(data)


@pytest.mark.parametrize(
    "data",
    [
        "REPORT:start:²",  # str.isdigit says yes, int() says no
        "REPORT:start:١٢",  # int() reads Arabic-Indic digits as 12
        "REPORT:start:１２",  # and fullwidth ones
        "REPORT:start:" + "9" * 51,
        "REPORT:start:2147483648",  # past the largest id a row can have
        "REPORT:start:-1",
        "REPORT:start:+1",
        "REPORT:start: 1",
        "REPORT:start:1\n",
        "REPORT:start:1:",
        "REPORT:start",
        "REPORT:Start:1",
        "REPORT:start:1:键",
        "REPORT:edit:1:" + "a" * 51,  # 65 bytes
        "report:start:1",
        "",
    ],
)
def test_anything_else_is_refused(data: str) -> None:
    with pytest.raises(ValueError, match="not report callback data"):
        ReportCallback.decode(data)
    assert not is_report_data(data)


def test_what_no_button_can_carry_is_not_built() -> None:
    with pytest.raises(ValueError):
        ReportCallback("edit", 1, "a" * 60).encode()
    with pytest.raises(ValueError):
        ReportCallback("start", -1).encode()
