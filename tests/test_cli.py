"""The ``figbot`` command as an office admin uses it: real processes, real HTTP."""

from __future__ import annotations

import asyncio
import re
import signal
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.fakeapi import LocalBotApiServer
from domain.periods import Period, PeriodKind
from tests.conftest import EXAMPLE_CONFIG, TEST_TOKEN, Clock
from tests.processes import config_file, open_round, run_figbot, spawn

Main = Callable[[list[str]], int]


@pytest.mark.slow
@pytest.mark.timeout(60)
async def test_an_admin_invites_opens_a_round_and_runs_the_bot(
    server: LocalBotApiServer, db_url: str, tmp_path: Path, clock: Clock
) -> None:
    config = config_file(tmp_path, db_url, base_url=server.base_url)
    # Next month: its deadline is weeks after the test's now, however slow the run.
    today = clock().astimezone(ZoneInfo("Asia/Shanghai")).date()
    period = Period.containing(PeriodKind.MONTH, today).next()
    code, out, err = await run_figbot(
        "--config", str(config), "invite", "--unit", "jinhai", clock=clock
    )
    assert code == 0, err
    # The bot's username comes from getMe on the configured Bot API server.
    match = re.fullmatch(r"https://t\.me/figbot_local_bot\?start=([A-Za-z0-9_-]{20,64})\n", out)
    assert match, out
    assert "金海社区" in err and "expires" in err

    bot = await spawn(
        "--config",
        str(config),
        "run",
        clock=clock,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        server.add_user(1001, "王芳")
        await server.send_text(1001, f"/start {match[1]}")
        greeting = await server.wait_for_message(1001, timeout=60)
        assert "金海社区" in greeting.text

        for _ in range(2):  # idempotent: the second run opens nothing and prompts nobody
            code, out, err = await open_round(config, period.code, clock=clock)
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
    tmp_path: Path,
    db_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    figbot: Main,
) -> None:
    monkeypatch.delenv("FIGBOT_TELEGRAM_TOKEN", raising=False)
    config = config_file(tmp_path, db_url)
    assert figbot(["--config", str(config), "run"]) == 2
    assert "telegram.token" in capsys.readouterr().err


def test_a_bad_config_stops_start_up_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], figbot: Main
) -> None:
    path = tmp_path / "config.toml"
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8").replace(
        "deadline_days = 3", "deadline_days = -1"
    )
    path.write_text(text, encoding="utf-8")
    assert figbot(["--config", str(path), "run"]) == 2
    assert "forms.0.deadline_days" in capsys.readouterr().err


def test_open_round_refuses_an_unknown_form_and_a_bad_period(
    tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str], figbot: Main
) -> None:
    config = config_file(tmp_path, db_url, token=TEST_TOKEN)
    assert (
        figbot(["--config", str(config), "open-round", "--form", "weekly", "--period", "2026-10"])
        == 2
    )
    assert "unknown form 'weekly'" in capsys.readouterr().err
    assert (
        figbot(["--config", str(config), "open-round", "--form", "monthly", "--period", "2026-13"])
        == 2
    )
    assert "2026-13" in capsys.readouterr().err


def test_invite_refuses_an_unknown_unit(
    tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str], figbot: Main
) -> None:
    config = config_file(tmp_path, db_url, token=TEST_TOKEN)
    text = config.read_text(encoding="utf-8").replace(
        'bot_username = ""', 'bot_username = "figbot_x_bot"'
    )
    config.write_text(text, encoding="utf-8")
    assert figbot(["--config", str(config), "invite", "--unit", "nowhere"]) == 2
    assert "unknown unit 'nowhere'" in capsys.readouterr().err
    assert figbot(["--config", str(config), "invite", "--unit", "jinhai"]) == 0
    assert capsys.readouterr().out.startswith("https://t.me/figbot_x_bot?start=")


def test_schedule_prints_the_coming_events(
    tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str], figbot: Main
) -> None:
    config = config_file(tmp_path, db_url, token=TEST_TOKEN)
    assert figbot(["--config", str(config), "schedule", "--periods", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    # The test's now is 28 Nov 2026 10:00 in Shanghai: November's round is open.
    assert lines[:7] == [
        "2026-12-01 Tue 18:00  金湖街道办事处  法治工作月报 2026-11: "
        "reminder to units not submitted (2d before the deadline)",
        "2026-12-02 Wed 18:00  金湖街道办事处  法治工作月报 2026-11: "
        "digest to coordinators (1d before the deadline)",
        "2026-12-03 Thu 16:00  金湖街道办事处  法治工作月报 2026-11: "
        "reminder to units not submitted (2h before the deadline)",
        "2026-12-03 Thu 18:00  金湖街道办事处  法治工作月报 2026-11: "
        "digest to coordinators (at the deadline)",
        "2026-12-03 Thu 18:00  金湖街道办事处  法治工作月报 2026-11: deadline",
        "2026-12-05 Sat 18:00  金湖街道办事处  法治工作月报 2026-11: figures locked",
        "2026-12-25 Fri 09:00  金湖街道办事处  法治工作月报 2026-12: "
        "round opens, reporters prompted",
    ]
    # December's round follows, through its lock; nothing of a third round.
    assert lines[-1].endswith("法治工作月报 2026-12: figures locked")
    assert all("2027-01:" not in line for line in lines)
    times = [line[:16] for line in lines]
    assert times == sorted(times)  # in time order


def test_summary_from_the_command_line(
    tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str], figbot: Main
) -> None:
    from openpyxl import load_workbook

    config = config_file(tmp_path, db_url, token=TEST_TOKEN)
    out = tmp_path / "summary.xlsx"
    assert (
        figbot(
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
        figbot(
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
        figbot(
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


def test_a_heavy_report_template_is_stopped_with_a_clear_line(
    tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str], figbot: Main
) -> None:
    from tests.test_sandbox import HEAVY_TEMPLATE

    config = config_file(tmp_path, db_url, token=TEST_TOKEN)
    text = config.read_text(encoding="utf-8")
    text = text.replace('annual_template = ""', f'annual_template = "{HEAVY_TEMPLATE}"')
    config.write_text(text.replace("annual_template_seconds = 10", "annual_template_seconds = 1"))
    # Left running, the template would take far longer than the test's time limit.
    assert figbot(["--config", str(config), "report", "--year", "2026"]) == 2
    last = capsys.readouterr().err.splitlines()[-1]
    assert last == (
        "figbot: report template: stopped after 1 s; simplify it (fewer or smaller loops)"
    )


def test_the_config_may_be_given_before_or_after_the_command() -> None:
    from bot.cli import _parser

    assert _parser().parse_args(["--config", "a.toml", "schedule"]).config == "a.toml"
    assert _parser().parse_args(["schedule", "--config", "b.toml"]).config == "b.toml"
    assert _parser().parse_args(["db", "upgrade", "--config", "c.toml"]).config == "c.toml"
    assert _parser().parse_args(["schedule"]).config is None


def test_run_webhook_without_address_or_secret_says_which_keys(
    tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str], figbot: Main
) -> None:
    config = config_file(tmp_path, db_url, token=TEST_TOKEN)
    assert figbot(["--config", str(config), "run", "--webhook"]) == 2
    err = capsys.readouterr().err
    assert "webhook.url" in err and "webhook.secret_token" in err and TEST_TOKEN not in err


@pytest.mark.slow
async def test_a_figbot_process_follows_the_tests_clock(
    tmp_path: Path, db_url: str, clock: Clock
) -> None:
    config = config_file(tmp_path, db_url, token=TEST_TOKEN)
    code, out, err = await run_figbot(
        "--config", str(config), "schedule", "--periods", "1", clock=clock
    )
    assert code == 0, err
    # 28 Nov 2026 in the process too: the next event is November's first reminder.
    assert out.startswith("2026-12-01 Tue 18:00  金湖街道办事处  法治工作月报 2026-11: reminder")
    assert "test clock: now is 2026-11-28T02:00" in err


def test_the_test_clock_is_ignored_outside_a_test_run(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import models.types
    from models.types import TEST_CLOCK_VARIABLE, TEST_FLAG_VARIABLE, follow_test_clock

    monkeypatch.setattr(models.types, "_shift", timedelta(0))  # restored after the test
    assert follow_test_clock({TEST_CLOCK_VARIABLE: "-86400"}) is None
    assert models.types._shift == timedelta(0)
    assert "is set but this is not a test run: ignored" in caplog.text
    moved = follow_test_clock({TEST_CLOCK_VARIABLE: "-86400", TEST_FLAG_VARIABLE: "1"})
    assert moved == models.types._shift == timedelta(days=-1)


def test_every_command_that_writes_a_file_follows_one_rule_for_out(
    tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str], figbot: Main
) -> None:
    """A missing folder is created; a folder is not a file; the extension says what the file
    holds (a summary's format follows it), and a name that does not fit is refused."""
    config = str(config_file(tmp_path, db_url, token=TEST_TOKEN))
    summary = ["--config", config, "summary", "--period", "2026-10", "--quiet", "--out"]
    report = ["--config", config, "report", "--year", "2026", "--out"]
    sqlite_config = tmp_path / "sqlite"
    sqlite_config.mkdir()
    live = f"sqlite:///{tmp_path / 'live.db'}"
    assert figbot(["--config", str(config_file(sqlite_config, live)), "db", "upgrade"]) == 0
    backup = ["--config", str(sqlite_config / "config.toml"), "backup", "--out"]
    capsys.readouterr()

    for command, name in [(summary, "s.xlsx"), (report, "r.txt"), (backup, "b.db")]:
        target = tmp_path / "new" / "folder" / name
        assert figbot([*command, str(target)]) == 0, capsys.readouterr().err
        assert target.stat().st_size > 0
        assert figbot([*command, str(tmp_path / "new")]) == 2
        assert f"figbot: --out {tmp_path / 'new'} is a folder" in capsys.readouterr().err

    assert figbot([*summary, str(tmp_path / "s.csv")]) == 0
    assert (tmp_path / "s.csv").read_text(encoding="utf-8-sig").startswith("单位,类型")
    refusals = {
        "x.pdf": "a summary is written as .xlsx, .csv or .md (or give --format)",
        "x": "a summary is written as .xlsx, .csv or .md (or give --format)",
    }
    for name, refusal in refusals.items():
        assert figbot([*summary, str(tmp_path / name)]) == 2
        assert refusal in capsys.readouterr().err
    assert figbot([*summary, str(tmp_path / "x.xlsx"), "--format", "csv"]) == 2
    assert "does not fit --format csv; name a .csv file" in capsys.readouterr().err
    assert figbot([*report, str(tmp_path / "r.xlsx")]) == 2
    assert "name a .txt or .md file" in capsys.readouterr().err
    written = {path.name for path in tmp_path.iterdir() if path.is_file()}
    assert not written & {"x.pdf", "x", "x.xlsx", "r.xlsx"}  # nothing written when refused


def test_a_database_out_of_reach_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], figbot: Main
) -> None:
    config = config_file(tmp_path, "postgresql+psycopg://figbot:hunter2@127.0.0.1:1/figbot")
    out = str(tmp_path / "s.xlsx")
    assert figbot(["--config", str(config), "summary", "--period", "2026-10", "--out", out]) == 1
    err = capsys.readouterr().err
    assert err.startswith("figbot: cannot use the database at 127.0.0.1:1: connection failed")
    assert len(err.splitlines()) == 1 and "hunter2" not in err and "Traceback" not in err
