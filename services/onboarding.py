"""Invites: how a Telegram user becomes a unit's reporter or an office's coordinator.

The code in the deep link is random and single use; only its SHA-256 is stored, so a copy of the
database does not hand out working invites.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlmodel import Session, col, func, select

from models.crud import get_contact
from models.tables import Contact, ConversationState, Invite, InviteAttempt, Office, Role, Unit

CODE_BYTES = 18  # 24 url-safe characters; Telegram allows up to 64 in a start payload
MAX_FAILED_INVITES = 5  # per user within INVITE_WINDOW
INVITE_WINDOW = timedelta(hours=1)


class InviteRefusal(StrEnum):
    UNKNOWN = "unknown"
    USED = "used"
    EXPIRED = "expired"
    INACTIVE = "inactive"
    TOO_MANY = "too_many"  # too many failed attempts from this user: try again later


class InviteRefused(Exception):
    def __init__(self, reason: InviteRefusal) -> None:
        super().__init__(reason.value)
        self.reason = reason


@dataclass(frozen=True)
class Binding:
    """Who the user now is, for the greeting."""

    contact_id: int
    role: Role
    office_name: str
    unit_name: str | None
    language: str


def hash_code(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


def create_invite(
    session: Session,
    *,
    role: Role,
    office: Office,
    unit: Unit | None,
    now: datetime,
    ttl: timedelta,
) -> tuple[Invite, str]:
    """Create an invite and return it with its plain code (shown once, never stored)."""
    if role is Role.REPORTER and unit is None:
        raise ValueError("a reporter invite needs a unit")
    if unit is not None and unit.office_id != office.id:
        raise ValueError("the unit does not belong to the office")
    code = secrets.token_urlsafe(CODE_BYTES)
    assert office.id is not None
    invite = Invite(
        code_hash=hash_code(code),
        role=role,
        office_id=office.id,
        unit_id=unit.id if unit else None,
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(invite)
    session.flush()
    return invite, code


def redeem_invite(
    session: Session,
    *,
    code: str,
    telegram_user_id: int,
    chat_id: int,
    display_name: str,
    language: str,
    now: datetime,
) -> Binding:
    """Bind the user to the invite's unit or office, or raise :class:`InviteRefused`.

    Failed attempts are recorded; after ``MAX_FAILED_INVITES`` within ``INVITE_WINDOW`` a user
    is refused without the code being looked at, so codes cannot be guessed by trying.
    """
    failures = session.exec(
        select(func.count())
        .select_from(InviteAttempt)
        .where(
            InviteAttempt.telegram_user_id == telegram_user_id,
            col(InviteAttempt.at) > now - INVITE_WINDOW,
        )
    ).one()
    if failures >= MAX_FAILED_INVITES:
        raise InviteRefused(InviteRefusal.TOO_MANY)
    try:
        return _redeem(
            session,
            code=code,
            telegram_user_id=telegram_user_id,
            chat_id=chat_id,
            display_name=display_name,
            language=language,
            now=now,
        )
    except InviteRefused as refused:
        session.add(InviteAttempt(telegram_user_id=telegram_user_id, reason=refused.reason, at=now))
        raise


def _redeem(
    session: Session,
    *,
    code: str,
    telegram_user_id: int,
    chat_id: int,
    display_name: str,
    language: str,
    now: datetime,
) -> Binding:
    invite = session.exec(
        select(Invite).where(Invite.code_hash == hash_code(code)).with_for_update()
    ).first()
    if invite is None:
        raise InviteRefused(InviteRefusal.UNKNOWN)
    if invite.used_at is not None:
        raise InviteRefused(InviteRefusal.USED)
    if invite.expires_at <= now:
        raise InviteRefused(InviteRefusal.EXPIRED)
    office = session.get(Office, invite.office_id)
    unit = session.get(Unit, invite.unit_id) if invite.unit_id else None
    if office is None or not office.active or (unit is not None and not unit.active):
        raise InviteRefused(InviteRefusal.INACTIVE)

    contact = get_contact(session, telegram_user_id=telegram_user_id)
    if contact is not None:
        # A draft belongs to the old binding; it must not be submitted for the new unit.
        state = session.get(ConversationState, contact.id)
        if state is not None:
            session.delete(state)
    if contact is None:
        contact = Contact(
            telegram_user_id=telegram_user_id,
            chat_id=chat_id,
            display_name=display_name,
            office_id=office.id or 0,
            language=language,
        )
    contact.chat_id = chat_id
    contact.display_name = display_name
    contact.role = invite.role
    contact.office_id = office.id or 0
    contact.unit_id = unit.id if unit else None
    contact.active = True
    contact.inactive_reason = None
    contact.last_seen_at = now
    session.add(contact)
    session.flush()
    invite.used_at = now
    invite.used_by_telegram_user_id = telegram_user_id
    contact.invite_id = invite.id
    session.add(invite)
    session.flush()
    assert contact.id is not None
    return Binding(
        contact_id=contact.id,
        role=Role(contact.role),
        office_name=office.name,
        unit_name=unit.name if unit else None,
        language=contact.language,
    )


SEEN_RESOLUTION = timedelta(minutes=1)


def needs_recording(contact: Contact | None, now: datetime) -> bool:
    """Whether :func:`recognise` would change the contact (so needs a write transaction)."""
    if contact is None:
        return False
    if not contact.active:
        return contact.inactive_reason == "blocked"
    return contact.last_seen_at is None or now - contact.last_seen_at >= SEEN_RESOLUTION


def recognise(session: Session, *, telegram_user_id: int, now: datetime) -> Contact | None:
    """The active contact behind an incoming update, noting when they were last seen.

    A contact deactivated because they blocked the bot is active again once they write: writing
    to the bot means they unblocked it.
    """
    contact = get_contact(session, telegram_user_id=telegram_user_id)
    if contact is None:
        return None
    if not contact.active and contact.inactive_reason == "blocked":
        contact.active = True
        contact.inactive_reason = None
    if not contact.active:
        return None
    if contact.last_seen_at is None or now - contact.last_seen_at >= SEEN_RESOLUTION:
        contact.last_seen_at = now
        session.add(contact)
    return contact
