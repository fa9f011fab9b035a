"""Logging that never shows a secret or an invite code.

Every handler figbot installs formats with :class:`RedactingFormatter`: the record is formatted
whole first — message and arguments, the exception with its chained causes and contexts, the
stack — and the finished text is redacted. A filter on the message alone misses what the
traceback prints: aiohttp puts the request URL, which holds the bot token, into the text of
the exception a Bot API error is chained from. The formatter also caches the redacted
exception text on the record, so another handler that reuses it sees no secret either.

What is hidden: the secrets of the config (the bot token, the webhook secret, the proxy's and
the database's credentials) as written and as percent-encoded in a URL, anything shaped like
a bot token, credentials in any URL, and the payload of a ``/start`` deep link — an invite
code, which python-telegram-bot prints at DEBUG with every update it receives.

Python's logging has nothing of the kind built in, and the secrets are figbot's own, so this
is a formatter of its own rather than a library.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import quote

_QUIET = ("httpx", "httpcore", "apscheduler.executors.default", "aiohttp.access")
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

TOKEN_MARK = "<token>"
SECRET_MARK = "<secret>"
INVITE_MARK = "<invite code>"

# A bot token (digits, a colon, 35 characters), whichever bot's it is: also where a URL glues
# it to "bot" (…/bot123456:AAH…/getMe), so no word boundary is asked for before it.
BOT_TOKEN = re.compile(r"(?<![0-9])\d{3,}:[A-Za-z0-9_-]{20,}")
# user:password@ in any URL (a proxy's, a database's).
_URL_CREDENTIALS = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://)[^\s/@:'\"<>]*:[^\s/@'\"<>]*@")
# The payload of /start as a user sends it, in a message, a repr or JSON; and in a t.me link.
_START_PAYLOAD = re.compile(r"(/start(?:@\w+)?[ \t]+)[^\s'\"\\<>]+")
_START_LINK = re.compile(r"([?&]start(?:group|app)?=)[^\s&#'\"\\<>]+")


class Redactor:
    """Replaces the given secrets (and every bot token, URL credential and invite code)."""

    def __init__(self, *, token: str = "", secrets: Iterable[str] = ()) -> None:
        marks: dict[str, str] = {}
        for secret, mark in [*((s, SECRET_MARK) for s in secrets), (token, TOKEN_MARK)]:
            if not secret:
                continue
            for form in (secret, quote(secret, safe=""), quote(secret)):
                marks[form] = mark
        # Longest first: a secret that contains another is replaced whole.
        self._marks = sorted(marks.items(), key=lambda item: len(item[0]), reverse=True)

    def __call__(self, text: str) -> str:
        for secret, mark in self._marks:
            if secret in text:
                text = text.replace(secret, mark)
        text = BOT_TOKEN.sub(TOKEN_MARK, text)
        text = _URL_CREDENTIALS.sub(rf"\1{SECRET_MARK}@", text)
        text = _START_PAYLOAD.sub(rf"\1{INVITE_MARK}", text)
        return _START_LINK.sub(rf"\1{INVITE_MARK}", text)


class RedactingFormatter(logging.Formatter):
    def __init__(self, redact: Redactor, fmt: str = FORMAT) -> None:
        super().__init__(fmt)
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))

    def formatException(self, ei: logging._SysExcInfoType) -> str:
        return self.redact(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return self.redact(super().formatStack(stack_info))


def quiet_http_loggers() -> None:
    """Keep the HTTP client's request logs (URLs with the token) out of any log."""
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)


def configure_logging(level: str, *, token: str = "", secrets: Iterable[str] = ()) -> None:
    """One handler on stderr for the whole process, every line redacted."""
    logging.basicConfig(level=level, format=FORMAT, force=True)
    quiet_http_loggers()
    formatter = RedactingFormatter(Redactor(token=token, secrets=secrets))
    for handler in logging.getLogger().handlers:
        handler.setFormatter(formatter)
