"""The README's first command: the demo runs end to end and reports what was submitted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_demo_shows_the_conversation_and_the_result(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIGBOT_")}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "demo", "--workdir", str(tmp_path / "demo")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
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
    assert "Traceback" not in result.stderr
