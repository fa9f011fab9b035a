"""Simulated community workers for the demo and the flow tests.

A :class:`SimulatedUser` talks to figbot through the local Bot API server exactly as a phone
would: it sends text and presses buttons it was shown, then waits for the bot's replies.
"""

from __future__ import annotations

from bot.fakeapi import LocalBotApiServer, SentMessage


class SimulatedUser:
    def __init__(
        self,
        server: LocalBotApiServer,
        user_id: int,
        first_name: str,
        last_name: str | None = None,
        language_code: str = "zh-hans",
    ) -> None:
        self.server = server
        self.user_id = user_id
        self.name = first_name + (last_name or "")
        server.add_user(user_id, first_name, last_name=last_name, language_code=language_code)

    @property
    def chat(self) -> list[SentMessage]:
        return self.server.messages(self.user_id)

    @property
    def last(self) -> SentMessage:
        message = self.server.last_message(self.user_id)
        assert message is not None, f"{self.name} has received nothing"
        return message

    async def send(self, text: str, *, expect_reply: bool = True) -> list[SentMessage]:
        """Send ``text``; return the messages the bot sent in reply."""
        since = self.server.message_count(self.user_id)
        await self.server.send_text(self.user_id, text)
        return await self._replies(since, expect_reply)

    async def press(
        self, label: str, *, message: SentMessage | None = None, expect_reply: bool = True
    ) -> list[SentMessage]:
        """Press the button whose label contains ``label`` on ``message`` (default: the newest
        message that shows such a button)."""
        target = message or self._newest_with_button(label)
        since = self.server.message_count(self.user_id)
        await self.server.press_button_by_text(self.user_id, target.message_id, label)
        return await self._replies(since, expect_reply)

    async def send_sticker(self) -> list[SentMessage]:
        since = self.server.message_count(self.user_id)
        await self.server.send_sticker(self.user_id)
        return await self._replies(since, True)

    def _newest_with_button(self, label: str) -> SentMessage:
        for message in reversed(self.chat):
            if not message.deleted and any(
                label in text for text, data in message.buttons if data is not None
            ):
                return message
        raise AssertionError(
            f"no message of {self.name}'s chat has a button {label!r}:\n"
            + self.server.dump_chat(self.user_id)
        )

    async def _replies(self, since: int, expect_reply: bool) -> list[SentMessage]:
        if expect_reply:
            await self.server.wait_for_message(self.user_id, since=since)
        await self.server.wait_until_idle()
        return self.server.messages(self.user_id)[since:]
