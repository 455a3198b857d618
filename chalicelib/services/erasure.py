"""Erasure (GDPR Art. 17): a consultant is forgotten.

``request_*`` stores the request and disables the account at once (one transaction); the main table's
stream then runs ``run_erasure``, and a scheduled job re-runs any request still pending (a crash, a
throttled call). Every step is idempotent and the request is removed last, so a run may stop anywhere
and the next one finishes the work.

What goes: the Cognito user; everything in the person's partition (account, profile, resume, files'
records, export archives, disclosures, the Consultant Agent, their rating); their candidacies and
interviews; the reviews they wrote and received after their engagements; every
S3 version (and unfinished upload) of their files, exports and consent documents, and those documents'
records; the invitations addressed to them; the e-mail claim; their
one-person agencies (current or closed) with their claims. What stays, pseudonymised:
the consent ledger and the audit entries about them, filed under a random pseudonym with the network
evidence (IP, user agent) removed, so that what was consented to and disclosed remains provable
without saying who. Contracts and invoices (later issues) are kept the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass, replace

from chalicelib.domain.accounts import ConsentDocumentStatus, User, UserStatus
from chalicelib.domain.audit import AuditAction, AuditEntry
from chalicelib.domain.consent import ConsentEntry
from chalicelib.domain.erasure import Erasure, ErasureReason, pseudonymised_audit, pseudonymised_consent
from chalicelib.domain.evaluations import Escalation, EvaluationRound
from chalicelib.domain.identity import Principal, Role
from chalicelib.domain.ids import iso, new_id
from chalicelib.errors import ConcurrencyConflict, Conflict, FieldIssue, InvalidInput, NotFound, Unauthenticated
from chalicelib.logging import logger
from chalicelib.services.accounts import AccountPorts, ensure_staff, normalise_org_number
from chalicelib.services.ports import (
    AppendOnlyEraser,
    AuditLog,
    Changes,
    ConsentLedger,
    Deletable,
    DocumentStorage,
    ErasureRepository,
    UniqueClaim,
)

SYSTEM_ACTOR = "system"  # the retention job
# Consent documents in these states have neither an invitation nor a ledger entry pointing at them.
_UNREFERENCED_DOCUMENT_STATES = (
    ConsentDocumentStatus.AWAITING_UPLOAD,
    ConsentDocumentStatus.UPLOAD_REJECTED,
    ConsentDocumentStatus.UPLOADED,
    ConsentDocumentStatus.REJECTED,
)


@dataclass(frozen=True)
class ErasurePorts:
    accounts: AccountPorts
    erasures: ErasureRepository
    ledger: ConsentLedger
    audit_log: AuditLog
    append_only: AppendOnlyEraser
    storage: DocumentStorage
    # Withdraws the person's open candidacies as they could have themselves (the client is told, interviews
    # are cancelled in everyone's calendar, consents are withdrawn) before their records go.
    withdraw_candidacies: Callable[[str], int] | None = None
    # Deletes the reviews the person wrote and received after their engagements (their texts and ratings).
    erase_reviews: Callable[[str], int] | None = None


def request_my_erasure(ports: ErasurePorts, principal: Principal, password: str) -> Erasure:
    """The consultant's own request, confirmed with the password: the step cannot be undone."""
    user = ports.accounts.accounts.get_user(principal.user_id)
    assert user is not None  # the caller was authenticated from this record
    try:
        ports.accounts.identity.login(user.email, password)
    except Unauthenticated:
        raise InvalidInput("The password is not right.", issues=[FieldIssue("password", "not your password")]) from None
    return _request(ports, _erasable(ports, user), ErasureReason.REQUESTED, principal.user_id)


def request_erasure_by_staff(ports: ErasurePorts, principal: Principal, user_id: str) -> Erasure:
    ensure_staff(principal)
    user = ports.accounts.accounts.get_user(user_id)
    if user is None:
        existing = ports.erasures.get_erasure(user_id)
        if existing is not None:
            return existing  # a replay while the erasure runs
        raise NotFound("User not found.")
    return _request(ports, _erasable(ports, user), ErasureReason.STAFF, principal.user_id)


def request_erasure_for_retention(ports: ErasurePorts, user: User) -> Erasure:
    return _request(ports, _erasable(ports, user), ErasureReason.RETENTION, SYSTEM_ACTOR)


def _erasable(ports: ErasurePorts, user: User) -> User:
    """Consultants only. An organisation's admins and client users stay until staff close the organisation:
    an agency or a client company is not left without anyone who can act for it."""
    if Role.CONSULTANT not in user.roles:
        raise Conflict("Only a consultant's account is erased this way; write to us to close an organisation's account.")
    if Role.AGENCY_ADMIN in user.roles:
        org = ports.accounts.accounts.get_organisation(user.org_id) if user.org_id else None
        if org is None or not org.independent:
            raise Conflict("You administer an agency: hand it over to another admin first.")
    return user


def _request(ports: ErasurePorts, user: User, reason: ErasureReason, requested_by: str) -> Erasure:
    existing = ports.erasures.get_erasure(user.user_id)
    if existing is not None:
        return existing
    now = ports.accounts.now()
    erasure = Erasure(
        user_id=user.user_id,
        email=user.email,
        org_ids=(*((user.org_id,) if user.org_id else ()), *user.former_org_ids),
        pseudonym=f"erased-{new_id()}",
        reason=reason,
        requested_at=now,
        requested_by=requested_by,
    )
    audit = AuditEntry(
        subject_id=user.user_id,
        entry_id=new_id(),
        at=now,
        actor_id=requested_by,
        action=AuditAction.ERASURE_REQUESTED,
        object_type="user",
        object_id=user.user_id,
        details={"reason": reason.value},
    )
    # Disabled in the same transaction: from now on no token of the person is accepted.
    # ``was``: a sign-in since the user was read (activity is filed in its index key) makes this fail.
    disabled = replace(user, status=UserStatus.DISABLED)
    changes = Changes().insert(erasure).transition(disabled, user.status.value, was=user).insert(audit)
    try:
        ports.accounts.uow.commit(changes)
    except ConcurrencyConflict as exc:
        existing = ports.erasures.get_erasure(user.user_id)
        if existing is not None:
            return existing  # a concurrent request won
        raise Conflict("The account changed meanwhile; try again.") from exc
    return erasure


def run_erasure(ports: ErasurePorts, user_id: str) -> bool:
    """Carries out a pending erasure; False when there is none (already done, or never requested)."""
    erasure = ports.erasures.get_erasure(user_id)
    if erasure is None:
        return False
    repository = ports.accounts.accounts
    ports.accounts.identity.delete_user(erasure.email)
    if ports.withdraw_candidacies is not None:
        ports.withdraw_candidacies(user_id)  # before the ledger is read: its withdrawals are pseudonymised too

    invitations = ports.erasures.list_invitations_for_email(erasure.email)
    consents = ports.ledger.list_for_subject(user_id)
    # The consent documents about the person: named by the ledger once confirmed, by the invitation once
    # verified, and otherwise (awaiting upload, refused, rejected) found by the address they name.
    document_ids = {e.document_id for e in consents if e.document_id}
    document_ids |= {i.consent_document_id for i in invitations if i.consent_document_id}
    documents = [d for d in (repository.get_consent_document(i) for i in sorted(document_ids)) if d is not None]
    documents += [
        d
        for status in _UNREFERENCED_DOCUMENT_STATES
        for d in repository.list_consent_documents_by_status(status)
        if d.consultant_email == erasure.email and d.document_id not in document_ids
    ]
    prefixes = (f"files/{user_id}/", f"exports/{user_id}/", *(d.object_key for d in documents if d.object_key))
    _erase_objects(ports, prefixes)

    # A one-person agency's consents (the agency's side of each disclosure) are the person's too.
    independent = [o for o in (repository.get_organisation(org_id) for org_id in erasure.org_ids) if o is not None and o.independent]
    for entry in [*consents, *(e for org in independent for e in ports.ledger.list_for_subject(org.org_id))]:
        _replace(ports.append_only, entry, pseudonymised_consent(entry, erasure))
    for audit in ports.audit_log.list_for_subject(user_id):
        _replace(ports.append_only, audit, pseudonymised_audit(audit, erasure))

    if ports.erase_reviews is not None:
        ports.erase_reviews(user_id)  # before their partition, where the rating derived from them is kept
    # Candidacies and their interviews go too: a proposal that named the person then shows the candidate as
    # withdrawn, and nothing of them reaches the client any more.
    candidacies = ports.erasures.list_consultant_candidacies(user_id)
    doomed: list[Deletable] = [
        *ports.erasures.list_person_items(user_id),
        *invitations,
        *documents,
        *(i for c in candidacies for i in ports.erasures.list_candidacy_interviews(c.candidacy_id)),
        *candidacies,
        *(UniqueClaim("candidacy", f"{c.assignment_id}:{user_id}", c.candidacy_id) for c in candidacies),
    ]
    # Their performance follow-up: evaluation rounds (ratings of them, their self-assessments, the agent's
    # notes), the reminders those sent, and escalations.
    follow_up = ports.erasures.list_evaluation_records(user_id)
    doomed += follow_up
    # Others' notifications about the person go with them: staff's, filed under them (their agent's, say),
    # under an escalation about them or under one of their engagements (the agent's look-ahead names them);
    # the client's users' and the agency's admins', under one of their engagements or evaluation rounds (they
    # name the consultant).
    engagements = ports.erasures.list_consultant_engagements(user_id)
    about = {user_id} | {r.escalation_id for r in follow_up if isinstance(r, Escalation)}
    about |= {r.evaluation_id for r in follow_up if isinstance(r, EvaluationRound)}
    about |= {e.engagement_id for e in engagements}
    parties = {(e.client_id, Role.CLIENT) for e in engagements} | {(e.agency_id, Role.AGENCY_ADMIN) for e in engagements}
    readers = [*repository.list_staff(), *(u for org, role in parties for u in repository.list_members(org) if role in u.roles)]
    doomed += [n for reader in readers for n in ports.erasures.list_notifications(reader.user_id) if n.object_id in about]
    for org in (repository.get_organisation(org_id) for org_id in erasure.org_ids):
        if org is not None and org.independent:  # a one-person agency is the person's; an agency is not
            doomed.append(org)
            number = normalise_org_number(org.country, org.organisation_number) if org.organisation_number else None
            # A closed agency's number was freed when it closed and may be someone else's now.
            if number is not None and repository.claim_owner("organisation_number", number) == org.org_id:
                doomed.append(UniqueClaim("organisation_number", number, org.org_id))
    _delete_all(ports, doomed)
    # Again: an export archive whose build read the person's files before their records went may have
    # written its zip after the first pass (its own commit then fails, and it removes the zip too).
    _erase_objects(ports, prefixes)

    completed = AuditEntry(
        subject_id=erasure.pseudonym,
        entry_id=new_id(),
        at=ports.accounts.now(),
        actor_id=erasure.pseudonym if erasure.requested_by == user_id else erasure.requested_by,
        action=AuditAction.ERASURE_COMPLETED,
        object_type="erasure",
        object_id=erasure.pseudonym,
        details={"reason": erasure.reason.value, "requested_at": iso(erasure.requested_at)},
    )
    finished = Changes().delete(erasure).insert(completed)
    # The address is freed last, with the request: until then nobody can register it, so a run resumed
    # after a crash cannot delete a newcomer's Cognito user or invitations.
    if repository.claim_owner("email", erasure.email) == user_id:
        finished.delete(UniqueClaim("email", erasure.email, user_id))
    try:
        ports.accounts.uow.commit(finished)
    except ConcurrencyConflict:
        return False  # a concurrent run finished first
    return True


def resume_pending_erasures(ports: ErasurePorts) -> int:
    """The scheduled safety net: finishes erasures a crash or a failing dependency left pending. One that
    fails again does not keep the others from finishing; it is tried again the next day."""
    finished = 0
    for pending in ports.erasures.list_pending_erasures():
        try:
            finished += run_erasure(ports, pending.user_id)
        except Exception:
            logger.exception("pending erasure failed again")
    return finished


def _erase_objects(ports: ErasurePorts, prefixes: Iterable[str]) -> None:
    for prefix in prefixes:
        ports.storage.erase(prefix)


def _replace(eraser: AppendOnlyEraser, original: ConsentEntry | AuditEntry, copy: ConsentEntry | AuditEntry) -> None:
    with suppress(ConcurrencyConflict):  # a concurrent run replaced it first
        eraser.replace(original, copy)


def _delete_all(ports: ErasurePorts, entities: Iterable[Deletable]) -> None:
    """Deletes each item that is still there: one at a time, so an item a concurrent run already removed
    does not fail the others."""
    for entity in entities:
        with suppress(ConcurrencyConflict):
            ports.accounts.uow.commit(Changes().delete(entity))
