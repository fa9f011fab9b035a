"""Logging that never leaks the bot token.

httpx logs every request URL at INFO, and Bot API URLs contain the token, so it is kept at
WARNING; a filter also replaces the token in any record that still mentions it.
"""

from __future__ import annotations

import logging

_QUIET = ("httpx", "httpcore", "apscheduler.executors.default", "aiohttp.access")


class RedactToken(logging.Filter):
    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secret and self.secret in record.getMessage():
            record.msg = record.getMessage().replace(self.secret, "<token>")
            record.args = None
        return True


def quiet_http_loggers() -> None:
    """Keep the HTTP client's request logs (URLs with the token) out of any log."""
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)


def configure_logging(level: str, *, secret: str = "") -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    quiet_http_loggers()
    redact = RedactToken(secret)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redact)
