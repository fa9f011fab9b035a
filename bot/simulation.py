"""Simulated community workers for the demo and the flow tests.

A :class:`SimulatedUser` talks to figbot through the local Bot API server exactly as a phone
would: it sends text and presses buttons it was shown. It then waits until figbot has *finished
handling* that update (:class:`TrackedApplication` says so), so the replies it returns are all
of them — no sleeping, no timing guesses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Update
from telegram.ext import Application

from bot.fakeapi import LocalBotApiServer, SentMessage


class TrackedApplication(Application):  # type: ignore[type-arg]
    """An Application that records which updates it has completely handled."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.handled: dict[int, int] = {}  # update_id -> times handled
        self._handled_changed = asyncio.Condition()

    async def process_update(self, update: object) -> None:
        try:
            await super().process_update(update)
        finally:
            if isinstance(update, Update):
                async with self._handled_changed:
                    self.handled[update.update_id] = self.handled.get(update.update_id, 0) + 1
                    self._handled_changed.notify_all()

    async def wait_handled(self, update_id: int, times: int = 1, timeout: float = 20.0) -> None:
        """Wait until ``update_id`` has been handled ``times`` times."""
        async with self._handled_changed:
            await asyncio.wait_for(
                self._handled_changed.wait_for(lambda: self.handled.get(update_id, 0) >= times),
                timeout,
            )


Waiter = Callable[[int], Awaitable[None]]


class SimulatedUser:
    def __init__(
        self,
        server: LocalBotApiServer,
        user_id: int,
        first_name: str,
        *,
        wait_handled: Waiter,
        last_name: str | None = None,
        language_code: str = "zh-hans",
    ) -> None:
        self.server = server
        self.user_id = user_id
        self.name = first_name + (last_name or "")
        self._wait_handled = wait_handled
        server.add_user(user_id, first_name, last_name=last_name, language_code=language_code)

    @property
    def chat(self) -> list[SentMessage]:
        return self.server.messages(self.user_id)

    @property
    def last(self) -> SentMessage:
        message = self.server.last_message(self.user_id)
        assert message is not None, f"{self.name} has received nothing"
        return message

    async def send(self, text: str) -> list[SentMessage]:
        """Send ``text``; return the messages the bot sent in reply."""
        since = self.server.message_count(self.user_id)
        await self._wait_handled(await self.server.send_text(self.user_id, text))
        return self.server.messages(self.user_id, since=since)

    async def press(self, label: str, *, message: SentMessage | None = None) -> list[SentMessage]:
        """Press the button whose label contains ``label`` on ``message`` (default: the newest
        message that shows such a button); return the bot's new messages."""
        target = message or self._newest_with_button(label)
        since = self.server.message_count(self.user_id)
        update_id = await self.server.press_button_by_text(self.user_id, target.message_id, label)
        await self._wait_handled(update_id)
        return self.server.messages(self.user_id, since=since)

    async def press_forged(self, callback_data: str, *, message: SentMessage) -> list[SentMessage]:
        """Send callback data the bot never offered on ``message`` (a tampered client)."""
        since = self.server.message_count(self.user_id)
        update_id = await self.server.forge_callback(
            self.user_id, message.message_id, callback_data
        )
        await self._wait_handled(update_id)
        return self.server.messages(self.user_id, since=since)

    async def send_sticker(self) -> list[SentMessage]:
        since = self.server.message_count(self.user_id)
        await self._wait_handled(await self.server.send_sticker(self.user_id))
        return self.server.messages(self.user_id, since=since)

    async def send_message_fields(self, fields: dict[str, Any]) -> list[SentMessage]:
        """A message of any other kind: a voice note, a location, a contact…"""
        since = self.server.message_count(self.user_id)
        await self._wait_handled(await self.server.send_update(self.user_id, "message", fields))
        return self.server.messages(self.user_id, since=since)

    def _newest_with_button(self, label: str) -> SentMessage:
        for message in reversed(self.chat):
            labels = [text for text, data in message.buttons if data is not None]
            if not message.deleted and any(label in text for text in labels):
                return message
        raise AssertionError(
            f"no message of {self.name}'s chat has a button {label!r}:\n"
            + self.server.dump_chat(self.user_id)
        )
