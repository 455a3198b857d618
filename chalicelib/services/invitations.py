"""Invitations: an agency invites a consultant by e-mail; the consultant joins by registering with the
code, or, already registered, by accepting it. An invitation that follows an agency's on-behalf written
consent also carries the consultant's confirmation of that consent into the ledger."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from chalicelib.domain.accounts import (
    ConsentDocument,
    ConsentDocumentStatus,
    Invitation,
    InvitationStatus,
    Organisation,
    OrgKind,
    OrgStatus,
)
from chalicelib.domain.audit import AuditAction, AuditEntry
from chalicelib.domain.consent import ConsentAction, ConsentEntry, ConsentPurpose, ConsentSource
from chalicelib.domain.identity import Principal, RequestContext, Role
from chalicelib.domain.ids import new_id
from chalicelib.errors import ConcurrencyConflict, Conflict, FieldIssue, Forbidden, InvalidInput, NotFound, UpstreamUnavailable
from chalicelib.logging import logger
from chalicelib.notifications.templates import FALLBACK_LANGUAGE, render
from chalicelib.services.accounts import AccountPorts, hash_code, normalise_email, normalise_org_number, record_consent
from chalicelib.services.audit import Read, record_staff_reads
from chalicelib.services.ports import Changes, OutboxMessage, ProfileRepository, UniqueClaim


@dataclass(frozen=True)
class IssuedInvitation:
    invitation: Invitation
    code: str  # goes out by e-mail only; only its hash is stored


def new_invitation(
    agency_id: str, email: str, created_by: str, now: datetime, ttl: timedelta, consent_document_id: str | None = None
) -> IssuedInvitation:
    code = secrets.token_urlsafe(24)
    invitation = Invitation(
        invitation_id=new_id(),
        code_hash=hash_code(code),
        agency_id=agency_id,
        email=normalise_email(email),
        created_by=created_by,
        created_at=now,
        expires_at=now + ttl,
        consent_document_id=consent_document_id,
    )
    return IssuedInvitation(invitation, code)


def invitation_email(agency: Organisation, issued: IssuedInvitation, web_base_url: str, now: datetime, language: str) -> OutboxMessage:
    """``language``: the invitee has no account yet; the inviting agency's admin's is the best guess."""
    link = f"{web_base_url}/register/consultant?code={issued.code}"
    kind = "consultant_invitation_on_behalf" if issued.invitation.consent_document_id else "consultant_invitation"
    params = {"agency_name": agency.name, "link": link, "code": issued.code, "expires_on": issued.invitation.expires_at.date().isoformat()}
    subject, text = render(kind, language, params)
    return OutboxMessage(message_id=new_id(), to=issued.invitation.email, subject=subject, text=text, created_at=now)


def invite_consultant(ports: AccountPorts, principal: Principal, agency_id: str, email: str) -> Invitation:
    """The code is e-mailed to the consultant and never shown to the agency: registering with it proves
    that the person who registers reads that mailbox."""
    agency = ports.accounts.get_organisation(agency_id)
    if agency is None or agency.kind is not OrgKind.AGENCY or not principal.administers(agency_id):
        raise NotFound("Agency not found.")
    if agency.independent:
        raise Conflict("An independent consultant's own company cannot invite consultants.")
    now = ports.now()
    issued = new_invitation(agency_id, email, principal.user_id, now, ports.invitation_ttl)
    inviter = ports.accounts.get_user(principal.user_id)
    mail = invitation_email(agency, issued, ports.web_base_url, now, inviter.language if inviter else FALLBACK_LANGUAGE)
    ports.uow.commit(Changes().insert(issued.invitation).insert(mail))
    return issued.invitation


def list_invitations(ports: AccountPorts, principal: Principal, agency_id: str) -> list[Invitation]:
    if not (principal.is_staff or principal.administers(agency_id)):
        raise NotFound("Agency not found.")
    invitations = ports.accounts.list_invitations(agency_id)
    # An invitee has no user id before registering: such reads are filed under the agency.
    reads = [Read(i.used_by or agency_id, "invitation", i.invitation_id) for i in invitations]
    record_staff_reads(ports.uow, principal, ports.now(), AuditAction.INVITATION_READ, reads)
    return invitations


@dataclass(frozen=True)
class UsableInvitation:
    invitation: Invitation
    agency: Organisation
    document: ConsentDocument | None  # the verified on-behalf consent the invitation follows, if any

    def ensure_confirmed(self, confirmed: bool) -> None:
        if self.document is not None and not confirmed:
            raise InvalidInput(
                f"{self.agency.name} asked to represent you with your written consent; confirm it to join.",
                issues=[FieldIssue("confirm_agency_representation", "must be true to join through this invitation")],
            )


def usable_invitation(ports: AccountPorts, code: str, email: str) -> UsableInvitation:
    invalid = InvalidInput(
        "The invitation code is unknown, used or expired.", issues=[FieldIssue("invitation_code", "unknown, used or expired")]
    )
    invitation = ports.accounts.get_invitation(hash_code(code))
    if invitation is None or not invitation.is_usable(ports.now()):
        raise invalid
    if invitation.email != email:
        raise InvalidInput(
            "The invitation was issued for another e-mail address.", issues=[FieldIssue("email", "does not match the invitation")]
        )
    agency = ports.accounts.get_organisation(invitation.agency_id)
    if agency is None or agency.status is not OrgStatus.ACTIVE:
        raise invalid
    document = None
    if invitation.consent_document_id:
        document = ports.accounts.get_consent_document(invitation.consent_document_id)
        if document is None or document.status is not ConsentDocumentStatus.VERIFIED:
            raise invalid
    return UsableInvitation(invitation, agency, document)


def use_invitation(changes: Changes, usable: UsableInvitation, user_id: str, ctx: RequestContext, now: datetime) -> Changes:
    """The writes that spend an invitation for ``user_id``, including the confirmation of an on-behalf consent."""
    used = replace(usable.invitation, status=InvitationStatus.USED, used_by=user_id, used_at=now)
    changes.transition(used, InvitationStatus.OPEN.value)
    document = usable.document
    if document is None:
        return changes
    document.ensure_can_move_to(ConsentDocumentStatus.CONFIRMED)
    confirmed = replace(document, status=ConsentDocumentStatus.CONFIRMED, consultant_user_id=user_id)
    changes.transition(confirmed, ConsentDocumentStatus.VERIFIED.value)
    entry = ConsentEntry(
        subject_id=user_id,
        entry_id=new_id(),
        action=ConsentAction.GIVEN,
        purpose=ConsentPurpose.AGENCY_REPRESENTATION,
        at=now,
        source=ConsentSource.UPLOADED_DOCUMENT,
        actor_id=user_id,
        ip=ctx.ip,
        user_agent=ctx.user_agent,
        agency_id=document.agency_id,
        document_id=document.document_id,
        document_sha256=document.sha256,
    )
    confirmation = AuditEntry(
        subject_id=user_id,
        entry_id=new_id(),
        at=now,
        actor_id=user_id,
        action=AuditAction.CONSENT_DOCUMENT_CONFIRMED,
        object_type="consent_document",
        object_id=document.document_id,
        details={"agency_id": document.agency_id},
    )
    return record_consent(changes, entry).insert(confirmation)


def accept_invitation(
    ports: AccountPorts,
    principal: Principal,
    code: str,
    confirm_agency_representation: bool,
    ctx: RequestContext,
    profiles: ProfileRepository,
) -> Organisation:
    """An already registered independent consultant joins the inviting agency (and confirms an on-behalf consent)."""
    if not principal.has(Role.CONSULTANT):
        raise Forbidden("Only consultants accept agency invitations.")
    user = ports.accounts.get_user(principal.user_id)
    assert user is not None  # the caller was authenticated from this record
    usable = usable_invitation(ports, code, user.email)
    usable.ensure_confirmed(confirm_agency_representation)
    current = ports.accounts.get_organisation(user.org_id) if user.org_id else None
    if current is not None and not current.independent:
        raise Conflict("You already belong to an agency; leave it before joining another.")
    now = ports.now()
    # Joining an agency ends the one-person agency: the agency sets rates from now on. The user must
    # still be where we read it (``was``), so two invitations accepted at once cannot both succeed.
    former = (*user.former_org_ids, current.org_id) if current is not None else user.former_org_ids
    member = replace(user, org_id=usable.agency.org_id, roles=frozenset({Role.CONSULTANT}), former_org_ids=former)
    changes = use_invitation(Changes().transition(member, user.status.value, was=user), usable, user.user_id, ctx, now)
    profile = profiles.get_profile(user.user_id)
    if profile is not None:  # the profile is filed under its agency (for the agency's lists and the search index)
        changes.transition(replace(profile, agency_id=usable.agency.org_id), profile.status.value, was=profile)
    if current is not None:
        changes.transition(replace(current, status=OrgStatus.CLOSED), current.status.value)
        if current.organisation_number:
            claim = UniqueClaim("organisation_number", normalise_org_number(current.country, current.organisation_number), current.org_id)
            changes.delete(claim)  # free again, should the consultant one day go independent anew
    try:
        ports.uow.commit(changes)
    except ConcurrencyConflict as exc:
        raise Conflict(
            "The invitation was used, or your membership changed, meanwhile.",
            issues=[FieldIssue("invitation_code", "already used", "used")],
        ) from exc
    if Role.AGENCY_ADMIN in user.roles:
        try:
            ports.identity.remove_from_group(user.email, Role.AGENCY_ADMIN)
        except UpstreamUnavailable:
            # Harmless if it lingers: a role counts only when the stored user has it too.
            logger.warning("stale identity group left", extra={"user_id": user.user_id})
    return usable.agency
