"""The per-application resources handlers and jobs share: config, engine, clock.

Built in ``post_init`` and disposed in ``post_shutdown``; never at import time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session
from telegram import Update

from bot.config import FigbotConfig
from bot.ordering import lane_of
from domain.flood import FloodLimit
from models.crud import (
    KEPT_REPLIES,
    mark_replies_sent,
    mark_update_processed,
    retire_stale_replies,
)
from models.db import (
    hold_lock,
    read_session,
    single_read_session,
    single_statement,
    write_session,
)
from models.types import utcnow

logger = logging.getLogger(__name__)

RUNTIME_KEY = "figbot.runtime"
SCHEDULER_KEY = "figbot.scheduler"
# Replies kept in memory between commit and sending; the database has them in any case.
MAX_REMEMBERED_REPLIES = 1000


@dataclass
class Runtime:
    config: FigbotConfig
    engine: Engine
    clock: Callable[[], datetime] = field(default=utcnow)
    flood: FloodLimit = field(init=False)
    _committed_replies: dict[int, list[dict[str, Any]]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.flood = FloodLimit(
            limit=self.config.bot.flood_messages,
            window=timedelta(seconds=self.config.bot.flood_seconds),
            started=self.now(),  # built just before the first update is taken
        )

    def now(self) -> datetime:
        return self.clock()

    def reading(self) -> AbstractContextManager[Session]:
        return read_session(self.engine)

    def reading_once(self) -> AbstractContextManager[Session]:
        """For a single read statement (see ``models.db.single_read_session``)."""
        return single_read_session(self.engine)

    @contextmanager
    def update_transaction(self, update: Update) -> Iterator[Session | None]:
        """One write transaction for one Telegram update, marking it processed in the same commit.

        The user's lock comes first: webhook replicas may be handed two updates of one user at
        once, and the second must see what the first committed.

        Yields None when the update was already processed (a re-delivery): the caller changes
        nothing, and only sends the replies kept with it if a crash stopped them
        (``handlers.common.keep_replies`` / ``send_kept``).
        """
        update_id = update.update_id
        user_id = lane_of(update)
        with write_session(self.engine) as session:
            hold_lock(session, f"user:{user_id}")
            marked = mark_update_processed(
                session, update_id=update_id, user_id=user_id, now=self.now()
            )
            if not marked:
                if retire_stale_replies(session, update_id=update_id, now=self.now()):
                    logger.info(
                        "update %s came again after later ones; not repeating its replies",
                        update_id,
                    )
                else:
                    logger.info("update %s already processed; ignoring the repeat", update_id)
                yield None
                return
            yield session
            kept = session.info.pop(KEPT_REPLIES, None)
        # Committed: the replies may go out (handlers.common.send_kept takes them from here).
        if kept is not None and kept[0] == update_id:
            self._committed_replies[update_id] = kept[1]
            if len(self._committed_replies) > MAX_REMEMBERED_REPLIES:  # never taken: a bug
                del self._committed_replies[next(iter(self._committed_replies))]

    def take_committed_replies(self, update_id: int) -> list[dict[str, Any]] | None:
        """The replies this process just committed for ``update_id``, once."""
        return self._committed_replies.pop(update_id, None)

    def note_replies_sent(self, update_id: int) -> None:
        """After every answer's replies went out: one statement on its own, no transaction."""
        with single_statement(self.engine) as connection:
            mark_replies_sent(connection, update_id=update_id, now=self.now())
