"""A local, in-process stand-in for the Telegram Bot API.

Why this exists: figbot's demo mode and its test-suite must run the *real*
python-telegram-bot ``Application`` (polling, handlers, HTTP requests, error
mapping) without a Telegram account, a bot token or network access.  This module
provides :class:`LocalBotApiServer`, an :mod:`aiohttp.web` server that speaks
enough of the Bot API over HTTP (``/bot<token>/<method>`` and
``/file/bot<token>/<path>``) for PTB to work unchanged when pointed at it with
``base_url=server.base_url`` and ``base_file_url=server.base_file_url``.

The same object also exposes an in-process *driver* API that lets tests and the
demo play Telegram users: send texts, stickers and photos, press inline buttons,
redeliver old updates, block the bot, and inspect/await what the bot sent.

Response shapes and error descriptions follow the real Bot API (Update, Message,
User, Chat, CallbackQuery, MessageEntity, keyboards) so that PTB raises the same
exception types (``BadRequest``, ``Forbidden``, ``RetryAfter`` ...) as in
production.  Deliberate differences from the real server:

* HTML parsing is stricter than Telegram's about a bare ``&`` (Telegram keeps it
  literally; here it is rejected unless :attr:`LocalBotApiServer.strict_html_ampersand`
  is turned off) so tests catch text that was not passed through ``html.escape``.
* ``Markdown``/``MarkdownV2`` texts are accepted but not parsed (visible text ==
  raw text).
* Private chats (chat id == user id) and simple groups (:meth:`LocalBotApiServer.add_group`).

Flood control is off by default.  :meth:`LocalBotApiServer.set_rate_limit` turns on
Telegram-like limits for the message-sending methods (an overall token bucket and a
minimum interval per chat); refused calls get the real 429 "Too Many Requests: retry
after N" response and have no effect.  Pass ``clock=`` to drive the limiter from a fake
clock in tests.  :attr:`LocalBotApiServer.stats` counts accepted sends, 429s from flood
control and injected faults (for benchmarks).

All driver methods must be used from the event loop that runs the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hmac
import inspect
import itertools
import json
import logging
import math
import mimetypes
import re
import ssl
import struct
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, ClientError, ClientSession, ClientTimeout, web

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_TOKEN",
    "ApiError",
    "FaultHook",
    "HtmlParseError",
    "LocalBotApiServer",
    "SentMessage",
    "ServerStats",
    "StoredFile",
    "UploadedFile",
    "parse_html",
]

DEFAULT_TOKEN = "123456:local-test-token"

Params = dict[str, Any]
FaultHook = Callable[[str, Params], "Awaitable[web.Response | None] | web.Response | None"]
# A fault hook may return this to drop the connection without an answer (a reset).
CONNECTION_RESET: Any = web.Response(status=599, text="connection reset")

# Limits on what a message shows, after its entities are parsed, counted as the Bot API server
# counts them: in characters (code points: tdlib's utf8_length of the parsed text), so an emoji
# counts one although it is two UTF-16 units in entity offsets.
MAX_TEXT_LENGTH = 4096
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
WEBHOOK_TIMEOUT = 60.0  # seconds a webhook request may take before it counts as failed
WEBHOOK_RETRY_SECONDS = 0.2  # first pause before posting a failed update again
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
IDLE_QUIET_SECONDS = 0.2

# Methods subject to flood control (lower-case, like the method table keys).
# copyMessage/forwardMessage are not implemented by this server.
RATE_LIMITED_METHODS = frozenset(
    {
        "sendmessage",
        "senddocument",
        "sendphoto",
        "editmessagetext",
        "editmessagereplymarkup",
        "editmessagecaption",
    }
)
# Methods whose accepted calls count as "sent" in ServerStats.
SEND_METHODS = frozenset({"sendMessage", "sendDocument", "sendPhoto"})
_CLOCK_EPSILON = 1e-9

ERR_TEXT_EMPTY = "Bad Request: message text is empty"
ERR_TEXT_TOO_LONG = "Bad Request: message is too long"
ERR_CAPTION_TOO_LONG = "Bad Request: message caption is too long"
ERR_CHAT_NOT_FOUND = "Bad Request: chat not found"
ERR_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
ERR_BUTTON_DATA = "Bad Request: BUTTON_DATA_INVALID"
ERR_QUERY_INVALID = (
    "Bad Request: query is too old and response timeout expired or query ID is invalid"
)
ERR_BLOCKED = "Forbidden: bot was blocked by the user"
ERR_CANT_INITIATE = "Forbidden: bot can't initiate conversation with a user"
ERR_EDIT_NOT_FOUND = "Bad Request: message to edit not found"
ERR_DELETE_NOT_FOUND = "Bad Request: message to delete not found"
ERR_CONFLICT_POLL = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
ERR_CONFLICT_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)

CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)

_INLINE_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)

_BOT_COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![A-Za-z0-9_@])")
_MY_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")

# A valid 1x1 transparent PNG, used for photos "sent" by simulated users.
TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4"
    "890000000d49444154789c6300010000000500010d0a2db40000000049454e44ae426082"
)


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (the unit of Bot API entity offsets)."""
    return len(text.encode("utf-16-le")) // 2


# --------------------------------------------------------------------------- errors


class ApiError(Exception):
    """A Bot API error; turned into ``{"ok": false, ...}`` JSON by the server."""

    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after

    def to_response(self) -> web.Response:
        return LocalBotApiServer.error_response(self.code, self.description, self.retry_after)


def _bad_request(reason: str) -> ApiError:
    return ApiError(400, f"Bad Request: {reason}")


# --------------------------------------------------------------------------- HTML


class HtmlParseError(ValueError):
    """Raised by :func:`parse_html`; the message mirrors Telegram's wording."""


_ALLOWED_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "a",
        "code",
        "pre",
        "span",
        "tg-spoiler",
        "blockquote",
        "tg-emoji",
    }
)
_TAG_ENTITY_TYPE = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
    "a": "text_link",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_CHAR_REF_RE = re.compile(r"&(#[0-9]{1,8}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{0,15});")


@dataclass
class _OpenTag:
    name: str
    attrs: dict[str, str]
    offset: int  # UTF-16 offset in the visible text


def _decode_char_ref(text: str, pos: int) -> tuple[str, int] | None:
    """Decode ``&...;`` at ``pos``; return (char, end) or None if not a supported entity."""
    match = _CHAR_REF_RE.match(text, pos)
    if match is None:
        return None
    ref = match.group(1)
    if ref.startswith("#"):
        code = int(ref[2:], 16) if ref[1] in "xX" else int(ref[1:])
        if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            return None
        return chr(code), match.end()
    char = _NAMED_ENTITIES.get(ref)
    return (char, match.end()) if char is not None else None


def parse_html(text: str, *, strict_ampersand: bool = True) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram-flavoured HTML into (visible text, MessageEntity dicts).

    Mirrors the rules of Telegram's parser (tdlib ``parse_html``): only the tags
    listed in the Bot API are allowed, every '<' must start a valid tag, end tags
    must match, and only ``&lt; &gt; &amp; &quot;`` plus numeric character
    references are decoded.  Raises :class:`HtmlParseError` otherwise.
    """

    def byte_offset(index: int) -> int:
        return len(text[:index].encode("utf-8"))

    out: list[str] = []
    out_len = 0  # UTF-16 length of "".join(out)
    stack: list[_OpenTag] = []
    entities: list[dict[str, Any]] = []
    n = len(text)
    i = 0
    while i < n:
        char = text[i]
        if char == "&":
            decoded = _decode_char_ref(text, i)
            if decoded is not None:
                out.append(decoded[0])
                out_len += utf16_len(decoded[0])
                i = decoded[1]
                continue
            if strict_ampersand:
                raise HtmlParseError(
                    f'Character "&" must be escaped as "&amp;" at byte offset {byte_offset(i)}'
                )
            out.append(char)
            out_len += 1
            i += 1
            continue
        if char != "<":
            out.append(char)
            out_len += utf16_len(char)
            i += 1
            continue
        begin = i
        if i + 1 < n and text[i + 1] == "/":
            i = _parse_end_tag(text, begin, stack, byte_offset)
            tag = stack.pop()
            entity = _make_entity(tag, out_len, stack)
            if entity is not None:
                entities.append(entity)
            continue
        i, tag = _parse_start_tag(text, begin, byte_offset)
        tag.offset = out_len
        stack.append(tag)
    if stack:
        raise HtmlParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _parse_end_tag(
    text: str, begin: int, stack: list[_OpenTag], byte_offset: Callable[[int], int]
) -> int:
    n = len(text)
    if not stack:
        raise HtmlParseError(f"Unexpected end tag at byte offset {byte_offset(begin)}")
    i = begin + 2
    while i < n and not text[i].isspace() and text[i] != ">":
        i += 1
    name = text[begin + 2 : i].lower()
    while i < n and text[i].isspace():
        i += 1
    if i >= n or text[i] != ">":
        raise HtmlParseError(f"Unclosed end tag at byte offset {byte_offset(begin)}")
    expected = stack[-1].name
    if name and name != expected:
        raise HtmlParseError(
            f'Unmatched end tag at byte offset {byte_offset(begin)}, expected "</{expected}>", '
            f'found "</{name}>"'
        )
    return i + 1


def _parse_start_tag(
    text: str, begin: int, byte_offset: Callable[[int], int]
) -> tuple[int, _OpenTag]:
    n = len(text)
    where = byte_offset(begin)
    i = begin + 1
    while i < n and not text[i].isspace() and text[i] != ">":
        i += 1
    if i >= n:
        raise HtmlParseError(f"Unclosed start tag at byte offset {where}")
    name = text[begin + 1 : i].lower()
    if name not in _ALLOWED_TAGS:
        raise HtmlParseError(f'Unsupported start tag "{name}" at byte offset {where}')
    attrs: dict[str, str] = {}
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            raise HtmlParseError(f"Unclosed start tag at byte offset {where}")
        if text[i] == ">":
            i += 1
            break
        attr_begin = i
        while i < n and not text[i].isspace() and text[i] not in "=>":
            i += 1
        attr_name = text[attr_begin:i].lower()
        if not attr_name:
            raise HtmlParseError(f'Empty attribute name in the tag "{name}" at byte offset {where}')
        while i < n and text[i].isspace():
            i += 1
        if i < n and text[i] != "=":
            attrs[attr_name] = ""  # boolean attribute such as <blockquote expandable>
            continue
        i += 1
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            raise HtmlParseError(f"Unclosed start tag at byte offset {where}")
        if text[i] in "'\"":
            quote = text[i]
            i += 1
            value: list[str] = []
            while i < n and text[i] != quote:
                decoded = _decode_char_ref(text, i) if text[i] == "&" else None
                if decoded is not None:
                    value.append(decoded[0])
                    i = decoded[1]
                else:
                    value.append(text[i])
                    i += 1
            if i >= n:
                raise HtmlParseError(f"Unclosed start tag at byte offset {where}")
            i += 1
            attrs[attr_name] = "".join(value)
        else:
            token_begin = i
            while i < n and (text[i].isalnum() or text[i] in ".-"):
                i += 1
            if i < n and not text[i].isspace() and text[i] != ">":
                raise HtmlParseError(
                    f"Unexpected end of name token at byte offset {byte_offset(token_begin)}"
                )
            attrs[attr_name] = text[token_begin:i].lower()
    if name == "span" and not attrs.get("class", "").startswith("tg-"):
        raise HtmlParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {where}')
    return i, _OpenTag(name=name, attrs=attrs, offset=0)


def _make_entity(tag: _OpenTag, end: int, stack: list[_OpenTag]) -> dict[str, Any] | None:
    length = end - tag.offset
    if length <= 0:
        return None
    kind = _TAG_ENTITY_TYPE[tag.name]
    entity: dict[str, Any] = {"offset": tag.offset, "length": length, "type": kind}
    if tag.name == "a":
        url = tag.attrs.get("href", "")
        if not url:
            return None
        entity["url"] = url
    elif tag.name == "code" and stack and stack[-1].name == "pre":
        language = tag.attrs.get("class", "")
        if language.startswith("language-"):
            stack[-1].attrs["language"] = language.removeprefix("language-")
            return None
    elif tag.name == "pre" and tag.attrs.get("language"):
        entity["language"] = tag.attrs["language"]
    elif tag.name == "blockquote" and "expandable" in tag.attrs:
        entity["type"] = "expandable_blockquote"
    elif tag.name == "tg-emoji":
        entity["custom_emoji_id"] = tag.attrs.get("emoji-id", "")
    return entity


# --------------------------------------------------------------------------- state


@dataclass(repr=False)
class UploadedFile:
    """A file part of a multipart request."""

    field_name: str
    filename: str | None
    content_type: str | None
    data: bytes

    def __repr__(self) -> str:
        return f"UploadedFile({self.field_name!r}, {self.filename!r}, {len(self.data)} bytes)"


@dataclass(repr=False)
class StoredFile:
    """A file known to the server (uploaded by the bot or "sent" by a simulated user)."""

    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes
    file_name: str | None
    mime_type: str | None

    @property
    def file_size(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        return f"StoredFile({self.file_id!r}, {self.file_name!r}, {self.file_size} bytes)"


@dataclass
class SentMessage:
    """What the bot sent to a chat, as the user currently sees it (edits applied)."""

    message_id: int
    chat_id: int
    text: str
    raw_text: str
    parse_mode: str | None
    reply_markup: dict[str, Any] | None
    buttons: list[tuple[str, str | None]]
    document: dict[str, Any] | None
    photo: bytes | None
    edited: bool
    date: int
    history: list[str] = field(default_factory=list)
    kind: str = "text"
    entities: list[dict[str, Any]] = field(default_factory=list)
    deleted: bool = False
    message_json: dict[str, Any] = field(default_factory=dict, repr=False)
    edit_seq: int = field(default=0, repr=False)

    def button_texts(self) -> list[str]:
        """Labels of all buttons (inline or reply keyboard), row by row."""
        return [text for text, _ in self.buttons]

    def callback_data(self) -> list[str]:
        """callback_data of all inline buttons that have one."""
        return [data for _, data in self.buttons if data is not None]

    def describe(self) -> str:
        flags = "".join(
            f" ({flag})" for flag, on in (("edited", self.edited), ("deleted", self.deleted)) if on
        )
        doc = f" document={self.document['file_name']!r}" if self.document else ""
        photo = f" photo={len(self.photo)}B" if self.photo is not None else ""
        buttons = f" buttons={self.button_texts()!r}" if self.buttons else ""
        return f"id={self.message_id}{flags}{doc}{photo} text={self.text!r}{buttons}"


@dataclass
class _UserState:
    user: dict[str, Any]
    chat: dict[str, Any]
    blocked: bool = False
    started: bool = True


@dataclass
class _ChatState:
    chat_id: int
    next_message_id: int = 1
    sent: list[SentMessage] = field(default_factory=list)
    by_id: dict[int, SentMessage] = field(default_factory=dict)
    user_messages: dict[int, dict[str, Any]] = field(default_factory=dict)

    def new_message_id(self) -> int:
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id


@dataclass
class _PendingUpdate:
    update: dict[str, Any]
    redelivery: bool = False
    delivered: bool = False
    posting: bool = False  # a webhook request for it is in flight
    not_before: float = 0.0  # a failed webhook delivery is retried after this (monotonic)
    attempts: int = 0

    @property
    def update_id(self) -> int:
        return int(self.update["update_id"])

    @property
    def kind(self) -> str:
        return next(key for key in self.update if key != "update_id")


@dataclass
class _Fault:
    code: int
    description: str
    retry_after: int | None
    remaining: int


@dataclass
class ServerStats:
    """Counters for benchmarks; see :attr:`LocalBotApiServer.stats`."""

    sent: int = 0  # messages accepted by sendMessage/sendDocument/sendPhoto
    rate_limited: int = 0  # 429s returned by flood control (not by fail_next/fault_hook)
    faults: int = 0  # responses produced by fail_next or fault_hook
    # getUpdates calls ended by a newer getUpdates (409, as Telegram answers the older poll):
    # two processes were polling one token at once.
    conflicts: int = 0
    sent_by_method: dict[str, int] = field(default_factory=dict)


class _RateLimiter:
    """Overall token bucket (burst = rate) plus a minimum interval between messages per chat."""

    def __init__(
        self,
        clock: Callable[[], float],
        overall_per_second: float | None,
        per_chat_per_second: float | None,
        retry_after: int | None,
    ) -> None:
        for name, rate in (
            ("overall_per_second", overall_per_second),
            ("per_chat_per_second", per_chat_per_second),
        ):
            if rate is not None and not rate > 0:
                raise ValueError(f"{name} must be positive or None, not {rate!r}")
        if retry_after is not None and retry_after < 1:
            raise ValueError(f"retry_after must be >= 1 or None, not {retry_after!r}")
        self._clock = clock
        self.overall_rate = overall_per_second
        self.per_chat_rate = per_chat_per_second
        self.retry_after = retry_after
        self._capacity = max(overall_per_second or 0.0, 1.0)
        self._tokens = self._capacity
        self._refilled_at = clock()
        self._last_by_chat: dict[Any, float] = {}

    @property
    def enabled(self) -> bool:
        return self.overall_rate is not None or self.per_chat_rate is not None

    def _refill(self, now: float) -> None:
        if self.overall_rate is None:
            return
        elapsed = max(now - self._refilled_at, 0.0)
        self._tokens = min(self._capacity, self._tokens + elapsed * self.overall_rate)
        self._refilled_at = now

    def acquire(self, chat_key: Any) -> tuple[int | None, Callable[[], None]]:
        """Take a slot for a message to ``chat_key`` (None: no per-chat limit).

        Returns ``(retry_after, release)``: ``retry_after`` is None when the message
        is allowed (call ``release`` to give the slot back if the call then fails),
        else the whole seconds to report in the 429 and nothing was taken.
        """
        now = self._clock()
        self._refill(now)
        wait = 0.0
        if self.overall_rate is not None and self._tokens < 1.0 - _CLOCK_EPSILON:
            wait = (1.0 - self._tokens) / self.overall_rate
        previous = self._last_by_chat.get(chat_key) if chat_key is not None else None
        if self.per_chat_rate is not None and previous is not None:
            wait = max(wait, previous + 1.0 / self.per_chat_rate - now)
        if wait > _CLOCK_EPSILON:
            if self.retry_after is not None:
                return self.retry_after, _noop
            return max(1, math.ceil(wait - _CLOCK_EPSILON)), _noop
        if self.overall_rate is not None:
            self._tokens -= 1.0
        if self.per_chat_rate is not None and chat_key is not None:
            self._last_by_chat[chat_key] = now

        def release() -> None:
            if self.overall_rate is not None:
                self._tokens = min(self._capacity, self._tokens + 1.0)
            if chat_key is None or self._last_by_chat.get(chat_key) != now:
                return  # no per-chat limit, or a later message to the chat took over
            if previous is None:
                self._last_by_chat.pop(chat_key, None)
            else:
                self._last_by_chat[chat_key] = previous

        return None, release


def _noop() -> None:
    return None


def _chat_key(params: Params) -> Any:
    raw = params.get("chat_id")
    if raw is None or raw == "" or isinstance(raw, UploadedFile):
        return None
    try:
        return int(raw)
    except (TypeError, ValueError):
        return str(raw)


class _Signal:
    """Broadcast wake-up usable from sync code: waiters sleep until notify() or timeout."""

    def __init__(self) -> None:
        self._event: asyncio.Event | None = None

    def notify(self) -> None:
        if self._event is not None:
            self._event.set()
            self._event = None

    async def wait(self, timeout: float) -> None:
        if self._event is None:
            self._event = asyncio.Event()
        event = self._event
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), max(timeout, 0.0))


# --------------------------------------------------------------------------- params


def _opt_str(params: Params, key: str) -> str | None:
    value = params.get(key)
    if value is None or isinstance(value, UploadedFile):
        return None
    return value if isinstance(value, str) else str(value)


def _opt_int(params: Params, key: str) -> int | None:
    value = params.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return int(value)
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            return int(float(value))
        except (TypeError, ValueError):
            raise _bad_request(f"invalid {key} specified") from None


def _opt_float(params: Params, key: str) -> float | None:
    value = params.get(key)
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise _bad_request(f"invalid {key} specified") from None


def _opt_bool(params: Params, key: str) -> bool:
    value = params.get(key)
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def _opt_json(params: Params, key: str, error: str | None = None) -> Any:
    value = params.get(key)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise _bad_request(error or f"can't parse {key} JSON object") from None
    return value


def _loggable(params: Params) -> Params:
    """Copy of the params for the call log (the token is never part of them)."""
    return dict(params)


# --------------------------------------------------------------------------- server


class LocalBotApiServer:
    """Local Bot API server plus a driver API for simulated users (see module docstring)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str = DEFAULT_TOKEN,
        username: str = "figbot_local_bot",
        first_name: str = "figbot",
        clock: Callable[[], float] | None = None,
        dates: Callable[[], float] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """``clock`` (default :func:`time.monotonic`) is used only by the rate limiter;
        ``dates`` (default :func:`time.time`) dates messages, in seconds since the epoch, as
        Telegram does: tests give the bot's fake clock, so both tell the same time;
        ``ssl_context`` serves HTTPS, as Telegram does."""
        self.host = host
        self.ssl_context = ssl_context
        self.scheme = "https" if ssl_context is not None else "http"
        self.port = port
        self.token = token
        self.username = username
        self.first_name = first_name
        bot_id_part = token.split(":", 1)[0]
        self.bot_id = int(bot_id_part) if bot_id_part.isdigit() else 123456

        # Hooks / knobs
        self.fault_hook: FaultHook | None = None
        self.strict_html_ampersand = True

        # Observable state
        self.calls: list[tuple[str, Params]] = []
        self.answered_callbacks: list[dict[str, Any]] = []
        self.chat_actions: list[tuple[int, str]] = []
        self.webhook_url = ""
        self.webhook_secret = ""
        self.webhook_max_connections = 40
        # Every webhook delivery attempt: (update_id, HTTP status, or 0 for a connection error).
        self.webhook_attempts: list[tuple[int, int]] = []
        self.allowed_updates: list[str] | None = None
        self.confirmed_offset = 0
        self.stats = ServerStats()

        self._clock: Callable[[], float] = clock or time.monotonic
        self._dates: Callable[[], float] = dates or time.time
        self._rate_limiter: _RateLimiter | None = None
        self._users: dict[int, _UserState] = {}
        self._chats: dict[int, _ChatState] = {}
        self._groups: dict[int, dict[str, Any]] = {}
        self._issued: dict[int, dict[str, Any]] = {}
        self._pending: list[_PendingUpdate] = []
        self._callback_queries: dict[str, dict[str, Any]] = {}
        self._answered_ids: set[str] = set()
        self._files: dict[str, StoredFile] = {}
        self._files_by_path: dict[str, StoredFile] = {}
        self._my_commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._faults: dict[str, list[_Fault]] = {}

        self._update_ids = itertools.count(1000)
        self._callback_ids = itertools.count(4_000_000_000_000_000_001)
        self._file_counter = itertools.count(1)
        self._change_seq = 0
        self._poll_generation = 0
        self._inflight = 0
        self._last_activity = time.monotonic()
        self._closing = False

        self._updates_signal = _Signal()
        self._messages_signal = _Signal()
        self._activity_signal = _Signal()

        self._runner: web.AppRunner | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._methods: dict[str, tuple[str, Callable[[Params], Awaitable[Any]]]] = {
            name.lower(): (name, handler)
            for name, handler in {
                "getMe": self._m_get_me,
                "getUpdates": self._m_get_updates,
                "sendMessage": self._m_send_message,
                "editMessageText": self._m_edit_message_text,
                "editMessageCaption": self._m_edit_message_caption,
                "editMessageReplyMarkup": self._m_edit_message_reply_markup,
                "deleteMessage": self._m_delete_message,
                "answerCallbackQuery": self._m_answer_callback_query,
                "sendDocument": self._m_send_document,
                "sendPhoto": self._m_send_photo,
                "getFile": self._m_get_file,
                "setMyCommands": self._m_set_my_commands,
                "getMyCommands": self._m_get_my_commands,
                "deleteMyCommands": self._m_delete_my_commands,
                "setWebhook": self._m_set_webhook,
                "deleteWebhook": self._m_delete_webhook,
                "getWebhookInfo": self._m_get_webhook_info,
                "close": self._m_true,
                "logOut": self._m_true,
                "sendChatAction": self._m_send_chat_action,
            }.items()
        }

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}/file/bot"

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("LocalBotApiServer already started")
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_route("GET", "/file/bot{token}/{file_path:.+}", self._handle_file)
        app.router.add_route("*", "/{tail:.*}", self._handle_not_found)
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, ssl_context=self.ssl_context)
        await site.start()
        self._runner = runner
        self._closing = False
        self.port = int(runner.addresses[0][1])
        logger.info("Local Bot API server listening on %s", self.base_url)

    async def stop(self) -> None:
        if self._runner is None:
            return
        self._closing = True
        self._updates_signal.notify()
        task, self._webhook_task = self._webhook_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        runner, self._runner = self._runner, None
        await runner.cleanup()
        logger.info("Local Bot API server stopped")

    async def __aenter__(self) -> LocalBotApiServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ fault injection

    @staticmethod
    def error_response(code: int, description: str, retry_after: int | None = None) -> web.Response:
        """Build an error response exactly like the real Bot API does."""
        body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
        return web.json_response(body, status=code)

    def fail_next(
        self,
        method: str,
        code: int,
        description: str,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail with the given error."""
        self._faults.setdefault(method.lower(), []).append(
            _Fault(code=code, description=description, retry_after=retry_after, remaining=times)
        )

    def set_rate_limit(
        self,
        *,
        overall_per_second: float | None = None,
        per_chat_per_second: float | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Enable Telegram-like flood control for the message-sending methods.

        ``overall_per_second`` limits all such calls together (token bucket whose
        burst equals the rate); ``per_chat_per_second`` enforces a minimum interval of
        ``1 / per_chat_per_second`` seconds between two messages to the same chat.
        ``None`` disables a limit (both None: flood control off, the default).
        Refused calls get HTTP 429 "Too Many Requests: retry after N" with
        ``parameters.retry_after = N``: ``retry_after`` if given, else the whole
        seconds (at least 1) until the call would have been allowed.  Refused calls
        have no effect; calls that fail for another reason (400, 403 ...) do not use
        up the limit either.  fail_next/fault_hook run before the limiter.  Calling
        this resets the limiter's state.
        """
        limiter = _RateLimiter(self._clock, overall_per_second, per_chat_per_second, retry_after)
        self._rate_limiter = limiter if limiter.enabled else None

    def sent_message_count(self) -> int:
        """Messages the bot has sent, over all chats (deleted ones included)."""
        return sum(len(chat.sent) for chat in self._chats.values())

    def _take_fault(self, method: str) -> web.Response | None:
        faults = self._faults.get(method)
        if not faults:
            return None
        fault = faults[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            faults.pop(0)
        return self.error_response(fault.code, fault.description, fault.retry_after)

    # ------------------------------------------------------------------ HTTP layer

    async def _handle_not_found(self, request: web.Request) -> web.Response:
        return self.error_response(404, "Not Found")

    async def _handle_api(self, request: web.Request) -> web.Response:
        if not hmac.compare_digest(request.match_info["token"], self.token):
            return self.error_response(401, "Unauthorized")
        entry = self._methods.get(request.match_info["method"].lower())
        if entry is None:
            return self.error_response(404, "Not Found")
        name, handler = entry
        try:
            params = await self._read_params(request)
        except ApiError as exc:
            return exc.to_response()
        self.calls.append((name, _loggable(params)))
        logger.debug("Bot API call %s", name)
        polling = name == "getUpdates"
        if not polling:
            self._inflight += 1
            self._touch()
        release = _noop  # gives a flood-control slot back unless the call succeeds
        succeeded = False
        try:
            injected = self._take_fault(name.lower())
            if injected is not None:
                self.stats.faults += 1
                return injected
            if self.fault_hook is not None:
                hooked = self.fault_hook(name.lower(), params)
                if inspect.isawaitable(hooked):
                    hooked = await hooked
                if hooked is CONNECTION_RESET:
                    self.stats.faults += 1
                    if request.transport is not None:
                        request.transport.abort()  # the client sees the connection reset
                    return self.error_response(500, "connection reset")
                if hooked is not None:
                    self.stats.faults += 1
                    return hooked
            limiter = self._rate_limiter
            if limiter is not None and name.lower() in RATE_LIMITED_METHODS:
                retry_after, release = limiter.acquire(_chat_key(params))
                if retry_after is not None:
                    self.stats.rate_limited += 1
                    logger.debug("Bot API call %s refused by flood control", name)
                    return self.error_response(
                        429, f"Too Many Requests: retry after {retry_after}", retry_after
                    )
            result = await handler(params)
            succeeded = True
        except ApiError as exc:
            logger.debug("Bot API call %s failed: %s", name, exc.description)
            return exc.to_response()
        except Exception:
            logger.exception("Local Bot API server failed handling %s", name)
            return self.error_response(500, "Internal Server Error")
        finally:
            if not succeeded:
                release()
            if not polling:
                self._inflight -= 1
                self._touch()
        if name in SEND_METHODS:
            self.stats.sent += 1
            self.stats.sent_by_method[name] = self.stats.sent_by_method.get(name, 0) + 1
        return web.json_response({"ok": True, "result": result})

    async def _read_params(self, request: web.Request) -> Params:
        params: Params = dict(request.query.items())
        if not request.body_exists:
            return params
        content_type = request.content_type
        if content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise _bad_request("can't parse JSON object") from None
            if not isinstance(body, dict):
                raise _bad_request("can't parse JSON object")
            params.update(body)
        elif content_type.startswith("multipart/"):
            files: dict[str, UploadedFile] = {}
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader) or part.name is None:
                    continue
                if part.filename is not None:
                    files[part.name] = UploadedFile(
                        field_name=part.name,
                        filename=part.filename,
                        content_type=part.headers.get("Content-Type"),
                        data=bytes(await part.read(decode=False)),
                    )
                else:
                    params[part.name] = await part.text()
            for key, value in list(params.items()):
                if isinstance(value, str) and value.startswith("attach://"):
                    params[key] = files.get(value.removeprefix("attach://"), value)
            for name, upload in files.items():
                params.setdefault(name, upload)
        else:
            form = await request.post()
            params.update({key: value for key, value in form.items() if isinstance(value, str)})
        return params

    async def _handle_file(self, request: web.Request) -> web.Response:
        if not hmac.compare_digest(request.match_info["token"], self.token):
            return self.error_response(401, "Unauthorized")
        stored = self._files_by_path.get(request.match_info["file_path"])
        if stored is None:
            return self.error_response(404, "Not Found")
        return web.Response(
            body=stored.data, content_type=stored.mime_type or "application/octet-stream"
        )

    def _touch(self) -> None:
        self._last_activity = time.monotonic()
        self._activity_signal.notify()

    # ------------------------------------------------------------------ helpers (server side)

    def _date(self) -> int:
        """Now, as Telegram dates a message: whole seconds since the epoch."""
        return int(self._dates())

    def _bot_user(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.first_name,
            "username": self.username,
        }

    def _target_chat(self, params: Params, *, for_sending: bool = True) -> _ChatState:
        raw = params.get("chat_id")
        if raw is None or raw == "":
            raise _bad_request("chat_id is empty")
        try:
            chat_id = int(raw)
        except (TypeError, ValueError):
            raise ApiError(400, ERR_CHAT_NOT_FOUND) from None
        chat = self._chats.get(chat_id)
        if chat is not None and chat_id in self._groups:
            return chat
        user = self._users.get(chat_id)
        if chat is None or user is None:
            raise ApiError(400, ERR_CHAT_NOT_FOUND)
        if for_sending:
            if user.blocked:
                raise ApiError(403, ERR_BLOCKED)
            if not user.started:
                raise ApiError(403, ERR_CANT_INITIATE)
        return chat

    @staticmethod
    def _parse_mode(params: Params) -> str | None:
        mode = _opt_str(params, "parse_mode")
        if not mode:
            return None
        normalized = {"html": "HTML", "markdown": "Markdown", "markdownv2": "MarkdownV2"}
        if mode.lower() not in normalized:
            raise _bad_request("unsupported parse_mode")
        return normalized[mode.lower()]

    def _format(
        self, text: str, parse_mode: str | None, params: Params, entities_key: str
    ) -> tuple[str, list[dict[str, Any]]]:
        if parse_mode == "HTML":
            try:
                return parse_html(text, strict_ampersand=self.strict_html_ampersand)
            except HtmlParseError as exc:
                raise _bad_request(f"can't parse entities: {exc}") from None
        explicit = _opt_json(params, entities_key)
        if parse_mode is None and isinstance(explicit, list):
            return text, [dict(entity) for entity in explicit if isinstance(entity, dict)]
        return text, []

    @staticmethod
    def _parse_markup(params: Params, *, inline_only: bool = False) -> dict[str, Any] | None:
        markup = _opt_json(params, "reply_markup", "can't parse reply keyboard markup JSON object")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise _bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
                raise _bad_request("can't parse inline keyboard button: InlineKeyboardButton")
            for row in rows:
                for button in row:
                    _validate_inline_button(button)
            return markup
        if inline_only:
            raise _bad_request("inline keyboard expected")
        if "keyboard" in markup:
            rows = markup["keyboard"]
            if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
                raise _bad_request("can't parse reply keyboard markup JSON object")
            for row in rows:
                for button in row:
                    label = button if isinstance(button, str) else None
                    if isinstance(button, dict):
                        label = button.get("text")
                    if not isinstance(label, str) or not label:
                        raise _bad_request("keyboard button text must be non-empty")
            return markup
        if markup.get("remove_keyboard") or markup.get("force_reply"):
            return markup
        raise _bad_request("can't parse reply keyboard markup JSON object")

    def _reply_to(self, chat: _ChatState, params: Params) -> dict[str, Any] | None:
        reply = _opt_json(params, "reply_parameters")
        message_id: int | None = None
        allow_missing = _opt_bool(params, "allow_sending_without_reply")
        if isinstance(reply, dict):
            message_id = _opt_int(reply, "message_id")
            allow_missing = allow_missing or _opt_bool(reply, "allow_sending_without_reply")
        elif _opt_int(params, "reply_to_message_id") is not None:
            message_id = _opt_int(params, "reply_to_message_id")
        if message_id is None:
            return None
        if message_id in chat.user_messages:
            return copy.deepcopy(chat.user_messages[message_id])
        sent = chat.by_id.get(message_id)
        if sent is not None and not sent.deleted:
            return copy.deepcopy(sent.message_json)
        if allow_missing:
            return None
        raise _bad_request("message to be replied not found")

    def _record_bot_message(
        self,
        chat: _ChatState,
        *,
        kind: str,
        text: str,
        raw_text: str,
        parse_mode: str | None,
        entities: list[dict[str, Any]],
        markup: dict[str, Any] | None,
        reply_to: dict[str, Any] | None,
        extra: dict[str, Any],
        document: dict[str, Any] | None = None,
        photo: bytes | None = None,
    ) -> SentMessage:
        message_id = chat.new_message_id()
        now = self._date()
        message: dict[str, Any] = {
            "message_id": message_id,
            "from": self._bot_user(),
            "chat": copy.deepcopy(
                self._groups[chat.chat_id]
                if chat.chat_id in self._groups
                else self._users[chat.chat_id].chat
            ),
            "date": now,
        }
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        message.update(extra)
        _set_text_fields(message, kind, text, entities)
        if markup is not None and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        sent = SentMessage(
            message_id=message_id,
            chat_id=chat.chat_id,
            text=text,
            raw_text=raw_text,
            parse_mode=parse_mode,
            reply_markup=markup,
            buttons=_buttons(markup),
            document=document,
            photo=photo,
            edited=False,
            date=now,
            kind=kind,
            entities=entities,
            message_json=message,
        )
        chat.sent.append(sent)
        chat.by_id[message_id] = sent
        self._messages_changed()
        return sent

    def _messages_changed(self) -> int:
        self._change_seq += 1
        self._messages_signal.notify()
        return self._change_seq

    def _editable_message(self, params: Params) -> tuple[_ChatState, SentMessage]:
        if params.get("inline_message_id"):
            raise _bad_request("MESSAGE_ID_INVALID")
        chat = self._target_chat(params)
        message_id = _opt_int(params, "message_id")
        if message_id is None:
            raise _bad_request("message identifier is not specified")
        sent = chat.by_id.get(message_id)
        if sent is None or sent.deleted:
            if message_id in chat.user_messages:
                raise _bad_request("message can't be edited")
            raise ApiError(400, ERR_EDIT_NOT_FOUND)
        return chat, sent

    def _apply_edit(
        self,
        sent: SentMessage,
        *,
        text: str,
        raw_text: str,
        parse_mode: str | None,
        entities: list[dict[str, Any]],
        markup: dict[str, Any] | None,
    ) -> dict[str, Any]:
        current_markup = sent.message_json.get("reply_markup")
        if text == sent.text and entities == sent.entities and markup == current_markup:
            raise ApiError(400, ERR_NOT_MODIFIED)
        if text != sent.text or raw_text != sent.raw_text:
            sent.history.append(sent.text)
        sent.text = text
        sent.raw_text = raw_text
        sent.parse_mode = parse_mode
        sent.entities = entities
        sent.reply_markup = markup
        sent.buttons = _buttons(markup)
        sent.edited = True
        message = sent.message_json
        _set_text_fields(message, sent.kind, text, entities)
        if markup is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = markup
        message["edit_date"] = self._date()
        sent.edit_seq = self._messages_changed()
        return copy.deepcopy(message)

    def _store_file(
        self, data: bytes, *, file_name: str | None, mime_type: str | None, folder: str
    ) -> StoredFile:
        number = next(self._file_counter)
        extension = ""
        if file_name and "." in file_name:
            extension = file_name.rsplit(".", 1)[1]
        elif mime_type:
            extension = (mimetypes.guess_extension(mime_type) or "").lstrip(".")
        path = f"{folder}/file_{number}" + (f".{extension}" if extension else "")
        stored = StoredFile(
            file_id=f"LOCAL{folder[:3].upper()}{number:06d}AAAAAAAAAAAAAAAA",
            file_unique_id=f"AgAD{number:06d}",
            file_path=path,
            data=data,
            file_name=file_name,
            mime_type=mime_type,
        )
        self._files[stored.file_id] = stored
        self._files_by_path[path] = stored
        return stored

    def _input_file(self, params: Params, key: str, folder: str) -> StoredFile:
        value = params.get(key)
        if isinstance(value, UploadedFile):
            file_name = value.filename
            mime_type = None
            if file_name:
                mime_type = mimetypes.guess_type(file_name)[0]
            if mime_type is None and value.content_type:
                mime_type = value.content_type.split(";", 1)[0].strip() or None
            return self._store_file(
                value.data, file_name=file_name, mime_type=mime_type, folder=folder
            )
        if isinstance(value, str) and value:
            stored = self._files.get(value)
            if stored is None:
                raise _bad_request("wrong file identifier/HTTP URL specified")
            return stored
        raise _bad_request(f"there is no {key} in the request")

    def _caption(self, params: Params) -> tuple[str, str, str | None, list[dict[str, Any]]]:
        raw = _opt_str(params, "caption") or ""
        parse_mode = self._parse_mode(params)
        visible, entities = self._format(raw, parse_mode, params, "caption_entities")
        if len(visible) > MAX_CAPTION_LENGTH:
            raise ApiError(400, ERR_CAPTION_TOO_LONG)
        return visible, raw, parse_mode, entities

    # ------------------------------------------------------------------ Bot API methods

    async def _m_true(self, params: Params) -> bool:
        return True

    async def _m_get_me(self, params: Params) -> dict[str, Any]:
        return {
            **self._bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _m_get_updates(self, params: Params) -> list[dict[str, Any]]:
        if self.webhook_url:
            raise ApiError(409, ERR_CONFLICT_WEBHOOK)
        self._poll_generation += 1
        generation = self._poll_generation
        self._updates_signal.notify()  # terminates an older long poll (409)
        offset = _opt_int(params, "offset")
        limit = min(max(_opt_int(params, "limit") or 100, 1), 100)
        timeout = max(_opt_float(params, "timeout") or 0.0, 0.0)
        allowed = _opt_json(params, "allowed_updates")
        if isinstance(allowed, list):
            self.allowed_updates = [str(kind) for kind in allowed] or None
        self._confirm(offset)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self._closing:
                return []
            if generation != self._poll_generation:
                self.stats.conflicts += 1
                raise ApiError(409, ERR_CONFLICT_POLL)
            batch = self._take_batch(limit)
            remaining = deadline - loop.time()
            if batch or remaining <= 0:
                return batch
            await self._updates_signal.wait(remaining)

    def _confirm(self, offset: int | None) -> None:
        if not offset:
            return
        before = len(self._pending)
        if offset > 0:
            self._pending = [
                entry
                for entry in self._pending
                if entry.update_id >= offset or (entry.redelivery and not entry.delivered)
            ]
            self.confirmed_offset = max(self.confirmed_offset, offset)
        else:
            self._pending = self._pending[offset:]
        if len(self._pending) != before:
            # The bot just took these updates on: give its handlers a fresh quiet window.
            self._touch()

    def _take_batch(self, limit: int) -> list[dict[str, Any]]:
        if self.allowed_updates:
            self._pending = [e for e in self._pending if e.kind in self.allowed_updates]
        batch: list[dict[str, Any]] = []
        for entry in self._pending:
            if len(batch) >= limit or (entry.redelivery and batch):
                break
            batch.append(copy.deepcopy(entry.update))
            entry.delivered = True
            if entry.redelivery:
                break  # a redelivered copy travels alone so client offsets stay sane
        if batch:
            self._touch()
        return batch

    async def _m_send_message(self, params: Params) -> dict[str, Any]:
        chat = self._target_chat(params)
        raw = _opt_str(params, "text")
        if not raw:
            raise ApiError(400, ERR_TEXT_EMPTY)
        parse_mode = self._parse_mode(params)
        visible, entities = self._format(raw, parse_mode, params, "entities")
        if not visible.strip():
            raise ApiError(400, ERR_TEXT_EMPTY)
        if len(visible) > MAX_TEXT_LENGTH:
            raise ApiError(400, ERR_TEXT_TOO_LONG)
        markup = self._parse_markup(params)
        reply_to = self._reply_to(chat, params)
        sent = self._record_bot_message(
            chat,
            kind="text",
            text=visible,
            raw_text=raw,
            parse_mode=parse_mode,
            entities=entities,
            markup=markup,
            reply_to=reply_to,
            extra={},
        )
        return copy.deepcopy(sent.message_json)

    async def _m_edit_message_text(self, params: Params) -> dict[str, Any]:
        _, sent = self._editable_message(params)
        if sent.kind != "text":
            raise _bad_request("there is no text in the message to edit")
        raw = _opt_str(params, "text")
        if not raw:
            raise ApiError(400, ERR_TEXT_EMPTY)
        parse_mode = self._parse_mode(params)
        visible, entities = self._format(raw, parse_mode, params, "entities")
        if not visible.strip():
            raise ApiError(400, ERR_TEXT_EMPTY)
        if len(visible) > MAX_TEXT_LENGTH:
            raise ApiError(400, ERR_TEXT_TOO_LONG)
        markup = self._parse_markup(params, inline_only=True)
        return self._apply_edit(
            sent,
            text=visible,
            raw_text=raw,
            parse_mode=parse_mode,
            entities=entities,
            markup=markup,
        )

    async def _m_edit_message_caption(self, params: Params) -> dict[str, Any]:
        _, sent = self._editable_message(params)
        if sent.kind == "text":
            raise _bad_request("there is no caption in the message to edit")
        visible, raw, parse_mode, entities = self._caption(params)
        markup = self._parse_markup(params, inline_only=True)
        return self._apply_edit(
            sent,
            text=visible,
            raw_text=raw,
            parse_mode=parse_mode,
            entities=entities,
            markup=markup,
        )

    async def _m_edit_message_reply_markup(self, params: Params) -> dict[str, Any]:
        _, sent = self._editable_message(params)
        markup = self._parse_markup(params, inline_only=True)
        return self._apply_edit(
            sent,
            text=sent.text,
            raw_text=sent.raw_text,
            parse_mode=sent.parse_mode,
            entities=sent.entities,
            markup=markup,
        )

    async def _m_delete_message(self, params: Params) -> bool:
        chat = self._target_chat(params, for_sending=False)
        message_id = _opt_int(params, "message_id")
        sent = chat.by_id.get(message_id) if message_id is not None else None
        if sent is not None and not sent.deleted:
            sent.deleted = True
            sent.edit_seq = self._messages_changed()
            return True
        if message_id is not None and chat.user_messages.pop(message_id, None) is not None:
            return True
        raise ApiError(400, ERR_DELETE_NOT_FOUND)

    async def _m_answer_callback_query(self, params: Params) -> bool:
        query_id = _opt_str(params, "callback_query_id") or ""
        if query_id not in self._callback_queries or query_id in self._answered_ids:
            raise ApiError(400, ERR_QUERY_INVALID)
        self._answered_ids.add(query_id)
        self.answered_callbacks.append(
            {
                "callback_query_id": query_id,
                "text": _opt_str(params, "text"),
                "show_alert": _opt_bool(params, "show_alert"),
            }
        )
        return True

    async def _m_send_document(self, params: Params) -> dict[str, Any]:
        chat = self._target_chat(params)
        stored = self._input_file(params, "document", "documents")
        visible, raw, parse_mode, entities = self._caption(params)
        markup = self._parse_markup(params)
        reply_to = self._reply_to(chat, params)
        document_json: dict[str, Any] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.file_size,
        }
        if stored.file_name:
            document_json["file_name"] = stored.file_name
        if stored.mime_type:
            document_json["mime_type"] = stored.mime_type
        sent = self._record_bot_message(
            chat,
            kind="document",
            text=visible,
            raw_text=raw,
            parse_mode=parse_mode,
            entities=entities,
            markup=markup,
            reply_to=reply_to,
            extra={"document": document_json},
            document={
                "file_name": stored.file_name,
                "bytes": stored.data,
                "mime_type": stored.mime_type,
                "file_id": stored.file_id,
                "file_size": stored.file_size,
            },
        )
        return copy.deepcopy(sent.message_json)

    async def _m_send_photo(self, params: Params) -> dict[str, Any]:
        chat = self._target_chat(params)
        stored = self._input_file(params, "photo", "photos")
        visible, raw, parse_mode, entities = self._caption(params)
        markup = self._parse_markup(params)
        reply_to = self._reply_to(chat, params)
        sent = self._record_bot_message(
            chat,
            kind="photo",
            text=visible,
            raw_text=raw,
            parse_mode=parse_mode,
            entities=entities,
            markup=markup,
            reply_to=reply_to,
            extra={"photo": _photo_sizes(stored)},
            photo=stored.data,
        )
        return copy.deepcopy(sent.message_json)

    async def _m_get_file(self, params: Params) -> dict[str, Any]:
        stored = self._files.get(_opt_str(params, "file_id") or "")
        if stored is None:
            raise _bad_request("invalid file_id")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.file_size,
            "file_path": stored.file_path,
        }

    @staticmethod
    def _commands_key(params: Params) -> tuple[str, str]:
        scope = _opt_json(params, "scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), _opt_str(params, "language_code") or ""

    async def _m_set_my_commands(self, params: Params) -> bool:
        commands = _opt_json(params, "commands")
        if not isinstance(commands, list):
            raise _bad_request("can't parse commands JSON object")
        cleaned: list[dict[str, Any]] = []
        for command in commands:
            if not isinstance(command, dict):
                raise _bad_request("can't parse BotCommand")
            name = str(command.get("command", ""))
            if not _MY_COMMAND_RE.fullmatch(name):
                raise _bad_request("BOT_COMMAND_INVALID")
            cleaned.append({"command": name, "description": str(command.get("description", ""))})
        key = self._commands_key(params)
        if cleaned:
            self._my_commands[key] = cleaned
        else:
            self._my_commands.pop(key, None)
        return True

    async def _m_get_my_commands(self, params: Params) -> list[dict[str, Any]]:
        return copy.deepcopy(self._my_commands.get(self._commands_key(params), []))

    async def _m_delete_my_commands(self, params: Params) -> bool:
        self._my_commands.pop(self._commands_key(params), None)
        return True

    async def _m_set_webhook(self, params: Params) -> bool:
        url = _opt_str(params, "url") or ""
        if url and not url.startswith(("https://", "http://")):
            raise _bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        self.webhook_url = url
        self.webhook_secret = _opt_str(params, "secret_token") or ""
        self.webhook_max_connections = min(max(_opt_int(params, "max_connections") or 40, 1), 100)
        allowed = _opt_json(params, "allowed_updates")
        if isinstance(allowed, list):
            self.allowed_updates = [str(kind) for kind in allowed] or None
        if _opt_bool(params, "drop_pending_updates"):
            self._pending.clear()
        self._updates_signal.notify()  # a long poll in progress ends (409 from now on)
        if url and self._webhook_task is None:
            self._webhook_task = asyncio.create_task(self._post_updates(), name="fake-webhook")
        return True

    async def _m_delete_webhook(self, params: Params) -> bool:
        self.webhook_url = ""
        self._updates_signal.notify()
        if _opt_bool(params, "drop_pending_updates"):
            self._pending.clear()
            self._activity_signal.notify()
        return True

    async def _post_updates(self) -> None:
        """Deliver pending updates to the webhook as Telegram does: up to max_connections
        requests at once, oldest first; an update stays pending until answered with 2xx, and a
        failed one is posted again after a pause that grows with each attempt."""
        posting: set[asyncio.Task[None]] = set()
        try:
            async with ClientSession(timeout=ClientTimeout(total=WEBHOOK_TIMEOUT)) as client:
                while self.webhook_url and not self._closing:
                    if self.allowed_updates:
                        self._pending = [e for e in self._pending if e.kind in self.allowed_updates]
                    now = time.monotonic()
                    for entry in self._pending:
                        if len(posting) >= self.webhook_max_connections:
                            break
                        if entry.posting or entry.not_before > now:
                            continue
                        entry.posting = True
                        task = asyncio.create_task(self._post_update(client, entry))
                        posting.add(task)
                        task.add_done_callback(posting.discard)
                    await self._updates_signal.wait(WEBHOOK_RETRY_SECONDS)
                if posting:
                    await asyncio.wait(posting)
        finally:
            self._webhook_task = None
            for task in posting:
                task.cancel()

    async def _post_update(self, client: ClientSession, entry: _PendingUpdate) -> None:
        url = self.webhook_url
        headers = {SECRET_HEADER: self.webhook_secret} if self.webhook_secret else {}
        entry.attempts += 1
        entry.delivered = True
        self._touch()
        status = 0
        try:
            async with client.post(url, json=entry.update, headers=headers) as response:
                status = response.status
                await response.read()
        except (ClientError, TimeoutError, OSError) as exc:
            logger.debug("webhook delivery of %s failed: %s", entry.update_id, exc)
        finally:
            entry.posting = False
        self.webhook_attempts.append((entry.update_id, status))
        if 200 <= status < 300:
            with contextlib.suppress(ValueError):
                self._pending.remove(entry)
        else:
            entry.not_before = time.monotonic() + min(WEBHOOK_RETRY_SECONDS * entry.attempts, 5.0)
        self._touch()
        self._updates_signal.notify()

    async def _m_get_webhook_info(self, params: Params) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }
        if self.allowed_updates:
            info["allowed_updates"] = list(self.allowed_updates)
        return info

    async def _m_send_chat_action(self, params: Params) -> bool:
        chat = self._target_chat(params)
        action = _opt_str(params, "action") or ""
        if action not in CHAT_ACTIONS:
            raise _bad_request("wrong parameter action in request")
        self.chat_actions.append((chat.chat_id, action))
        return True

    # ------------------------------------------------------------------ driver: users & updates

    def add_user(
        self,
        user_id: int,
        first_name: str,
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str = "zh-hans",
        started: bool = True,
    ) -> dict[str, Any]:
        """Register (or replace) a simulated user; returns the User JSON.

        ``started=False`` simulates a user who never opened the bot (sending to them
        fails with 403 "bot can't initiate conversation"); sending any update from
        the user marks them as started.
        """
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        chat: dict[str, Any] = {"id": user_id, "type": "private", "first_name": first_name}
        if last_name is not None:
            user["last_name"] = chat["last_name"] = last_name
        if username is not None:
            user["username"] = chat["username"] = username
        user["language_code"] = language_code
        previous = self._users.get(user_id)
        self._users[user_id] = _UserState(
            user=user,
            chat=chat,
            blocked=previous.blocked if previous else False,
            started=started,
        )
        self._chats.setdefault(user_id, _ChatState(chat_id=user_id))
        return copy.deepcopy(user)

    def _ensure_user(self, user_id: int) -> _UserState:
        if user_id not in self._users:
            self.add_user(user_id, f"User{user_id}")
        state = self._users[user_id]
        state.started = True
        return state

    def _enqueue(self, kind: str, payload: dict[str, Any]) -> int:
        update_id = next(self._update_ids)
        update = {"update_id": update_id, kind: payload}
        self._issued[update_id] = update
        self._pending.append(_PendingUpdate(update=copy.deepcopy(update)))
        self._updates_signal.notify()
        self._activity_signal.notify()
        logger.debug("Enqueued update %s (%s)", update_id, kind)
        return update_id

    def _user_message(self, user_id: int, fields: dict[str, Any]) -> dict[str, Any]:
        state = self._ensure_user(user_id)
        chat = self._chats[user_id]
        message: dict[str, Any] = {
            "message_id": chat.new_message_id(),
            "from": copy.deepcopy(state.user),
            "chat": copy.deepcopy(state.chat),
            "date": self._date(),
            **fields,
        }
        chat.user_messages[message["message_id"]] = copy.deepcopy(message)
        return message

    def add_group(self, group_id: int, title: str) -> None:
        """A group chat the bot is a member of (ids of groups are negative, as on Telegram)."""
        if group_id >= 0:
            raise ValueError("group chat ids are negative")
        self._groups[group_id] = {"id": group_id, "type": "group", "title": title}
        self._chats.setdefault(group_id, _ChatState(chat_id=group_id))

    async def send_group_text(self, user_id: int, group_id: int, text: str) -> int:
        """The user writes ``text`` in the group ``group_id``; returns the update_id."""
        state = self._ensure_user(user_id)
        group = self._chats[group_id]
        fields: dict[str, Any] = {"text": text}
        match = _BOT_COMMAND_RE.match(text)
        if match is not None:
            fields["entities"] = [
                {"offset": 0, "length": utf16_len(match.group()), "type": "bot_command"}
            ]
        message: dict[str, Any] = {
            "message_id": group.new_message_id(),
            "from": copy.deepcopy(state.user),
            "chat": copy.deepcopy(self._groups[group_id]),
            "date": self._date(),
            **fields,
        }
        group.user_messages[message["message_id"]] = copy.deepcopy(message)
        return self._enqueue("message", message)

    async def send_text(self, user_id: int, text: str) -> int:
        """The user sends ``text`` to the bot; returns the update_id."""
        fields: dict[str, Any] = {"text": text}
        match = _BOT_COMMAND_RE.match(text)
        if match is not None:
            fields["entities"] = [
                {"offset": 0, "length": utf16_len(match.group()), "type": "bot_command"}
            ]
        return self._enqueue("message", self._user_message(user_id, fields))

    async def send_update(self, user_id: int, kind: str, payload: dict[str, Any]) -> int:
        """Enqueue an arbitrary update from ``user_id``.

        For ``kind`` "message"/"edited_message" ``payload`` is merged into a fresh
        message skeleton (message_id, from, chat, date); other kinds are sent as-is.
        """
        if kind in ("message", "edited_message"):
            return self._enqueue(kind, self._user_message(user_id, dict(payload)))
        self._ensure_user(user_id)
        return self._enqueue(kind, copy.deepcopy(payload))

    async def send_sticker(self, user_id: int, *, emoji: str = "👍") -> int:
        """The user sends a sticker (a message without text)."""
        number = next(self._file_counter)
        sticker = {
            "file_id": f"LOCALSTI{number:06d}AAAAAAAAAAAAAAAA",
            "file_unique_id": f"AgAD{number:06d}",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
        }
        return self._enqueue("message", self._user_message(user_id, {"sticker": sticker}))

    async def send_photo_from_user(
        self, user_id: int, *, data: bytes = TINY_PNG, caption: str | None = None
    ) -> int:
        """The user sends a photo; the bytes are downloadable through getFile."""
        stored = self._store_file(data, file_name=None, mime_type="image/png", folder="photos")
        fields: dict[str, Any] = {"photo": _photo_sizes(stored)}
        if caption is not None:
            fields["caption"] = caption
        return self._enqueue("message", self._user_message(user_id, fields))

    async def send_document_from_user(
        self,
        user_id: int,
        file_name: str,
        data: bytes,
        *,
        mime_type: str | None = None,
        caption: str | None = None,
    ) -> int:
        """The user sends a document; the bytes are downloadable through getFile."""
        mime = mime_type or mimetypes.guess_type(file_name)[0] or "application/octet-stream"
        stored = self._store_file(data, file_name=file_name, mime_type=mime, folder="documents")
        document = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_name": file_name,
            "mime_type": mime,
            "file_size": stored.file_size,
        }
        fields: dict[str, Any] = {"document": document}
        if caption is not None:
            fields["caption"] = caption
        return self._enqueue("message", self._user_message(user_id, fields))

    async def press_button(self, user_id: int, message_id: int, callback_data: str) -> int:
        """The user presses the inline button carrying ``callback_data``.

        Raises ValueError if the bot's message ``message_id`` in the user's chat does
        not (currently) show an inline button with that callback_data.
        """
        sent = self._bot_message(user_id, message_id)
        inline = sent.message_json.get("reply_markup", {}).get("inline_keyboard", [])
        available = [button.get("callback_data") for row in inline for button in row]
        if callback_data not in available:
            raise ValueError(
                f"message {message_id} in chat {user_id} has no inline button with "
                f"callback_data={callback_data!r}; it shows {sent.buttons!r}"
            )
        return await self.forge_callback(user_id, message_id, callback_data)

    async def forge_callback(self, user_id: int, message_id: int, callback_data: str) -> int:
        """A modified client sends ``callback_data`` the message never offered (Telegram lets
        any client do that), to test that the bot trusts nothing in callback data."""
        sent = self._bot_message(user_id, message_id)
        state = self._ensure_user(user_id)
        query_id = str(next(self._callback_ids))
        self._callback_queries[query_id] = {"user_id": user_id, "message_id": message_id}
        payload = {
            "id": query_id,
            "from": copy.deepcopy(state.user),
            "message": copy.deepcopy(sent.message_json),
            "chat_instance": str((user_id * 2_654_435_761) % 10**18),
            "data": callback_data,
        }
        return self._enqueue("callback_query", payload)

    async def press_button_by_text(self, user_id: int, message_id: int, text_substring: str) -> int:
        """Press the inline callback button whose label contains ``text_substring``.

        An exact label match wins; otherwise exactly one label must contain the
        substring, else ValueError.
        """
        sent = self._bot_message(user_id, message_id)
        candidates = [(text, data) for text, data in sent.buttons if data is not None]
        exact = [pair for pair in candidates if pair[0] == text_substring]
        matches = exact or [pair for pair in candidates if text_substring in pair[0]]
        if len(matches) != 1:
            problem = "no" if not matches else "more than one"
            raise ValueError(
                f"{problem} inline button label in message {message_id} of chat {user_id} "
                f"contains {text_substring!r}; it shows {sent.buttons!r}"
            )
        data = matches[0][1]
        assert data is not None
        return await self.press_button(user_id, message_id, data)

    def _bot_message(self, chat_id: int, message_id: int) -> SentMessage:
        chat = self._chats.get(chat_id)
        sent = chat.by_id.get(message_id) if chat is not None else None
        if sent is None or sent.deleted:
            raise ValueError(f"the bot has no (undeleted) message {message_id} in chat {chat_id}")
        return sent

    def redeliver(self, update_id: int) -> int:
        """Enqueue an identical copy (same update_id) of an update issued earlier."""
        update = self._issued.get(update_id)
        if update is None:
            raise KeyError(f"update {update_id} was never issued")
        self._pending.append(_PendingUpdate(update=copy.deepcopy(update), redelivery=True))
        self._updates_signal.notify()
        self._activity_signal.notify()
        return update_id

    def issued_update(self, update_id: int) -> dict[str, Any]:
        """A copy of an update issued earlier."""
        return copy.deepcopy(self._issued[update_id])

    def callback_answer(self, update_id: int) -> dict[str, Any] | None:
        """How the bot answered the button press of update ``update_id`` (the query id, the
        text shown and whether as an alert), or None while it has not: the user's spinner
        still turns."""
        query_id = self._issued[update_id]["callback_query"]["id"]
        for answer in self.answered_callbacks:
            if answer["callback_query_id"] == query_id:
                return dict(answer)
        return None

    def block_bot(self, user_id: int) -> None:
        """The user blocks the bot: sending to them now fails with 403."""
        self._ensure_user(user_id).blocked = True

    def unblock_bot(self, user_id: int) -> None:
        self._ensure_user(user_id).blocked = False

    @property
    def pending_update_count(self) -> int:
        """Updates enqueued but not yet confirmed by a getUpdates offset."""
        return len(self._pending)

    # ------------------------------------------------------------------ driver: inspection

    @property
    def commands(self) -> list[dict[str, Any]]:
        """Commands set by setMyCommands for the default scope and no language."""
        return self.commands_for()

    def commands_for(
        self, scope: dict[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, Any]]:
        params: Params = {"scope": scope, "language_code": language_code}
        return copy.deepcopy(self._my_commands.get(self._commands_key(params), []))

    def calls_to(self, method: str) -> list[Params]:
        """Params of every call of ``method`` (case-insensitive), in order."""
        wanted = method.lower()
        return [params for name, params in self.calls if name.lower() == wanted]

    def messages(
        self, chat_id: int, *, include_deleted: bool = True, since: int = 0
    ) -> list[SentMessage]:
        """Snapshots of what the bot sent to ``chat_id``, in order, edits applied, from index
        ``since`` on (only those are copied).

        Deleted messages stay in the list (``deleted=True``) by default so that
        indices agree with :meth:`message_count`.
        """
        chat = self._chats.get(chat_id)
        if chat is None:
            return []
        return [
            copy.deepcopy(sent) for sent in chat.sent[since:] if include_deleted or not sent.deleted
        ]

    def last_message(self, chat_id: int) -> SentMessage | None:
        """The newest not-deleted message the bot sent to ``chat_id``."""
        chat = self._chats.get(chat_id)
        if chat is None:
            return None
        for sent in reversed(chat.sent):
            if not sent.deleted:
                return copy.deepcopy(sent)
        return None

    def message_count(self, chat_id: int) -> int:
        """Number of messages the bot has sent to ``chat_id`` (use as ``since=``)."""
        chat = self._chats.get(chat_id)
        return len(chat.sent) if chat is not None else 0

    def dump_chat(self, chat_id: int) -> str:
        chat = self._chats.get(chat_id)
        if chat is None or not chat.sent:
            return f"chat {chat_id}: <no messages from the bot>"
        lines = [f"chat {chat_id}:"]
        lines += [f"  [{index}] {sent.describe()}" for index, sent in enumerate(chat.sent)]
        return "\n".join(lines)

    async def wait_for_message(
        self,
        chat_id: int,
        *,
        predicate: Callable[[SentMessage], bool] | None = None,
        timeout: float = 10.0,
        since: int = 0,
    ) -> SentMessage:
        """Wait for a bot message in ``chat_id`` satisfying ``predicate``.

        Candidates are the (not deleted) messages with index >= ``since`` plus any
        message edited after this call started.  Raises TimeoutError with a dump of
        the chat on timeout.
        """
        start_seq = self._change_seq
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            chat = self._chats.get(chat_id)
            for index, sent in enumerate(chat.sent if chat is not None else ()):
                if sent.deleted or (index < since and sent.edit_seq <= start_seq):
                    continue
                if predicate is None or predicate(sent):
                    return copy.deepcopy(sent)
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(
                    f"no matching bot message in chat {chat_id} within {timeout}s "
                    f"(since={since})\n{self.dump_chat(chat_id)}"
                )
            await self._messages_signal.wait(remaining)

    async def wait_for_message_count(
        self, chat_id: int, count: int, timeout: float = 10.0, *, since: int = 0
    ) -> None:
        """Wait until at least ``count`` messages with index >= ``since`` exist (no copies:
        for load generators that only need to know the replies arrived)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.message_count(chat_id) - since < count:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(
                    f"expected {count} bot messages in chat {chat_id} (since={since}) within "
                    f"{timeout}s\n{self.dump_chat(chat_id)}"
                )
            await self._messages_signal.wait(remaining)

    async def wait_for_messages(
        self, chat_id: int, count: int, timeout: float = 10.0, *, since: int = 0
    ) -> list[SentMessage]:
        """Wait until at least ``count`` messages with index >= ``since`` exist; return them."""
        await self.wait_for_message_count(chat_id, count, timeout, since=since)
        return self.messages(chat_id, since=since)

    async def wait_until_idle(self, timeout: float = 10.0) -> None:
        """Return once every enqueued update was confirmed and the bot has been quiet.

        "Quiet" means no Bot API call (getUpdates excluded) is in flight and for the
        last ~0.2 s none arrived and no update was delivered or confirmed.  This is a
        heuristic: a handler that computes for longer than that before its first Bot
        API call is not waited for (pair it with :meth:`wait_for_message`).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            quiet_for = time.monotonic() - self._last_activity
            if not self._pending and self._inflight == 0 and quiet_for >= IDLE_QUIET_SECONDS:
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(
                    f"bot not idle after {timeout}s: {len(self._pending)} unconfirmed updates, "
                    f"{self._inflight} calls in flight"
                )
            if not self._pending and self._inflight == 0:
                step = IDLE_QUIET_SECONDS - quiet_for
            else:
                step = remaining
            await self._activity_signal.wait(min(step, remaining))


# --------------------------------------------------------------------------- JSON helpers


def _set_text_fields(
    message: dict[str, Any], kind: str, text: str, entities: list[dict[str, Any]]
) -> None:
    if kind == "text":
        text_key, entities_key = "text", "entities"
    else:
        text_key, entities_key = "caption", "caption_entities"
    message.pop(text_key, None)
    message.pop(entities_key, None)
    if text or kind == "text":
        message[text_key] = text
    if entities:
        message[entities_key] = copy.deepcopy(entities)


def _validate_inline_button(button: Any) -> None:
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise _bad_request("can't parse inline keyboard button: InlineKeyboardButton")
    if not any(key in button for key in _INLINE_BUTTON_ACTIONS):
        raise _bad_request("text buttons are unallowed in the inline keyboard")
    if "callback_data" in button:
        data = button["callback_data"]
        size = len(data.encode("utf-8")) if isinstance(data, str) else 0
        if not 1 <= size <= MAX_CALLBACK_DATA_BYTES:
            raise ApiError(400, ERR_BUTTON_DATA)


def _buttons(markup: dict[str, Any] | None) -> list[tuple[str, str | None]]:
    if not markup:
        return []
    if "inline_keyboard" in markup:
        return [
            (str(button.get("text", "")), button.get("callback_data"))
            for row in markup["inline_keyboard"]
            for button in row
        ]
    rows: Iterable[Iterable[Any]] = markup.get("keyboard", [])
    return [
        (button if isinstance(button, str) else str(button.get("text", "")), None)
        for row in rows
        for button in row
    ]


def _image_size(data: bytes) -> tuple[int, int]:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    return 320, 320


def _photo_sizes(stored: StoredFile) -> list[dict[str, Any]]:
    width, height = _image_size(stored.data)
    return [
        {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.file_size,
            "width": width,
            "height": height,
        }
    ]
