"""What every handler module shares: the context type, the runtime, sending screens."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from sqlmodel import Session
from telegram import Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, NetworkError, TimedOut
from telegram.ext import Application, CallbackContext, ExtBot

from bot.runtime import RUNTIME_KEY, SCHEDULER_KEY, Runtime
from bot.views import Outgoing, button_not_recognised, not_a_coordinator, split_long
from models.crud import keep_update_replies
from models.tables import Contact, ProcessedUpdate, Role
from scheduler.runner import SchedulerRunner

logger = logging.getLogger(__name__)

REPLY_RETRIES = 2  # a reply hit by flood control is retried after Telegram's wait
# A message Telegram failed to take (a 5xx, a dropped connection, a timeout) is tried again
# after each of these pauses (seconds): a blip of a second or two does not cost a receipt.
SEND_RETRY_PAUSES = (0.5, 1.5)
# A timed-out send may have been delivered: trying again may show it twice, so it is counted.
SENT_AGAIN_AFTER_TIMEOUT = "a message to chat %s timed out (maybe delivered); sending it again"
# Replies go out with bot.do_api_request("send_message", ...), which leaves Telegram's answer
# as it came: bot.send_message would build a Message of it (its text, entities, buttons and
# sender), about 0.1 ms of CPU per answer in the throughput benchmark, for nothing. PTB warns
# that the method has a name of its own; build_application silences that one warning.
RAW_SEND_WARNING = r"Please use 'Bot\.send_message' instead of 'Bot\.do_api_request"
# Replies committed but never noted as sent, of an update that came again: sent now, and
# possibly sent before (a kill right after Telegram took them): these lines bound the repeats.
RESENT_AFTER_RESTART = (
    "update %s came again with %d kept replies not noted as sent: sending them now "
    "(a repeat if they had gone out just before a crash)"
)


class Context(CallbackContext[ExtBot[int], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """PTB's context plus the caller's contact, looked up once per update by the access gate
    (one context object serves every handler group of an update)."""

    def __init__(
        self,
        application: Application[Any, Any, Any, Any, Any, Any],
        chat_id: int | None = None,
        user_id: int | None = None,
    ) -> None:
        super().__init__(application, chat_id, user_id)
        self.contact: Contact | None = None

    @property
    def runtime(self) -> Runtime:
        return self.application.bot_data[RUNTIME_KEY]  # type: ignore[no-any-return]

    @property
    def known_contact(self) -> Contact:
        """The caller's contact; handlers after the gate only run for bound contacts."""
        assert self.contact is not None, "the access gate lets only bound contacts through"
        return self.contact

    @property
    def scheduler(self) -> SchedulerRunner:
        return self.application.bot_data[SCHEDULER_KEY]  # type: ignore[no-any-return]

    @property
    def language(self) -> str:
        """The caller's language: theirs if known, else the office's default."""
        return self.contact.language if self.contact else self.runtime.config.bot.language


Handler = Callable[[Update, "Context"], Coroutine[Any, Any, None]]


def coordinators_only(handler: Handler) -> Handler:
    """Let only the office's coordinators (and admins) through; others get a polite refusal."""

    @functools.wraps(handler)
    async def guarded(update: Update, context: Context) -> None:
        contact = context.known_contact
        if contact.role not in (Role.COORDINATOR, Role.ADMIN):
            await send(update, context, not_a_coordinator(contact.language))
            return
        await handler(update, context)

    return guarded


async def send(update: Update, context: Context, outgoing: list[Outgoing] | Outgoing) -> None:
    """Send messages to the update's chat, in order, each tried again after a failure Telegram
    may get over (``SEND_RETRY_PAUSES``); what still fails raises."""
    chat = update.effective_chat
    if chat is None:
        return
    chat_id = chat.id
    messages = outgoing if isinstance(outgoing, list) else [outgoing]
    for message in [part for whole in messages for part in split_long(whole)]:

        async def attempt(message: Outgoing = message) -> None:
            # Not bot.send_message: that builds a Message from Telegram's answer, which
            # nothing here reads (see RAW_SEND_WARNING).
            await context.bot.do_api_request(
                "send_message",
                api_kwargs={
                    "chat_id": chat_id,
                    "text": message.text,
                    "parse_mode": ParseMode.HTML,
                    "reply_markup": message.reply_markup_json(),
                },
                rate_limit_args=REPLY_RETRIES,
            )

        await with_retries(attempt, chat_id=chat_id, pauses=SEND_RETRY_PAUSES)


async def with_retries(
    attempt: Callable[[], Awaitable[None]], *, chat_id: int, pauses: Sequence[float]
) -> None:
    """Run ``attempt``; after a network failure or a Telegram server error, pause and run it
    again, once per pause. A refusal of the message itself (BadRequest) or of the chat
    (Forbidden) is not retried: sending it again would fail the same way. A timed-out attempt
    may have got through, so its retry is logged as a possible repeat
    (``SENT_AGAIN_AFTER_TIMEOUT``)."""
    for pause in [*pauses, None]:
        try:
            await attempt()
            return
        except BadRequest:
            raise
        except NetworkError as exc:  # TimedOut, a 5xx, a dropped connection
            if pause is None:
                raise
            if isinstance(exc, TimedOut):
                logger.warning(SENT_AGAIN_AFTER_TIMEOUT, chat_id)
            else:
                logger.info("a message to chat %s failed (%s); sending it again", chat_id, exc)
            await asyncio.sleep(pause)


def keep_replies(session: Session, update: Update, outgoing: list[Outgoing] | Outgoing) -> None:
    """Store the update's replies in its own transaction (see :func:`send_kept`)."""
    messages = outgoing if isinstance(outgoing, list) else [outgoing]
    replies = [message.to_json() for message in messages]
    keep_update_replies(session, update_id=update.update_id, replies=replies)


async def send_kept(update: Update, context: Context) -> None:
    """Send the replies committed with the update, unless they were sent already.

    After a crash between the commit and the sending, the update comes again (figbot confirms
    an update to Telegram only once handled); it is not handled twice, but its replies are
    sent now — the receipt is not lost. Only a crash in the milliseconds between Telegram
    accepting a reply and ``replied_at`` being written can repeat a reply; every such resend
    is logged as a possible repeat (``RESENT_AFTER_RESTART``), so repeats are counted, not hidden.
    """
    rt = context.runtime
    kept = rt.take_committed_replies(update.update_id)
    if kept is None:  # a repeat, or a handler that kept nothing: what does the database hold?
        with rt.reading_once() as session:
            row = session.get(ProcessedUpdate, update.update_id)
            kept = list(row.replies or []) if row is not None and row.replied_at is None else []
        if kept:
            logger.warning(RESENT_AFTER_RESTART, update.update_id, len(kept))
    if not kept:
        return
    await send(update, context, [Outgoing.from_json(message) for message in kept])
    rt.note_replies_sent(update.update_id)


async def answer_query(update: Update) -> None:
    """Stop the button's spinner; a query answered before a restart, or too old, is fine."""
    query = update.callback_query
    if query is None:
        return
    try:
        await query.answer()
    except BadRequest as exc:
        logger.debug("could not answer the callback query: %s", exc)


async def unknown_button(update: Update, context: Context) -> None:
    """A press whose data figbot did not build (a modified client, or a button of another
    bot's era): answered with a short refusal, so the spinner stops, and nothing else."""
    query = update.callback_query
    if query is None:
        return
    user = update.effective_user
    logger.warning("unknown callback data from user %s", user.id if user else "?")
    try:
        await query.answer(button_not_recognised(context.language))
    except BadRequest as exc:
        logger.debug("could not answer the callback query: %s", exc)


async def retire_buttons(update: Update) -> None:
    """Take the keyboard off the message whose button was pressed, so it cannot be pressed
    again out of turn; the message text stays as a record."""
    query = update.callback_query
    if query is None or query.message is None:
        return
    try:
        await query.edit_message_reply_markup(reply_markup=None)
    except BadRequest as exc:  # already without keyboard, or too old to edit
        logger.debug("could not retire buttons: %s", exc)


def display_name(update: Update) -> str:
    user = update.effective_user
    if user is None:
        return "?"
    return user.full_name or (user.username or str(user.id))
