"""Nobody sees or changes what is not theirs; nobody can guess invites or stall others."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlmodel import select

from bot.admin import open_rounds
from bot.config import FigbotConfig, OfficeConfig
from bot.fakeapi import LocalBotApiServer
from bot.simulation import SimulatedUser
from models.db import read_session
from models.tables import ConversationState, Role, Round, Value
from services import reporting
from tests.conftest import Clock
from tests.flow import Harness, running_harness


async def test_guessing_invite_codes_is_limited_per_user(harness: Harness) -> None:
    guesser = harness.user(666, "路人")
    for attempt in range(5):
        (refusal,) = await guesser.send(f"/start guess{attempt:04d}guess{attempt:04d}")
        assert "邀请链接无效" in refusal.text
    good = harness.invite_code(unit="jinhai")
    (refusal,) = await guesser.send(f"/start {good}")  # even a valid code is not looked at now
    assert "尝试次数过多" in refusal.text
    other = harness.user(1001, "王芳")  # another user is not affected
    (welcome,) = await other.send(f"/start {harness.invite_code(unit='dongling')}")
    assert "欢迎你，王芳" in welcome.text
    harness.clock.advance(hours=1, minutes=1)
    (welcome,) = await guesser.send(f"/start {good}")
    assert "欢迎你" in welcome.text and "金海社区" in welcome.text


async def test_one_user_flooding_is_slowed_down_and_others_are_served(harness: Harness) -> None:
    wang = await harness.join(1001, "王芳", unit="jinhai")
    li = await harness.join(1002, "李强", unit="dongling")
    limit = harness.config.bot.flood_messages
    for _ in range(limit - 1):  # joining took one update
        (reply,) = await wang.send("/help")
        assert "我负责为街道收集" in reply.text
    (warning,) = await wang.send("/help")
    assert "发送太快" in warning.text
    assert await wang.send("/help") == []  # dropped, and said only once
    (served,) = await li.send("/help")
    assert "我负责为街道收集" in served.text
    harness.clock.advance(seconds=harness.config.bot.flood_seconds)
    (reply,) = await wang.send("/help")
    assert "我负责为街道收集" in reply.text


async def test_messages_and_presses_mixed_are_cut_at_the_limit(harness: Harness) -> None:
    """Telegram dates a message in whole seconds; a press carries no date. Counted on one
    clock, a message cannot hide the presses handled in its second."""
    wang = await harness.join(1001, "王芳", unit="jinhai")
    await harness.open_round("2026-11")
    prompt = wang.last
    limit = harness.config.bot.flood_messages
    harness.clock.advance(seconds=0.5)  # messages are dated half a second before now
    served, warnings = 0, 0
    for i in range(2 * limit):
        if i % 2:
            replies = await wang.send("/help")
        else:
            replies = await wang.press("开始填报", message=prompt)
        warnings += sum("发送太快" in r.text for r in replies)
        served += sum("发送太快" not in r.text for r in replies)
        harness.clock.advance(seconds=0.1)
    assert (served, warnings) == (limit - 1, 1)  # joining took one update


HELP = {"text": "/help", "entities": [{"type": "bot_command", "offset": 0, "length": 5}]}


async def test_a_backlog_sent_slowly_while_the_bot_was_down_is_not_a_flood(
    harness: Harness,
) -> None:
    wang = await harness.join(1001, "王芳", unit="jinhai")
    limit = harness.config.bot.flood_messages
    await harness.stop_bot()
    start = int(harness.clock().timestamp()) - 3600
    backlog = [  # one message a minute for the last hour and more, all delivered at restart
        await harness.server.send_update(1001, "message", {**HELP, "date": start + 60 * i})
        for i in range(limit + 5)
    ]
    since = harness.server.message_count(1001)
    await harness.start_bot()
    for update_id in backlog:
        await harness.wait_handled(update_id)
    replies = [m.text for m in wang.chat[since:] if "请填报" not in m.text]  # not the prompt
    assert len(replies) == limit + 5 and all("我负责为街道收集" in text for text in replies)


# ---------------------------------------------------------------- who may do what
SECOND_OFFICE = {
    "code": "yuhua",
    "name": "玉华街道办事处",
    "units": [{"code": "qingshan", "name": "青山社区", "kind": "社区"}],
}
NOT_BOUND = "请使用街道发给你的邀请链接"
COORDINATORS_ONLY = "只有协调员"
COORDINATOR_COMMANDS = [
    "/status",
    "/summary",
    "/missing",
    "/chart 调解纠纷",
    "/remind",
    "/reopen 金海社区",
    "/lock 金海社区",
    "/correct 金海社区 调解纠纷 6 核实",
]


@pytest.fixture
async def offices(
    server: LocalBotApiServer, config: FigbotConfig, clock: Clock
) -> AsyncIterator[tuple[Harness, dict[str, SimulatedUser]]]:
    """Two offices, a round open in both, 金海社区 submitted; one user of every role."""
    two = config.model_copy(
        update={"offices": [*config.offices, OfficeConfig.model_validate(SECOND_OFFICE)]}
    )
    async with running_harness(server, two, clock) as harness:
        users = {
            "stranger": harness.user(666, "路人"),
            "reporter A": await harness.join(1001, "王芳", unit="jinhai"),
            "reporter B": await harness.join(1002, "陈敏", unit="dongling"),
            "reporter Y": await harness.join(1003, "周丽", unit="qingshan"),
            "coordinator X": await harness.join(
                2001, "赵主任", role=Role.COORDINATOR, office="jinhu"
            ),
            "coordinator Y": await harness.join(
                2002, "钱主任", role=Role.COORDINATOR, office="yuhua"
            ),
            "admin": await harness.join(3001, "孙管理", role=Role.ADMIN, office="jinhu"),
        }
        open_rounds(
            harness.engine,
            harness.config,
            form_key="monthly",
            period_text="2026-11",
            office_code=None,
            now=harness.clock(),
        )
        await harness.scheduler.flush(harness.app.bot)  # type: ignore[union-attr]
        wang = users["reporter A"]
        await wang.press("开始填报", message=wang.last)
        for answer in ["12", "5", "4", "2", "40", "3", "7", "300"]:
            await wang.send(answer)
        await wang.press("提交")
        harness.clock.advance(minutes=5)
        yield harness, users


def _submitted(harness: Harness) -> dict[str, int]:
    with read_session(harness.engine) as session:
        rows = session.exec(select(Value.indicator_key, Value.value)).all()
        return dict(rows)  # type: ignore[arg-type]


async def test_a_stranger_gets_nothing_but_the_refusal(
    offices: tuple[Harness, dict[str, SimulatedUser]],
) -> None:
    harness, users = offices
    before = _submitted(harness)
    for command in [*COORDINATOR_COMMANDS, "/report", "/help", "15", "调解纠纷15宗"]:
        (reply,) = await users["stranger"].send(command)
        assert NOT_BOUND in reply.text, command
        assert not any(word in reply.text for word in ("金海", "金湖", "已报", "12")), command
    assert _submitted(harness) == before


async def test_reporters_cannot_use_coordinator_commands(
    offices: tuple[Harness, dict[str, SimulatedUser]],
) -> None:
    harness, users = offices
    before = _submitted(harness)
    for role in ["reporter A", "reporter B", "reporter Y"]:
        for command in COORDINATOR_COMMANDS:
            (reply,) = await users[role].send(command)
            assert COORDINATORS_ONLY in reply.text, (role, command)
        harness.clock.advance(seconds=harness.config.bot.flood_seconds)
    assert _submitted(harness) == before


@pytest.mark.parametrize(
    ("role", "sees", "never"),
    [
        ("coordinator X", "金湖街道办事处", "玉华"),
        ("admin", "金湖街道办事处", "玉华"),
        ("coordinator Y", "玉华街道办事处", "金湖"),
    ],
)
async def test_coordinators_see_only_their_office(
    offices: tuple[Harness, dict[str, SimulatedUser]], role: str, sees: str, never: str
) -> None:
    _, users = offices
    user = users[role]
    for command in ["/status", "/summary", "/missing", "/chart 调解纠纷"]:
        replies = await user.send(command)
        assert replies, command
        assert all(never not in r.text for r in replies), command
        if command == "/summary":
            assert replies[0].text.startswith(sees)
            assert replies[1].document is not None
            assert replies[1].document["file_name"].startswith(sees)


async def test_a_coordinator_cannot_touch_another_offices_unit(
    offices: tuple[Harness, dict[str, SimulatedUser]],
) -> None:
    harness, users = offices
    before = _submitted(harness)
    zhou = users["coordinator Y"]
    for command in ["/correct 金海社区 调解纠纷 6 核实", "/reopen 金海社区", "/lock 金海社区"]:
        (reply,) = await zhou.send(command)
        assert "本街道没有“金海社区”这个单位" in reply.text
    (reply,) = await users["coordinator X"].send("/correct 金海社区 调解纠纷 6 核实")
    assert "已更正" in reply.text
    assert _submitted(harness) == {**before, "disputes_mediated": 6}


async def test_forged_callback_data_is_refused(
    offices: tuple[Harness, dict[str, SimulatedUser]],
) -> None:
    harness, users = offices
    with read_session(harness.engine) as session:
        rounds = {r.office_id: r.id for r in session.exec(select(Round))}
    jinhu_round, yuhua_round = rounds[1], rounds[2]
    before = _submitted(harness)
    zhou = users["reporter Y"]  # of 玉华: tries 金湖's round
    prompt = zhou.last
    for data in [
        f"REPORT:start:{jinhu_round}",
        f"REPORT:submit:{jinhu_round}",
        f"REPORT:takeover:{jinhu_round}",
        f"REPORT:edit:{jinhu_round}:disputes_mediated",
        f"REPORT:accept:{jinhu_round}:2=999",
        "REPORT:delete:1",
        "REPORT:submit:999999",
        "not even ours",
    ]:
        replies = await zhou.press_forged(data, message=prompt)
        text = "\n".join(r.text for r in replies)
        assert "金海社区" not in text and "金湖" not in text, (data, text)
    chen = users["reporter B"]  # same office as 金海社区, another unit: only its own unit
    (screen,) = await chen.press_forged(f"REPORT:start:{jinhu_round}", message=chen.last)
    assert screen.text.startswith("（1/8）矛盾纠纷排查")  # 东岭村's own, empty questions
    replies = await chen.press_forged(f"REPORT:submit:{yuhua_round}", message=chen.last)
    assert all("青山" not in r.text and "玉华" not in r.text for r in replies)
    stranger = users["stranger"]
    (refusal,) = await stranger.send("/report")
    (refusal,) = await stranger.press_forged(f"REPORT:start:{jinhu_round}", message=refusal)
    assert NOT_BOUND in refusal.text
    assert _submitted(harness) == before


GARBAGE_BUTTONS = [
    "REPORT:start:²",  # a digit to str.isdigit, not to int()
    "REPORT:start:" + "9" * 51,  # no round has such an id (nor could a database column hold it)
    "REPORT:start:١",  # an Arabic-Indic one: int() reads it as round 1, 金湖's round
    "REPORT:start:1 ",
    "REPORT:start:+1",
    "REPORT:submit:1:" + "x" * 60,  # longer than the 64 bytes Telegram lets a button carry
    "REPORT:Start:1",
    "not even ours",
    "",
]


async def test_button_data_figbot_does_not_know_is_answered_and_changes_nothing(
    offices: tuple[Harness, dict[str, SimulatedUser]],
) -> None:
    harness, users = offices
    chen = users["reporter B"]  # of 东岭村, which may fill in 金湖's round 1
    prompt = chen.last
    before = _submitted(harness)
    for data in GARBAGE_BUTTONS:
        since = harness.server.message_count(1002)
        update_id = await harness.server.forge_callback(1002, prompt.message_id, data)
        await harness.wait_handled(update_id)
        answer = harness.server.callback_answer(update_id)
        assert answer is not None, f"{data!r} left the spinner turning"
        assert answer["text"] == "无法识别这个按钮，没有做任何更改。", data
        assert harness.server.messages(1002, since=since) == [], data
        harness.clock.advance(seconds=1)
    with read_session(harness.engine) as session:
        assert session.exec(select(ConversationState)).all() == []  # nothing was started
    assert _submitted(harness) == before
    (screen,) = await chen.press("开始填报", message=prompt)  # the real button still works
    assert screen.text.startswith("（1/8）矛盾纠纷排查")


async def test_a_press_whose_handling_fails_is_still_answered(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    wang = await harness.join(1001, "王芳", unit="jinhai")
    await harness.open_round("2026-11")

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(reporting, "press", broken)
    prompt = wang.last
    update_id = await harness.server.press_button_by_text(1001, prompt.message_id, "开始填报")
    await harness.wait_handled(update_id)
    assert harness.server.callback_answer(update_id) is not None  # the spinner stops
    assert "抱歉，出了点问题" in wang.last.text


async def test_the_bot_takes_no_reports_in_group_chats(harness: Harness) -> None:
    wang = await harness.join(1001, "王芳", unit="jinhai")
    await harness.open_round("2026-11")
    harness.server.add_group(-100123, "金海社区工作群")

    async def in_group(text: str) -> list[str]:
        since = harness.server.message_count(-100123)
        await harness.wait_handled(await harness.server.send_group_text(1001, -100123, text))
        return [m.text for m in harness.server.messages(-100123, since=since)]

    assert await in_group("/report") == ["请私聊我填报，我不在群里收集数据。"]
    code = harness.invite_code(unit="dongling")
    assert await in_group(f"/start {code}") == ["请私聊我填报，我不在群里收集数据。"]
    assert await in_group("调解纠纷15宗") == []  # ordinary group chatter is ignored
    assert await in_group("15") == []
    with read_session(harness.engine) as session:
        assert session.exec(select(Value)).all() == []
        assert session.get(ConversationState, 1) is None
    (welcome,) = await harness.user(1002, "陈敏").send(f"/start {code}")  # unused in the group
    assert "欢迎你" in welcome.text
    assert "金海社区" in wang.last.text  # the reporter's private chat got nothing from the group
