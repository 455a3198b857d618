"""Reading, giving and withdrawing consents; staff reads of the ledger and the audit log.

Withdrawing is one call and as easy as giving. A withdrawal's entry id is derived from the entry it
withdraws, so two concurrent withdrawals write one entry and the second call replays the first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.domain.audit import AuditAction, AuditEntry
from chalicelib.domain.consent import (
    ConsentAction,
    ConsentEntry,
    ConsentPurpose,
    ConsentState,
    fold_consents,
    in_force,
    withdrawal_of,
)
from chalicelib.domain.identity import Principal, RequestContext
from chalicelib.errors import ConcurrencyConflict, Conflict, NotFound
from chalicelib.services.accounts import AccountPorts, ensure_staff, processing_consent, record_consent
from chalicelib.services.audit import Read, record_staff_reads
from chalicelib.services.notices import accepted_current_notice
from chalicelib.services.ports import AuditLog, Changes, ConsentLedger

# Withdraws the candidacy a disclosure consent was given for, with the consent, in one transaction;
# False when there is no such candidacy to withdraw (see services.candidacies).
DisclosureWithdrawal = Callable[[ConsentEntry, Principal, RequestContext], bool]


@dataclass(frozen=True)
class ConsentPorts:
    accounts: AccountPorts
    ledger: ConsentLedger
    audit: AuditLog
    withdraw_disclosure: DisclosureWithdrawal | None = None


@dataclass(frozen=True)
class ConsentOverview:
    subject_id: str
    states: list[ConsentState]
    entries: list[ConsentEntry]


def _overview(ledger: ConsentLedger, subject_id: str) -> ConsentOverview:
    entries = sorted(ledger.list_for_subject(subject_id), key=lambda e: (e.at, e.entry_id))
    return ConsentOverview(subject_id, fold_consents(entries), entries)


def my_consents(ports: ConsentPorts, principal: Principal) -> ConsentOverview:
    return _overview(ports.ledger, principal.user_id)


def give_processing_consent(ports: ConsentPorts, principal: Principal, version: str, accepted: bool, ctx: RequestContext) -> ConsentState:
    notice = accepted_current_notice(version, accepted)
    current = in_force(ports.ledger.list_for_subject(principal.user_id), ConsentPurpose.PLATFORM_PROCESSING, notice_version=notice.version)
    if current:
        return current[0]  # already in force for this notice: giving it again changes nothing
    entry = processing_consent(principal.user_id, notice, ports.accounts.now(), ctx)
    ports.accounts.uow.commit(record_consent(Changes(), entry))
    return ConsentState(entry, None)


def withdraw_consent(ports: ConsentPorts, principal: Principal, entry_id: str, ctx: RequestContext) -> ConsentState:
    entries = ports.ledger.list_for_subject(principal.user_id)
    given = next((e for e in entries if e.entry_id == entry_id and e.action is ConsentAction.GIVEN), None)
    if given is None:
        raise NotFound("Consent not found.")
    existing = next((s for s in fold_consents(entries) if s.given.entry_id == entry_id), None)
    if existing is not None and existing.withdrawal is not None:
        return existing
    if (
        given.purpose is ConsentPurpose.PROFILE_DISCLOSURE
        and ports.withdraw_disclosure
        and ports.withdraw_disclosure(given, principal, ctx)
    ):
        withdrawn = next(s for s in fold_consents(ports.ledger.list_for_subject(principal.user_id)) if s.given.entry_id == entry_id)
        return withdrawn
    withdrawal = withdrawal_of(given, actor_id=principal.user_id, at=ports.accounts.now(), ip=ctx.ip, user_agent=ctx.user_agent)
    try:
        ports.accounts.uow.commit(record_consent(Changes(), withdrawal))
    except ConcurrencyConflict:
        replay = next((s for s in fold_consents(ports.ledger.list_for_subject(principal.user_id)) if s.given.entry_id == entry_id), None)
        if replay is None or replay.withdrawal is None:
            raise Conflict("The consent changed concurrently; try again.") from None
        return replay
    return ConsentState(given, withdrawal)


def _staff_read(ports: ConsentPorts, principal: Principal, subject_id: str, action: AuditAction) -> None:
    """Staff may read anyone's records, and every such read is itself audited."""
    ensure_staff(principal)
    repository = ports.accounts.accounts
    # Subjects are people and organisations, and consent documents of people not yet registered.
    if not (repository.get_user(subject_id) or repository.get_organisation(subject_id) or repository.get_consent_document(subject_id)):
        raise NotFound("Subject not found.")
    record_staff_reads(ports.accounts.uow, principal, ports.accounts.now(), action, [Read(subject_id, "subject", subject_id)])


def subject_consents(ports: ConsentPorts, principal: Principal, subject_id: str) -> ConsentOverview:
    _staff_read(ports, principal, subject_id, AuditAction.CONSENTS_READ)
    return _overview(ports.ledger, subject_id)


def subject_audit_log(ports: ConsentPorts, principal: Principal, subject_id: str) -> list[AuditEntry]:
    _staff_read(ports, principal, subject_id, AuditAction.AUDIT_READ)
    return ports.audit.list_for_subject(subject_id)
