"""The README's first command: the demo runs end to end and reports what was submitted."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import Clock
from tests.processes import run_figbot


@pytest.mark.slow
@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "now",
    [
        datetime(2026, 11, 28, 2, 0, tzinfo=UTC),  # an ordinary Saturday morning
        # New Year's Day, 00:30 in Shanghai: still 31 December in UTC.
        datetime(2026, 12, 31, 16, 30, tzinfo=UTC),
        # 1 March 2027, 01:00 in Shanghai (28 Feb in UTC), a year the holiday data lacks.
        datetime(2027, 2, 28, 17, 0, tzinfo=UTC),
    ],
    ids=str,
)
async def test_the_demo_shows_the_conversation_and_the_result(
    tmp_path: Path, now: datetime
) -> None:
    code, out, err = await run_figbot(
        "demo", "--workdir", str(tmp_path / "demo"), clock=Clock(now), timeout=100, cwd=tmp_path
    )
    assert code == 0, err
    # The demo collects the month it is in Shanghai at the test's now.
    month = now.astimezone(ZoneInfo("Asia/Shanghai"))
    assert f"请填报{month.year}年{month.month}月法治工作月报" in out
    # Invited, bound, prompted.
    assert out.count("https://t.me/figbot_local_bot?start=") == 3
    assert "欢迎你，王芳！你已成为金海社区" in out
    assert "[开始填报]" in out
    # The typing mistake is corrected and the question asked again.
    assert "👤 李强: 3o\n🤖 请回复一个整数，例如 15 或 15宗。\n🤖 （2/8）调解纠纷（宗）" in out
    # Receipts and the coordinator's status.
    assert out.count("✅ 已提交") == 3
    assert "已报 3/6" in out
    # The closing summary is read back from the database.
    assert "金海社区: submitted by 王芳: 矛盾纠纷排查12次，调解纠纷5宗" in out
    assert "湖光社区: submitted by 李强: 矛盾纠纷排查8次，调解纠纷30宗" in out
    assert "新城社区: not submitted" in out
    assert (tmp_path / "demo" / "figbot.db").exists()
    assert "Traceback" not in err
