"""The ``figbot`` command as an office admin uses it: real processes, real HTTP."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from datetime import date
from pathlib import Path

import pytest

from bot.cli import main
from bot.fakeapi import LocalBotApiServer
from domain.periods import Period, PeriodKind
from tests.conftest import EXAMPLE_CONFIG, TEST_TOKEN

ROOT = Path(__file__).resolve().parents[1]


def _config_file(tmp_path: Path, db_url: str, *, base_url: str = "", token: str = "") -> Path:
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    text = text.replace('url = "sqlite:///figbot.db"', f'url = "{db_url}"')
    if base_url:
        text = text.replace('base_url = "https://api.telegram.org/bot"', f'base_url = "{base_url}"')
    text = text.replace('\ntoken = ""', f'\ntoken = "{token}"', 1)
    text = text.replace("outbox_interval_seconds = 5", "outbox_interval_seconds = 1")
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _env() -> dict[str, str]:
    # No figbot settings and no proxy of the machine's: a test names its own.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("FIGBOT_") and not k.lower().endswith("_proxy")
    }
    env["PYTHONPATH"] = str(ROOT)
    env["FIGBOT_TELEGRAM_TOKEN"] = TEST_TOKEN
    return env


async def _figbot(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """``figbot *args`` as a process; ``env`` adds to the environment."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        *args,
        cwd=ROOT,
        env={**_env(), **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_an_admin_invites_opens_a_round_and_runs_the_bot(
    server: LocalBotApiServer, db_url: str, tmp_path: Path
) -> None:
    config = _config_file(tmp_path, db_url, base_url=server.base_url)
    # Next month: its deadline is in the future whenever the suite runs.
    period = Period.containing(PeriodKind.MONTH, date.today()).next()
    code, out, err = await _figbot("--config", str(config), "invite", "--unit", "jinhai")
    assert code == 0, err
    # The bot's username comes from getMe on the configured Bot API server.
    match = re.fullmatch(r"https://t\.me/figbot_local_bot\?start=([A-Za-z0-9_-]{20,64})\n", out)
    assert match, out
    assert "金海社区" in err and "expires" in err

    bot = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "--config",
        str(config),
        "run",
        cwd=ROOT,
        env=_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        server.add_user(1001, "王芳")
        await server.send_text(1001, f"/start {match[1]}")
        greeting = await server.wait_for_message(1001, timeout=60)
        assert "金海社区" in greeting.text

        for _ in range(2):  # idempotent: the second run opens nothing and prompts nobody
            code, out, err = await _figbot(
                "--config", str(config), "open-round", "--form", "monthly", "--period", period.code
            )
            assert code == 0, err
        assert f"round monthly {period.code} already open; 0 new prompt(s) queued" in out
        prompt = await server.wait_for_message(
            1001, predicate=lambda m: "开始填报" in m.button_texts(), timeout=30
        )
        assert f"{period.year}年{period.index}月" in prompt.text
        await server.press_button_by_text(1001, prompt.message_id, "开始填报")
        question = await server.wait_for_message(1001, since=server.message_count(1001))
        assert question.text.startswith("（1/8）")
        prompts = [m for m in server.messages(1001) if "开始填报" in m.button_texts()]
        assert len(prompts) == 1
    finally:
        bot.send_signal(signal.SIGINT)
        _, bot_err = await asyncio.wait_for(bot.communicate(), timeout=30)
    assert bot.returncode == 0, bot_err.decode()
    assert "figbot starting" in bot_err.decode()
    assert TEST_TOKEN not in bot_err.decode()


def test_run_without_a_token_says_which_key(
    tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FIGBOT_TELEGRAM_TOKEN", raising=False)
    config = _config_file(tmp_path, db_url)
    assert main(["--config", str(config), "run"]) == 2
    assert "telegram.token" in capsys.readouterr().err


def test_a_bad_config_stops_start_up_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.toml"
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8").replace(
        "deadline_days = 3", "deadline_days = -1"
    )
    path.write_text(text, encoding="utf-8")
    assert main(["--config", str(path), "run"]) == 2
    assert "forms.0.deadline_days" in capsys.readouterr().err


def test_open_round_refuses_an_unknown_form_and_a_bad_period(
    tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config_file(tmp_path, db_url, token=TEST_TOKEN)
    assert (
        main(["--config", str(config), "open-round", "--form", "weekly", "--period", "2026-10"])
        == 2
    )
    assert "unknown form 'weekly'" in capsys.readouterr().err
    assert (
        main(["--config", str(config), "open-round", "--form", "monthly", "--period", "2026-13"])
        == 2
    )
    assert "2026-13" in capsys.readouterr().err


def test_invite_refuses_an_unknown_unit(
    tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config_file(tmp_path, db_url, token=TEST_TOKEN)
    text = config.read_text(encoding="utf-8").replace(
        'bot_username = ""', 'bot_username = "figbot_x_bot"'
    )
    config.write_text(text, encoding="utf-8")
    assert main(["--config", str(config), "invite", "--unit", "nowhere"]) == 2
    assert "unknown unit 'nowhere'" in capsys.readouterr().err
    assert main(["--config", str(config), "invite", "--unit", "jinhai"]) == 0
    assert capsys.readouterr().out.startswith("https://t.me/figbot_x_bot?start=")


def test_schedule_prints_the_coming_events(
    tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config_file(tmp_path, db_url, token=TEST_TOKEN)
    assert main(["--config", str(config), "schedule", "--periods", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    opens = [line for line in lines if "round opens, reporters prompted" in line]
    locks = [line for line in lines if "figures locked" in line]
    assert len(locks) == 2 and 1 <= len(opens) <= 2
    assert all(" 09:00  金湖街道办事处  法治工作月报 " in line for line in opens)
    assert any("reminder to units not submitted (2h before the deadline)" in line for line in lines)
    assert any("digest to coordinators (at the deadline)" in line for line in lines)
    times = [line[:16] for line in lines]
    assert times == sorted(times)  # in time order


def test_summary_from_the_command_line(
    tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from openpyxl import load_workbook

    config = _config_file(tmp_path, db_url, token=TEST_TOKEN)
    out = tmp_path / "summary.xlsx"
    assert (
        main(
            [
                "--config",
                str(config),
                "summary",
                "--period",
                "2026-10",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    assert "0/6 units reported" in capsys.readouterr().out
    book = load_workbook(out)
    assert book.sheetnames == ["汇总", "环比同比", "明细", "修改记录"]
    markdown = tmp_path / "summary.md"
    assert (
        main(
            [
                "--config",
                str(config),
                "summary",
                "--form",
                "monthly",
                "--period",
                "2026Q4",
                "--format",
                "markdown",
                "--out",
                str(markdown),
                "--quiet",
            ]
        )
        == 0
    )
    assert markdown.read_text(encoding="utf-8").startswith(
        "# 金湖街道办事处 法治工作月报 2026年第4季度"
    )
    assert (
        main(
            [
                "--config",
                str(config),
                "summary",
                "--period",
                "2026-W05",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 2
    )
    assert "no form can be summarised per week" in capsys.readouterr().err


def test_the_config_may_be_given_before_or_after_the_command() -> None:
    from bot.cli import _parser

    assert _parser().parse_args(["--config", "a.toml", "schedule"]).config == "a.toml"
    assert _parser().parse_args(["schedule", "--config", "b.toml"]).config == "b.toml"
    assert _parser().parse_args(["db", "upgrade", "--config", "c.toml"]).config == "c.toml"
    assert _parser().parse_args(["schedule"]).config is None


def test_run_webhook_without_address_or_secret_says_which_keys(
    tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config_file(tmp_path, db_url, token=TEST_TOKEN)
    assert main(["--config", str(config), "run", "--webhook"]) == 2
    err = capsys.readouterr().err
    assert "webhook.url" in err and "webhook.secret_token" in err and TEST_TOKEN not in err


def test_every_command_that_writes_a_file_follows_one_rule_for_out(
    tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing folder is created; a folder is not a file; the extension says what the file
    holds (a summary's format follows it), and a name that does not fit is refused."""
    config = str(_config_file(tmp_path, db_url, token=TEST_TOKEN))
    summary = ["--config", config, "summary", "--period", "2026-10", "--quiet", "--out"]
    report = ["--config", config, "report", "--year", "2026", "--out"]
    sqlite_config = tmp_path / "sqlite"
    sqlite_config.mkdir()
    live = f"sqlite:///{tmp_path / 'live.db'}"
    assert main(["--config", str(_config_file(sqlite_config, live)), "db", "upgrade"]) == 0
    backup = ["--config", str(sqlite_config / "config.toml"), "backup", "--out"]
    capsys.readouterr()

    for command, name in [(summary, "s.xlsx"), (report, "r.txt"), (backup, "b.db")]:
        target = tmp_path / "new" / "folder" / name
        assert main([*command, str(target)]) == 0, capsys.readouterr().err
        assert target.stat().st_size > 0
        assert main([*command, str(tmp_path / "new")]) == 2
        assert f"figbot: --out {tmp_path / 'new'} is a folder" in capsys.readouterr().err

    assert main([*summary, str(tmp_path / "s.csv")]) == 0
    assert (tmp_path / "s.csv").read_text(encoding="utf-8-sig").startswith("单位,类型")
    refusals = {
        "x.pdf": "a summary is written as .xlsx, .csv or .md (or give --format)",
        "x": "a summary is written as .xlsx, .csv or .md (or give --format)",
    }
    for name, refusal in refusals.items():
        assert main([*summary, str(tmp_path / name)]) == 2
        assert refusal in capsys.readouterr().err
    assert main([*summary, str(tmp_path / "x.xlsx"), "--format", "csv"]) == 2
    assert "does not fit --format csv; name a .csv file" in capsys.readouterr().err
    assert main([*report, str(tmp_path / "r.xlsx")]) == 2
    assert "name a .txt or .md file" in capsys.readouterr().err
    written = {path.name for path in tmp_path.iterdir() if path.is_file()}
    assert not written & {"x.pdf", "x", "x.xlsx", "r.xlsx"}  # nothing written when refused
