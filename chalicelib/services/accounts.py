"""What registration, invitations, organisations and consents share: the ports and small helpers."""

from __future__ import annotations

import hashlib
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from chalicelib.domain.accounts import Language, User
from chalicelib.domain.audit import AuditAction, AuditEntry
from chalicelib.domain.consent import ConsentAction, ConsentChanged, ConsentEntry, ConsentPurpose, ConsentSource
from chalicelib.domain.identity import Principal, RequestContext
from chalicelib.domain.ids import new_id
from chalicelib.errors import ConcurrencyConflict, Conflict, Forbidden
from chalicelib.services.notices import Notice
from chalicelib.services.ports import AccountRepository, Changes, Clock, IdentityGateway, UnitOfWork


@dataclass(frozen=True)
class AccountPorts:
    accounts: AccountRepository
    uow: UnitOfWork
    identity: IdentityGateway
    now: Clock
    web_base_url: str = "http://localhost:3000"  # e-mailed links point here
    invitation_ttl: timedelta = timedelta(days=14)
    verification_ttl: timedelta = timedelta(days=7)


def normalise_email(email: str) -> str:
    return email.strip().lower()


def normalise_org_number(country: str, number: str) -> str:
    return f"{country}:{''.join(ch for ch in number.upper() if ch.isalnum())}"


def hash_code(code: str) -> str:
    """Invitation and verification codes are stored only as their SHA-256."""
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


def processing_consent(subject_id: str, notice: Notice, at: datetime, ctx: RequestContext) -> ConsentEntry:
    return ConsentEntry(
        subject_id=subject_id,
        entry_id=new_id(),
        action=ConsentAction.GIVEN,
        purpose=ConsentPurpose.PLATFORM_PROCESSING,
        at=at,
        source=ConsentSource.FORM,
        actor_id=subject_id,
        notice_version=notice.version,
        notice_sha256=notice.sha256,
        ip=ctx.ip,
        user_agent=ctx.user_agent,
    )


def record_consent(changes: Changes, entry: ConsentEntry, *, index_follows: bool = True) -> Changes:
    """A consent entry as every one is written: with its audit entry, and with the marker the main table's
    stream reacts to (the ledger has no stream of its own), so the search index follows the consent.
    Consents the index does not depend on (a disclosure's) need no marker."""
    changes.insert(entry).insert(consent_audit(entry))
    if index_follows:
        changes.insert(ConsentChanged(user_id=entry.subject_id, entry_id=entry.entry_id, at=entry.at))
    return changes


def consent_audit(entry: ConsentEntry) -> AuditEntry:
    action = AuditAction.CONSENT_GIVEN if entry.action is ConsentAction.GIVEN else AuditAction.CONSENT_WITHDRAWN
    return AuditEntry(
        subject_id=entry.subject_id,
        entry_id=new_id(),
        at=entry.at,
        actor_id=entry.actor_id,
        action=action,
        object_type="consent",
        object_id=entry.entry_id,
        details={"purpose": entry.purpose.value},
    )


def ensure_staff(principal: Principal) -> None:
    if not principal.is_staff:
        raise Forbidden("Only staff may do this.")


ACTIVITY_RESOLUTION = timedelta(days=1)  # one write a day at most per person


def note_activity(ports: AccountPorts, user: User) -> None:
    """Records that the person used the platform (the retention job counts inactivity from it)."""
    now = ports.now()
    if user.last_active_at is not None and now - user.last_active_at < ACTIVITY_RESOLUTION:
        return
    with suppress(ConcurrencyConflict):  # the user changed meanwhile; the next request records it
        ports.uow.commit(Changes().transition(replace(user, last_active_at=now), user.status.value, was=user))


def update_my_account(ports: AccountPorts, principal: Principal, *, language: Language | None = None, name: str | None = None) -> User:
    """The caller's own settings: only what is given changes. Conditional on the account as read, so a
    concurrent change (a disabling, a move to another agency) is not overwritten with the old copy."""
    user = ports.accounts.get_user(principal.user_id)
    assert user is not None  # the caller was authenticated from this record
    updated = replace(user, language=language or user.language, name=name or user.name)
    if updated == user:
        return user
    try:
        ports.uow.commit(Changes().transition(updated, user.status.value, was=user))
    except ConcurrencyConflict as exc:
        raise Conflict("Your account changed meanwhile; try again.") from exc
    return updated
