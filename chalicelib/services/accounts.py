"""Registration (agencies, consultants, client companies, staff), login and organisation approval.

Registration spans two systems: the Cognito user is created first (it yields the user id), then every
DynamoDB write of the registration is committed in one transaction. If the transaction fails, the
Cognito user is deleted again (compensation), so a duplicate e-mail or organisation number leaves
nothing half-created.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from chalicelib.domain.accounts import (
    Address,
    ConsentDocument,
    ConsentDocumentStatus,
    Invitation,
    InvitationStatus,
    Organisation,
    OrgKind,
    OrgStatus,
    User,
)
from chalicelib.domain.audit import AuditAction, AuditEntry
from chalicelib.domain.consent import ConsentAction, ConsentEntry, ConsentPurpose, ConsentSource
from chalicelib.domain.identity import Principal, RequestContext, Role
from chalicelib.domain.ids import new_id
from chalicelib.errors import ConcurrencyConflict, Conflict, FieldIssue, Forbidden, InvalidInput, NotFound
from chalicelib.schemas.accounts import (
    AgencyRegistrationRequest,
    ClientRegistrationRequest,
    ConsultantRegistrationRequest,
    OrganisationIn,
)
from chalicelib.services.audit import Read, record_staff_reads
from chalicelib.services.notices import Notice, accepted_current_notice
from chalicelib.services.ports import (
    AccountRepository,
    Changes,
    Clock,
    IdentityGateway,
    OutboxMessage,
    Tokens,
    UniqueClaim,
    UnitOfWork,
)

# A Cognito user without a DynamoDB record younger than this may belong to a registration still in
# flight; only older ones are treated as orphans of a failed compensation and removed.
ORPHAN_AGE = timedelta(minutes=15)


@dataclass(frozen=True)
class AccountPorts:
    accounts: AccountRepository
    uow: UnitOfWork
    identity: IdentityGateway
    now: Clock


@dataclass(frozen=True)
class Registered:
    user: User
    organisation: Organisation | None


def normalise_email(email: str) -> str:
    return email.strip().lower()


def normalise_org_number(country: str, number: str) -> str:
    return f"{country}:{''.join(ch for ch in number.upper() if ch.isalnum())}"


def hash_invitation_code(code: str) -> str:
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


def _organisation(body: OrganisationIn, kind: OrgKind, status: OrgStatus, now: datetime) -> Organisation:
    address = Address(body.address.line1, body.address.postal_code, body.address.city, body.address.country, body.address.line2)
    return Organisation(
        org_id=new_id(),
        kind=kind,
        name=body.name,
        country=body.country,
        status=status,
        created_at=now,
        organisation_number=body.organisation_number,
        vat_number=body.vat_number,
        address=address,
        billing_email=normalise_email(body.billing_email),
    )


def _org_claim(org: Organisation) -> UniqueClaim:
    assert org.organisation_number is not None
    return UniqueClaim("organisation_number", normalise_org_number(org.country, org.organisation_number), org.org_id)


def _ensure_unclaimed(ports: AccountPorts, claims: list[tuple[UniqueClaim, str]]) -> None:
    for claim, field in claims:
        if ports.accounts.claim_owner(claim.namespace, claim.value) is not None:
            raise Conflict(
                f"This {claim.namespace.replace('_', ' ')} is already registered.",
                issues=[FieldIssue(field, "already registered", "duplicate")],
            )


def _create_identity(ports: AccountPorts, email: str, password: str, roles: list[Role], field: str) -> str:
    try:
        return ports.identity.create_user(email, password, roles)
    except Conflict:
        created = ports.identity.user_created_at(email)
        orphan = created is not None and ports.now() - created > ORPHAN_AGE and ports.accounts.claim_owner("email", email) is None
        if not orphan:
            raise Conflict("This e-mail is already registered.", issues=[FieldIssue(field, "already registered", "duplicate")]) from None
        ports.identity.delete_user(email)
        return ports.identity.create_user(email, password, roles)


def _register(
    ports: AccountPorts,
    *,
    email: str,
    password: str,
    roles: list[Role],
    email_field: str,
    claims: list[tuple[UniqueClaim, str]],
    build: Callable[[str], tuple[Changes, User, Organisation | None]],
) -> Registered:
    _ensure_unclaimed(ports, [(UniqueClaim("email", email, ""), email_field), *claims])
    user_id = _create_identity(ports, email, password, roles, email_field)
    changes, user, organisation = build(user_id)
    try:
        ports.uow.commit(changes)
    except BaseException as exc:
        ports.identity.delete_user(email)  # compensate: no Cognito user without its records
        if isinstance(exc, ConcurrencyConflict):
            raise _conflict_from(changes, exc, email_field, dict((c.value, f) for c, f in claims)) from exc
        raise
    return Registered(user, organisation)


def _conflict_from(changes: Changes, exc: ConcurrencyConflict, email_field: str, claim_fields: dict[str, str]) -> Conflict:
    """Name the field whose precondition lost the race (cancellation reasons follow the write order)."""
    for (entity, _), reason in zip(changes.writes, exc.cancellation_reasons, strict=False):
        if reason != "ConditionalCheckFailed":
            continue
        if isinstance(entity, UniqueClaim):
            field = email_field if entity.namespace == "email" else claim_fields.get(entity.value, entity.namespace)
            return Conflict("Already registered.", issues=[FieldIssue(field, "already registered", "duplicate")])
        if isinstance(entity, (Invitation, ConsentDocument)):
            return Conflict("The invitation has already been used.", issues=[FieldIssue("invitation_code", "already used", "used")])
    return Conflict("The registration conflicted with a concurrent change; try again.")


def _new_user(user_id: str, email: str, name: str, roles: list[Role], org_id: str | None, now: datetime) -> User:
    return User(user_id=user_id, email=email, name=name, roles=frozenset(roles), created_at=now, org_id=org_id)


def _with_processing_consent(changes: Changes, user: User, notice: Notice, ctx: RequestContext) -> Changes:
    entry = processing_consent(user.user_id, notice, user.created_at, ctx)
    return changes.insert(UniqueClaim("email", user.email, user.user_id)).insert(user).insert(entry).insert(consent_audit(entry))


def register_agency(ports: AccountPorts, body: AgencyRegistrationRequest, ctx: RequestContext) -> Registered:
    notice = accepted_current_notice(body.privacy_notice_version, body.accept_privacy_notice)
    now = ports.now()
    email = normalise_email(body.admin.email)
    org = _organisation(body.organisation, OrgKind.AGENCY, OrgStatus.ACTIVE, now)
    claim = _org_claim(org)

    def build(user_id: str) -> tuple[Changes, User, Organisation]:
        user = _new_user(user_id, email, body.admin.name, [Role.AGENCY_ADMIN], org.org_id, now)
        return _with_processing_consent(Changes().insert(claim).insert(org), user, notice, ctx), user, org

    return _register(
        ports,
        email=email,
        password=body.admin.password.get_secret_value(),
        roles=[Role.AGENCY_ADMIN],
        email_field="admin.email",
        claims=[(claim, "organisation.organisation_number")],
        build=build,
    )


def register_client(ports: AccountPorts, body: ClientRegistrationRequest, ctx: RequestContext) -> Registered:
    """A client company starts pending: staff approve it before it can post assignments."""
    notice = accepted_current_notice(body.privacy_notice_version, body.accept_privacy_notice)
    now = ports.now()
    email = normalise_email(body.user.email)
    org = _organisation(body.company, OrgKind.CLIENT, OrgStatus.PENDING_APPROVAL, now)
    claim = _org_claim(org)

    def build(user_id: str) -> tuple[Changes, User, Organisation]:
        user = _new_user(user_id, email, body.user.name, [Role.CLIENT], org.org_id, now)
        return _with_processing_consent(Changes().insert(claim).insert(org), user, notice, ctx), user, org

    return _register(
        ports,
        email=email,
        password=body.user.password.get_secret_value(),
        roles=[Role.CLIENT],
        email_field="user.email",
        claims=[(claim, "company.organisation_number")],
        build=build,
    )


def register_consultant(ports: AccountPorts, body: ConsultantRegistrationRequest, ctx: RequestContext) -> Registered:
    """Self-registration: with an agency's invitation code, or as an independent (one-person agency)."""
    notice = accepted_current_notice(body.privacy_notice_version, body.accept_privacy_notice)
    now = ports.now()
    email = normalise_email(body.email)
    password = body.password.get_secret_value()
    if body.independent:
        return _register_independent(ports, body, email, password, notice, now, ctx)

    assert body.invitation_code is not None
    invitation, agency, document = _usable_invitation(ports, body.invitation_code, email, now)
    if document is not None and not body.confirm_agency_representation:
        raise InvalidInput(
            f"{agency.name} asked to represent you with your written consent; confirm it to join.",
            issues=[FieldIssue("confirm_agency_representation", "must be true to join through this invitation")],
        )

    def build(user_id: str) -> tuple[Changes, User, Organisation]:
        user = _new_user(user_id, email, body.name, [Role.CONSULTANT], agency.org_id, now)
        changes = _with_processing_consent(Changes(), user, notice, ctx)
        used = replace(invitation, status=InvitationStatus.USED, used_by=user_id, used_at=now)
        changes.transition(used, InvitationStatus.OPEN.value)
        if document is not None:
            _confirm_document(changes, document, user, ctx, now)
        return changes, user, agency

    return _register(ports, email=email, password=password, roles=[Role.CONSULTANT], email_field="email", claims=[], build=build)


def _register_independent(
    ports: AccountPorts,
    body: ConsultantRegistrationRequest,
    email: str,
    password: str,
    notice: Notice,
    now: datetime,
    ctx: RequestContext,
) -> Registered:
    roles = [Role.CONSULTANT, Role.AGENCY_ADMIN]  # they set their own rates and confirm their own time
    org = Organisation(
        org_id=new_id(),
        kind=OrgKind.AGENCY,
        name=body.company_name or body.name,
        country=body.country,
        status=OrgStatus.ACTIVE,
        created_at=now,
        organisation_number=body.organisation_number,
        billing_email=email,
        independent=True,
    )
    claims = [(_org_claim(org), "organisation_number")] if org.organisation_number else []

    def build(user_id: str) -> tuple[Changes, User, Organisation]:
        user = _new_user(user_id, email, body.name, roles, org.org_id, now)
        changes = Changes()
        for claim, _ in claims:
            changes.insert(claim)
        return _with_processing_consent(changes.insert(org), user, notice, ctx), user, org

    return _register(ports, email=email, password=password, roles=roles, email_field="email", claims=claims, build=build)


def _usable_invitation(
    ports: AccountPorts, code: str, email: str, now: datetime
) -> tuple[Invitation, Organisation, ConsentDocument | None]:
    invalid = InvalidInput(
        "The invitation code is unknown, used or expired.", issues=[FieldIssue("invitation_code", "unknown, used or expired")]
    )
    invitation = ports.accounts.get_invitation(hash_invitation_code(code))
    if invitation is None or not invitation.is_usable(now):
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
    return invitation, agency, document


def _confirm_document(changes: Changes, document: ConsentDocument, user: User, ctx: RequestContext, now: datetime) -> None:
    """The consultant confirms the written consent the agency uploaded and staff verified."""
    document.ensure_can_move_to(ConsentDocumentStatus.CONFIRMED)
    changes.transition(
        replace(document, status=ConsentDocumentStatus.CONFIRMED, consultant_user_id=user.user_id), ConsentDocumentStatus.VERIFIED.value
    )
    entry = ConsentEntry(
        subject_id=user.user_id,
        entry_id=new_id(),
        action=ConsentAction.GIVEN,
        purpose=ConsentPurpose.AGENCY_REPRESENTATION,
        at=now,
        source=ConsentSource.UPLOADED_DOCUMENT,
        actor_id=user.user_id,
        ip=ctx.ip,
        user_agent=ctx.user_agent,
        agency_id=document.agency_id,
        document_id=document.document_id,
        document_sha256=document.sha256,
    )
    changes.insert(entry).insert(consent_audit(entry))
    changes.insert(
        AuditEntry(
            subject_id=user.user_id,
            entry_id=new_id(),
            at=now,
            actor_id=user.user_id,
            action=AuditAction.CONSENT_DOCUMENT_CONFIRMED,
            object_type="consent_document",
            object_id=document.document_id,
            details={"agency_id": document.agency_id},
        )
    )


def create_staff_user(ports: AccountPorts, *, email: str, name: str, password: str) -> User:
    """Staff are created by an operator command only, never through a public endpoint."""
    email = normalise_email(email)
    now = ports.now()

    def build(user_id: str) -> tuple[Changes, User, None]:
        user = _new_user(user_id, email, name, [Role.STAFF], None, now)
        return Changes().insert(UniqueClaim("email", email, user_id)).insert(user), user, None

    return _register(ports, email=email, password=password, roles=[Role.STAFF], email_field="email", claims=[], build=build).user


def login(ports: AccountPorts, email: str, password: str) -> Tokens:
    return ports.identity.login(normalise_email(email), password)


# --- organisations -------------------------------------------------------------------------------


def get_organisation(ports: AccountPorts, principal: Principal, org_id: str) -> Organisation:
    org = ports.accounts.get_organisation(org_id)
    if org is None or not (principal.is_staff or principal.org_id == org_id):
        raise NotFound("Organisation not found.")
    record_staff_reads(ports.uow, principal, ports.now(), AuditAction.ORGANISATION_READ, [Read(org_id, "organisation", org_id)])
    return org


def list_members(ports: AccountPorts, principal: Principal, org_id: str) -> list[User]:
    if not (principal.is_staff or principal.administers(org_id)) or ports.accounts.get_organisation(org_id) is None:
        raise NotFound("Organisation not found.")
    members = ports.accounts.list_members(org_id)
    record_staff_reads(ports.uow, principal, ports.now(), AuditAction.USER_READ, [Read(u.user_id, "user", u.user_id) for u in members])
    return members


def list_client_companies(ports: AccountPorts, principal: Principal, status: OrgStatus) -> list[Organisation]:
    _ensure_staff(principal)
    orgs = ports.accounts.list_organisations(OrgKind.CLIENT, status)
    record_staff_reads(
        ports.uow, principal, ports.now(), AuditAction.ORGANISATION_READ, [Read(o.org_id, "organisation", o.org_id) for o in orgs]
    )
    return orgs


def review_client_company(ports: AccountPorts, principal: Principal, org_id: str, *, approve: bool, reason: str | None) -> Organisation:
    _ensure_staff(principal)
    org = ports.accounts.get_organisation(org_id)
    if org is None or org.kind is not OrgKind.CLIENT:
        raise NotFound("Organisation not found.")
    if org.status is not OrgStatus.PENDING_APPROVAL:
        raise Conflict(f"The company is already {org.status.value}.")
    now = ports.now()
    reviewed = replace(
        org,
        status=OrgStatus.ACTIVE if approve else OrgStatus.REJECTED,
        reviewed_by=principal.user_id,
        reviewed_at=now,
        review_reason=reason,
    )
    audit = AuditEntry(
        subject_id=org_id,
        entry_id=new_id(),
        at=now,
        actor_id=principal.user_id,
        action=AuditAction.ORGANISATION_APPROVED if approve else AuditAction.ORGANISATION_REJECTED,
        object_type="organisation",
        object_id=org_id,
    )
    try:
        ports.uow.commit(Changes().transition(reviewed, OrgStatus.PENDING_APPROVAL.value).insert(audit))
    except ConcurrencyConflict as exc:
        raise Conflict("The company was reviewed concurrently.") from exc
    return reviewed


def _ensure_staff(principal: Principal) -> None:
    if not principal.is_staff:
        raise Forbidden("Only staff may do this.")


# --- invitations ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedInvitation:
    invitation: Invitation
    code: str  # shown once; only its hash is stored


def new_invitation(
    agency_id: str, email: str, created_by: str, now: datetime, ttl: timedelta, consent_document_id: str | None = None
) -> IssuedInvitation:
    code = secrets.token_urlsafe(24)
    invitation = Invitation(
        invitation_id=new_id(),
        code_hash=hash_invitation_code(code),
        agency_id=agency_id,
        email=normalise_email(email),
        created_by=created_by,
        created_at=now,
        expires_at=now + ttl,
        consent_document_id=consent_document_id,
    )
    return IssuedInvitation(invitation, code)


def invitation_email(agency: Organisation, issued: IssuedInvitation, web_base_url: str, now: datetime) -> OutboxMessage:
    link = f"{web_base_url}/register/consultant?code={issued.code}"
    if issued.invitation.consent_document_id:
        subject = f"Confirm that {agency.name} may represent you on Customersonly"
        lead = (
            f"{agency.name} uploaded your written consent to represent you as a consultant on Customersonly, and our staff "
            "verified it. Register and confirm it to activate your profile. Nothing is shared until you confirm."
        )
    else:
        subject = f"{agency.name} invites you to Customersonly"
        lead = f"{agency.name} invites you to join Customersonly as one of its consultants."
    text = (
        f"{lead}\n\nRegister here: {link}\nOr use the invitation code: {issued.code}\n\n"
        f"The invitation expires on {issued.invitation.expires_at.date().isoformat()}.\n"
    )
    return OutboxMessage(message_id=new_id(), to=issued.invitation.email, subject=subject, text=text, created_at=now)


def invite_consultant(
    ports: AccountPorts, principal: Principal, agency_id: str, email: str, *, ttl: timedelta, web_base_url: str
) -> IssuedInvitation:
    agency = ports.accounts.get_organisation(agency_id)
    if agency is None or agency.kind is not OrgKind.AGENCY or not principal.administers(agency_id):
        raise NotFound("Agency not found.")
    if agency.independent:
        raise Conflict("An independent consultant's own company cannot invite consultants.")
    now = ports.now()
    issued = new_invitation(agency_id, email, principal.user_id, now, ttl)
    ports.uow.commit(Changes().insert(issued.invitation).insert(invitation_email(agency, issued, web_base_url, now)))
    return issued


def list_invitations(ports: AccountPorts, principal: Principal, agency_id: str) -> list[Invitation]:
    if not (principal.is_staff or principal.administers(agency_id)):
        raise NotFound("Agency not found.")
    invitations = ports.accounts.list_invitations(agency_id)
    # The invitee has no user id yet: the read is filed under the invitation.
    reads = [Read(i.used_by or i.invitation_id, "invitation", i.invitation_id) for i in invitations]
    record_staff_reads(ports.uow, principal, ports.now(), AuditAction.INVITATION_READ, reads)
    return invitations
