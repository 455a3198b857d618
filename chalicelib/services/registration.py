"""Registration of agencies, consultants and client companies; e-mail verification; staff; login.

Registration spans two systems. The Cognito user is created first (it yields the user id); then every
DynamoDB write of the registration is committed in one transaction with an idempotency token. If the
commit fails and did not land, the Cognito user is deleted again (compensation), so a duplicate e-mail
or organisation number leaves nothing half-created.

Self-registered accounts start ``pending_verification`` and become active when the code e-mailed to
them comes back. Registering with an invitation code needs no separate verification: the code was
sent to that address.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from urllib.parse import urlencode

from chalicelib.domain.accounts import Address, Organisation, OrgKind, OrgStatus, User, UserStatus
from chalicelib.domain.identity import RequestContext, Role
from chalicelib.domain.ids import new_id
from chalicelib.errors import ConcurrencyConflict, Conflict, FieldIssue, InvalidInput, UpstreamUnavailable
from chalicelib.logging import logger
from chalicelib.notifications.templates import render
from chalicelib.schemas.accounts import (
    AgencyRegistrationRequest,
    ClientRegistrationRequest,
    ConsultantRegistrationRequest,
    NewUserIn,
    OrganisationIn,
    RegistrationIn,
)
from chalicelib.services.accounts import AccountPorts, hash_code, normalise_email, normalise_org_number, processing_consent, record_consent
from chalicelib.services.invitations import usable_invitation, use_invitation
from chalicelib.services.notices import accepted_current_notice
from chalicelib.services.ports import Changes, OutboxMessage, Tokens, UniqueClaim

# How often a verification code may be sent again to one address.
RESEND_INTERVAL = timedelta(minutes=1)

# A Cognito user without a DynamoDB record younger than this may belong to a registration still in
# flight; only older ones are treated as orphans of a failed compensation and replaced.
ORPHAN_AGE = timedelta(minutes=15)


@dataclass(frozen=True)
class Registered:
    user: User
    organisation: Organisation | None


@dataclass(frozen=True)
class _Plan:
    """One registration: who, with which roles, which unique values it claims, and how to build its writes."""

    email: str
    password: str
    roles: list[Role]
    email_field: str
    claims: list[tuple[UniqueClaim, str]]  # with the request field each belongs to
    build: Callable[[str], tuple[Changes, User, Organisation | None]]


def _register(ports: AccountPorts, plan: _Plan) -> Registered:
    for claim, field in [(UniqueClaim("email", plan.email, ""), plan.email_field), *plan.claims]:
        owner = ports.accounts.claim_owner(claim.namespace, claim.value)
        if owner is not None and not _release_if_abandoned(ports, claim.namespace, owner):
            raise Conflict("Already registered.", issues=[FieldIssue(field, "already registered", "duplicate")])
    user_id = _create_identity(ports, plan)
    try:
        changes, user, organisation = plan.build(user_id)
    except BaseException:
        ports.identity.delete_user(plan.email)  # compensate: no Cognito user without its records
        raise
    changes.request_token = user_id  # a Cognito sub: 36 characters, unique per attempt
    try:
        _commit_once(ports, changes)
    except ConcurrencyConflict as exc:
        ports.identity.delete_user(plan.email)  # it did not land: compensate
        raise _conflict_from(changes, exc, plan) from exc
    return Registered(user, organisation)


def _commit_once(ports: AccountPorts, changes: Changes) -> None:
    """Commit, and when the outcome is unknown (a timeout, a lost response) ask again with the same
    request token: DynamoDB answers a commit that landed as a success and applies one that did not.
    Only a definite refusal (ConcurrencyConflict) may be compensated; if even the second answer is
    unknown the Cognito user is left for the orphan clean-up, since the commit may still land."""
    try:
        ports.uow.commit(changes)
    except ConcurrencyConflict:
        raise
    except Exception:
        try:
            ports.uow.commit(changes)
        except ConcurrencyConflict:
            raise
        except Exception as exc:
            raise UpstreamUnavailable("The registration could not be confirmed; try again in a few minutes.") from exc


def _create_identity(ports: AccountPorts, plan: _Plan) -> str:
    duplicate = Conflict("Already registered.", issues=[FieldIssue(plan.email_field, "already registered", "duplicate")])
    try:
        return ports.identity.create_user(plan.email, plan.password, plan.roles)
    except Conflict:
        existing = ports.identity.find_user(plan.email)
        if existing is None or ports.now() - existing.created_at <= ORPHAN_AGE or ports.accounts.claim_owner("email", plan.email):
            raise duplicate from None  # a real account, or a registration still in flight
        # Delete only the orphan itself: a concurrent registration may have replaced it meanwhile.
        current = ports.identity.find_user(plan.email)
        if current is None or current.subject != existing.subject:
            raise duplicate from None
        ports.identity.delete_user(plan.email)
        return ports.identity.create_user(plan.email, plan.password, plan.roles)


def _conflict_from(changes: Changes, exc: ConcurrencyConflict, plan: _Plan) -> Conflict:
    """Name the field whose precondition lost the race (cancellation reasons follow the write order)."""
    fields = {claim.value: field for claim, field in plan.claims}
    for (entity, _), reason in zip(changes.writes, exc.cancellation_reasons, strict=False):
        if reason != "ConditionalCheckFailed":
            continue
        if isinstance(entity, UniqueClaim):
            field = plan.email_field if entity.namespace == "email" else fields.get(entity.value, entity.namespace)
            return Conflict("Already registered.", issues=[FieldIssue(field, "already registered", "duplicate")])
        return Conflict("The invitation has already been used.", issues=[FieldIssue("invitation_code", "already used", "used")])
    return Conflict("The registration conflicted with a concurrent change; try again.")


def _release_if_abandoned(ports: AccountPorts, namespace: str, owner_id: str) -> bool:
    """Frees an e-mail or organisation number held by a registration that was never confirmed and whose
    code has expired, so nobody can block someone else's address or company by registering it first.
    Returns whether the value is free now. The consent ledger keeps its entries: it is append-only."""
    if namespace == "email":
        user = ports.accounts.get_user(owner_id)
        org = ports.accounts.get_organisation(user.org_id) if user and user.org_id else None
    else:
        org = ports.accounts.get_organisation(owner_id)
        members = ports.accounts.list_members(owner_id) if org else []
        user = members[0] if len(members) == 1 else None
    expires = user.verification_expires_at if user else None
    if user is None or user.status is not UserStatus.PENDING_VERIFICATION or expires is None or ports.now() <= expires:
        return False
    changes = Changes().delete(user, UserStatus.PENDING_VERIFICATION.value).delete(UniqueClaim("email", user.email, user.user_id))
    # The organisation registered together with the abandoned account goes too (nobody else can be in it).
    if org is not None and [m.user_id for m in ports.accounts.list_members(org.org_id)] == [user.user_id]:
        changes.delete(org, org.status.value)
        if org.organisation_number:
            changes.delete(_org_claim(org))
    try:
        ports.uow.commit(changes)
    except ConcurrencyConflict:
        return False  # confirmed or released concurrently
    identity = ports.identity.find_user(user.email)
    if identity is not None and identity.subject == user.user_id:
        ports.identity.delete_user(user.email)
    return True


def _verification(ports: AccountPorts, user: User) -> tuple[User, OutboxMessage]:
    """A new code for ``user``. The deadline is set once, at registration: sending the code again does not
    extend it, so an abandoned registration cannot be kept alive by someone who cannot read the mailbox."""
    code = secrets.token_urlsafe(24)
    pending = replace(
        user,
        status=UserStatus.PENDING_VERIFICATION,
        verification_code_hash=hash_code(code),
        verification_expires_at=user.verification_expires_at or ports.now() + ports.verification_ttl,
        verification_sent_at=ports.now(),
    )
    link = f"{ports.web_base_url}/verify-email?{urlencode({'email': user.email, 'code': code})}"
    subject, text = render("email_verification", user.language, {"recipient_name": user.name, "link": link, "code": code})
    mail = OutboxMessage(message_id=new_id(), to=user.email, subject=subject, text=text, created_at=ports.now())
    return pending, mail


def _new_account(ports: AccountPorts, user: User, body: RegistrationIn, ctx: RequestContext, *, verified: bool) -> tuple[Changes, User]:
    """The writes every registration makes: the e-mail claim, the user, the processing consent, and
    (unless the address is already proven) the verification e-mail. Returns them with the user as stored."""
    notice = accepted_current_notice(body.privacy_notice_version, body.accept_privacy_notice)
    user = replace(user, language=body.language)
    changes = Changes().insert(UniqueClaim("email", user.email, user.user_id))
    if not verified:
        user, mail = _verification(ports, user)
        changes.insert(mail)
    entry = processing_consent(user.user_id, notice, user.created_at, ctx)
    return record_consent(changes.insert(user), entry), user


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


def _register_organisation(
    ports: AccountPorts,
    body: AgencyRegistrationRequest | ClientRegistrationRequest,
    org: Organisation,
    person: NewUserIn,
    role: Role,
    fields: tuple[str, str],
    ctx: RequestContext,
) -> Registered:
    """An organisation with its first user: ``fields`` name the request's e-mail and organisation-number fields."""
    accepted_current_notice(body.privacy_notice_version, body.accept_privacy_notice)  # before anything is created
    email = normalise_email(person.email)
    claim = _org_claim(org)

    def build(user_id: str) -> tuple[Changes, User, Organisation]:
        user = User(user_id=user_id, email=email, name=person.name, roles=frozenset({role}), created_at=org.created_at, org_id=org.org_id)
        changes, user = _new_account(ports, user, body, ctx, verified=False)
        return changes.insert(claim).insert(org), user, org

    plan = _Plan(email, person.password.get_secret_value(), [role], fields[0], [(claim, fields[1])], build)
    return _register(ports, plan)


def register_agency(ports: AccountPorts, body: AgencyRegistrationRequest, ctx: RequestContext) -> Registered:
    org = _organisation(body.organisation, OrgKind.AGENCY, OrgStatus.ACTIVE, ports.now())
    return _register_organisation(ports, body, org, body.admin, Role.AGENCY_ADMIN, ("admin.email", "organisation.organisation_number"), ctx)


def register_client(ports: AccountPorts, body: ClientRegistrationRequest, ctx: RequestContext) -> Registered:
    """A client company starts pending: staff approve it before it can post assignments."""
    org = _organisation(body.company, OrgKind.CLIENT, OrgStatus.PENDING_APPROVAL, ports.now())
    return _register_organisation(ports, body, org, body.user, Role.CLIENT, ("user.email", "company.organisation_number"), ctx)


def register_consultant(ports: AccountPorts, body: ConsultantRegistrationRequest, ctx: RequestContext) -> Registered:
    """Self-registration: with an agency's invitation code, or as an independent (one-person agency)."""
    accepted_current_notice(body.privacy_notice_version, body.accept_privacy_notice)
    now = ports.now()
    email = normalise_email(body.email)
    password = body.password.get_secret_value()
    if body.independent:
        return _register_independent(ports, body, email, password, now, ctx)

    assert body.invitation_code is not None
    usable = usable_invitation(ports, body.invitation_code, email)
    usable.ensure_confirmed(body.confirm_agency_representation)

    def build(user_id: str) -> tuple[Changes, User, Organisation]:
        user = User(
            user_id=user_id, email=email, name=body.name, roles=frozenset({Role.CONSULTANT}), created_at=now, org_id=usable.agency.org_id
        )
        changes, user = _new_account(ports, user, body, ctx, verified=True)
        return use_invitation(changes, usable, user_id, ctx, now), user, usable.agency

    registered = _register(ports, _Plan(email, password, [Role.CONSULTANT], "email", [], build))
    _mark_verified(ports, email)  # the invitation code reached this address
    return registered


def _register_independent(
    ports: AccountPorts,
    body: ConsultantRegistrationRequest,
    email: str,
    password: str,
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
        user = User(user_id=user_id, email=email, name=body.name, roles=frozenset(roles), created_at=now, org_id=org.org_id)
        changes, user = _new_account(ports, user, body, ctx, verified=False)
        for claim, _ in claims:
            changes.insert(claim)
        return changes.insert(org), user, org

    return _register(ports, _Plan(email, password, roles, "email", claims, build))


def verify_email(ports: AccountPorts, email: str, code: str) -> User:
    """Activates a self-registered account. A repeated, valid confirmation is answered as a success."""
    invalid = InvalidInput("The verification code is invalid or expired.", issues=[FieldIssue("code", "invalid or expired")])
    owner = ports.accounts.claim_owner("email", normalise_email(email))
    user = ports.accounts.get_user(owner) if owner else None
    if user is None or user.verification_code_hash is None or not hmac.compare_digest(user.verification_code_hash, hash_code(code)):
        raise invalid
    if user.status is UserStatus.ACTIVE:
        _mark_verified(ports, user.email)  # again: the first attempt may have failed after the commit
        return user
    if user.status is not UserStatus.PENDING_VERIFICATION or (user.verification_expires_at and ports.now() > user.verification_expires_at):
        raise invalid
    active = replace(user, status=UserStatus.ACTIVE, verification_expires_at=None)
    try:
        ports.uow.commit(Changes().transition(active, UserStatus.PENDING_VERIFICATION.value))
    except ConcurrencyConflict:
        return verify_email(ports, email, code)  # confirmed concurrently: answer as the replay
    _mark_verified(ports, user.email)
    return active


def _mark_verified(ports: AccountPorts, email: str) -> None:
    """Tell Cognito the address is proven (it gates Cognito's own password reset). The account is
    already stored as confirmed, so a failure here must not fail the request; a repeat fixes it."""
    try:
        ports.identity.mark_email_verified(email)
    except UpstreamUnavailable:
        logger.warning("e-mail not marked verified in the identity provider")


def resend_verification(ports: AccountPorts, email: str) -> None:
    """Sends a fresh code to a pending account. Says nothing about whether the address is registered."""
    owner = ports.accounts.claim_owner("email", normalise_email(email))
    user = ports.accounts.get_user(owner) if owner else None
    expires = user.verification_expires_at if user else None
    if user is None or user.status is not UserStatus.PENDING_VERIFICATION or (expires and ports.now() > expires):
        return  # nothing to confirm, or too late: registering again releases an expired registration
    if user.verification_sent_at and ports.now() - user.verification_sent_at < RESEND_INTERVAL:
        return  # one message a minute at most: the endpoint is public
    pending, mail = _verification(ports, user)
    try:
        ports.uow.commit(Changes().transition(pending, UserStatus.PENDING_VERIFICATION.value).insert(mail))
    except ConcurrencyConflict:
        return  # verified meanwhile


def create_staff_user(ports: AccountPorts, *, email: str, name: str, password: str) -> User:
    """Staff are created by an operator command only, never through a public endpoint."""
    email = normalise_email(email)
    now = ports.now()

    def build(user_id: str) -> tuple[Changes, User, None]:
        user = User(user_id=user_id, email=email, name=name, roles=frozenset({Role.STAFF}), created_at=now)
        return Changes().insert(UniqueClaim("email", email, user_id)).insert(user), user, None

    user = _register(ports, _Plan(email, password, [Role.STAFF], "email", [], build)).user
    _mark_verified(ports, email)
    return user


def login(ports: AccountPorts, email: str, password: str) -> Tokens:
    return ports.identity.login(normalise_email(email), password)


def refresh(ports: AccountPorts, refresh_token: str) -> Tokens:
    return ports.identity.refresh(refresh_token)
