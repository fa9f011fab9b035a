"""``figbot demo``: watch figbot work with no Telegram account and no network.

Starts figbot's local Bot API server and the real bot against it (SQLite file, in-process
scheduler), then plays a few community workers: they join with invite links, get prompted for
this month's round, answer (one makes a typing mistake and is corrected), submit; a coordinator
checks ``/status``. It ends by printing which units submitted what, read from the database.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import SecretStr
from sqlmodel import select

from bot.admin import new_invite, open_rounds
from bot.app import build_application, start_polling_in_loop, stop_serving_in_loop
from bot.config import load_config
from bot.fakeapi import LocalBotApiServer, SentMessage
from bot.logsetup import configure_logging
from bot.runtime import RUNTIME_KEY, SCHEDULER_KEY, Runtime
from bot.simulation import SimulatedUser, TrackedApplication
from domain.periods import Period, PeriodKind
from models.crud import get_form, submission_values
from models.db import read_session
from models.tables import Contact, Indicator, Role, Round, Submission, Unit
from models.types import utcnow
from scheduler.runner import SchedulerRunner

EXAMPLE_CONFIG = Path(__file__).resolve().parents[1] / "config.example.toml"
DEMO_TOKEN = "123456:local-demo-token"


class Transcript:
    """Prints the conversation the way it looks on the phones."""

    def __init__(self, out=sys.stdout) -> None:  # type: ignore[no-untyped-def]
        self.out = out

    def title(self, text: str) -> None:
        print(f"\n━━ {text} ━━", file=self.out)

    def note(self, text: str) -> None:
        print(f"   {text}", file=self.out)

    def user(self, user: SimulatedUser, text: str) -> None:
        print(f"👤 {user.name}: {text}", file=self.out)

    def bot(self, messages: list[SentMessage]) -> None:
        for message in messages:
            lines = message.text.splitlines() or [""]
            print(f"🤖 {lines[0]}", file=self.out)
            for line in lines[1:]:
                print(f"   {line}", file=self.out)
            buttons = [text for text, _data in message.buttons]
            if buttons:
                print("   " + " ".join(f"[{b}]" for b in buttons), file=self.out)


async def _say(t: Transcript, user: SimulatedUser, text: str, show: bool = True) -> None:
    replies = await user.send(text)
    if show:
        t.user(user, text)
        t.bot(replies)


async def _tap(t: Transcript, user: SimulatedUser, label: str, show: bool = True) -> None:
    replies = await user.press(label)
    if show:
        t.user(user, f"(taps [{label}])")
        t.bot(replies)


async def run_demo(*, workdir: str, verbose: bool = False) -> int:
    folder = Path(workdir).resolve()
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    configure_logging("INFO" if verbose else "WARNING", token=DEMO_TOKEN)
    t = Transcript()

    async with LocalBotApiServer(token=DEMO_TOKEN) as server:
        base = load_config(EXAMPLE_CONFIG, environ={})
        config = base.model_copy(
            update={
                "telegram": base.telegram.model_copy(
                    update={
                        "token": SecretStr(DEMO_TOKEN),
                        "base_url": server.base_url,
                        "base_file_url": server.base_file_url,
                    }
                ),
                "database": base.database.model_copy(
                    update={"url": f"sqlite:///{folder / 'figbot.db'}"}
                ),
                "bot": base.bot.model_copy(update={"outbox_interval_seconds": 1.0}),
            }
        )
        office = config.offices[0]
        t.title(f"figbot demo — {office.name}, database {folder / 'figbot.db'}")
        t.note(f"local Bot API server at {server.base_url.rsplit('/', 1)[0]} (no Telegram needed)")

        application = build_application(config, application_class=TrackedApplication)
        assert isinstance(application, TrackedApplication)
        await start_polling_in_loop(application)
        runner: SchedulerRunner = application.bot_data[SCHEDULER_KEY]
        await runner.tick(application.bot)  # the start-up catch-up, before anyone joins
        runtime: Runtime = application.bot_data[RUNTIME_KEY]
        engine = runtime.engine
        try:
            t.title("1. The street office invites its community workers")
            people = [
                (1001, "王芳", "jinhai"),
                (1002, "李强", "huguang"),
                (1003, "陈敏", "dongling"),
            ]
            users: list[SimulatedUser] = []
            for user_id, name, unit in people:
                link = new_invite(
                    engine,
                    config,
                    username=server.username,
                    role=Role.REPORTER,
                    unit_code=unit,
                    office_code=None,
                    now=utcnow(),
                )
                t.note(f"$ figbot invite --unit {unit}  →  {link.url}")
                user = SimulatedUser(server, user_id, name, wait_handled=application.wait_handled)
                users.append(user)
                await _say(t, user, f"/start {link.code}")
            coordinator_link = new_invite(
                engine,
                config,
                username=server.username,
                role=Role.COORDINATOR,
                unit_code=None,
                office_code=office.code,
                now=utcnow(),
            )
            t.note(f"$ figbot invite --role coordinator --office {office.code}")
            zhao = SimulatedUser(server, 2001, "赵主任", wait_handled=application.wait_handled)
            await _say(t, zhao, f"/start {coordinator_link.code}")

            period = Period.containing(
                PeriodKind.MONTH, utcnow().astimezone(ZoneInfo(office.timezone)).date()
            )
            t.title(f"2. A round opens: figbot open-round --form monthly --period {period.code}")
            for office_name, opened in open_rounds(
                engine,
                config,
                form_key="monthly",
                period_text=period.code,
                office_code=None,
                now=utcnow(),
            ):
                t.note(f"{office_name}: {opened.prompts_queued} prompts queued")
            await runner.flush(application.bot)
            for user in users:
                t.note(f"{user.name} receives:")
                t.bot([user.last])

            t.title("3. 王芳 answers on her phone")
            wang, li, chen = users
            await _tap(t, wang, "开始填报")
            for answer in ["12", "5", "5宗", "2", "40", "3", "7"]:
                await _say(t, wang, answer)
            await _say(t, wang, "300")
            await _tap(t, wang, "提交")

            t.title("4. 李强 makes a typing mistake; figbot asks again")
            await _tap(t, li, "开始填报", show=False)
            await _say(t, li, "8", show=False)
            t.note("(李强 answered question 1 with 8)")
            await _say(t, li, "3o")  # a letter o instead of a zero
            await _say(t, li, "30")
            for answer in ["28", "１", "１２０", "6", "15", "500"]:
                await _say(t, li, answer, show=False)
            t.note("(李强 answers the remaining questions, full-width digits too)")
            await _tap(t, li, "提交")

            t.title("5. 陈敏 (东岭村) answers, taps [0] where nothing happened, and submits")
            await _tap(t, chen, "开始填报", show=False)
            for answer in ["4", "1", "1", "[0]", "9", "[0]", "2", "80"]:
                if answer == "[0]":
                    await _tap(t, chen, "0", show=False)
                else:
                    await _say(t, chen, answer, show=False)
            await _tap(t, chen, "提交")

            t.title("6. The coordinator checks who has reported")
            await _say(t, zhao, "/status")
        finally:
            await stop_serving_in_loop(application)

        _print_results(t, config.database.url, period)
    return 0


def _print_results(t: Transcript, url: str, period: Period) -> None:
    from models.db import make_engine

    engine = make_engine(url)
    try:
        with read_session(engine) as session:
            form = get_form(session, key="monthly")
            assert form is not None
            round_ = session.exec(
                select(Round).where(Round.form_id == form.id, Round.period == period.code)
            ).one()
            indicators = {i.key: i for i in session.exec(select(Indicator))}
            t.title(f"Result: what the database holds for {form.name} {period.code}")
            for unit in session.exec(select(Unit).order_by(Unit.id)):  # type: ignore[arg-type]
                submission = session.exec(
                    select(Submission).where(
                        Submission.round_id == round_.id, Submission.unit_id == unit.id
                    )
                ).first()
                if submission is None:
                    t.note(f"{unit.name}: not submitted")
                    continue
                who = session.get(Contact, submission.submitted_by_contact_id)
                values = submission_values(session, submission_id=submission.id or 0)
                figures = "，".join(
                    f"{indicators[key].label}{values[key]}{indicators[key].measure_word}"
                    for key in round_.indicator_keys
                )
                t.note(f"{unit.name}: submitted by {who.display_name if who else '?'}: {figures}")
    finally:
        engine.dispose()
