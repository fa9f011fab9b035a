"""Nobody sees or changes what is not theirs; nobody can guess invites or stall others."""

from __future__ import annotations

from tests.flow import Harness


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
