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
