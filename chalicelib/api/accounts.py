"""Registration and e-mail verification (public), login, the caller's own account, organisations and invitations."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from chalicelib.api.http import ANY_ROLE, Call, operation
from chalicelib.domain.identity import Role
from chalicelib.lazy import LazyModule

if TYPE_CHECKING:
    from chalicelib.schemas import accounts as s
    from chalicelib.schemas import mappers
    from chalicelib.services import accounts, invitations, organisations, registration
    from chalicelib.services.ports import Tokens
else:  # imported on the first request that needs them (cold start)
    s = LazyModule("chalicelib.schemas.accounts")
    mappers = LazyModule("chalicelib.schemas.mappers")
    accounts = LazyModule("chalicelib.services.accounts")
    invitations = LazyModule("chalicelib.services.invitations")
    organisations = LazyModule("chalicelib.services.organisations")
    registration = LazyModule("chalicelib.services.registration")


bp = Blueprint(__name__)
STAFF = frozenset({Role.STAFF})
AGENCY_ADMIN = frozenset({Role.AGENCY_ADMIN})
STAFF_OR_AGENCY_ADMIN = frozenset({Role.STAFF, Role.AGENCY_ADMIN})


def _registered(result: registration.Registered) -> s.RegistrationResponse:
    org = mappers.organisation_out(result.organisation) if result.organisation else None
    return s.RegistrationResponse(user=mappers.user_out(result.user), organisation=org)


@operation(
    bp,
    "/registrations/agency",
    "POST",
    summary="Register an agency and its first admin (then confirm the e-mail)",
    tag="registration",
    request=lambda: s.AgencyRegistrationRequest,
    response=lambda: s.RegistrationResponse,
    status=201,
    roles=None,
    errors=(409,),
)
def register_agency(call: Call[s.AgencyRegistrationRequest, Any]) -> s.RegistrationResponse:
    return _registered(registration.register_agency(call.container.accounts, call.body, call.context))


@operation(
    bp,
    "/registrations/consultant",
    "POST",
    summary="Register as a consultant (invitation code, or independent)",
    tag="registration",
    request=lambda: s.ConsultantRegistrationRequest,
    response=lambda: s.RegistrationResponse,
    status=201,
    roles=None,
    errors=(409,),
)
def register_consultant(call: Call[s.ConsultantRegistrationRequest, Any]) -> s.RegistrationResponse:
    return _registered(registration.register_consultant(call.container.accounts, call.body, call.context))


@operation(
    bp,
    "/registrations/client",
    "POST",
    summary="Register a client company and its first user (staff approve it)",
    tag="registration",
    request=lambda: s.ClientRegistrationRequest,
    response=lambda: s.RegistrationResponse,
    status=201,
    roles=None,
    errors=(409,),
)
def register_client(call: Call[s.ClientRegistrationRequest, Any]) -> s.RegistrationResponse:
    return _registered(registration.register_client(call.container.accounts, call.body, call.context))


@operation(
    bp,
    "/registrations/verify-email",
    "POST",
    summary="Confirm the e-mail address with the code that was sent to it",
    tag="registration",
    request=lambda: s.VerifyEmailRequest,
    response=lambda: s.UserResponse,
    roles=None,
)
def verify_email(call: Call[s.VerifyEmailRequest, Any]) -> s.UserResponse:
    return mappers.user_out(registration.verify_email(call.container.accounts, call.body.email, call.body.code))


@operation(
    bp,
    "/registrations/resend-verification",
    "POST",
    summary="Send a new verification code (answers the same for any address)",
    tag="registration",
    request=lambda: s.ResendVerificationRequest,
    response=lambda: s.AcceptedResponse,
    status=202,
    roles=None,
)
def resend_verification(call: Call[s.ResendVerificationRequest, Any]) -> s.AcceptedResponse:
    registration.resend_verification(call.container.accounts, call.body.email)
    return s.AcceptedResponse(detail="If the address waits for confirmation, a new code is on its way.")


@operation(
    bp,
    "/auth/login",
    "POST",
    summary="Sign in with e-mail and password; returns Cognito tokens",
    tag="auth",
    request=lambda: s.LoginRequest,
    response=lambda: s.TokensResponse,
    roles=None,
    errors=(401,),
)
def login(call: Call[s.LoginRequest, Any]) -> s.TokensResponse:
    return _tokens(registration.login(call.container.accounts, call.body.email, call.body.password))


@operation(
    bp,
    "/auth/refresh",
    "POST",
    summary="New access and id tokens for the refresh token from /auth/login",
    tag="auth",
    request=lambda: s.RefreshRequest,
    response=lambda: s.TokensResponse,
    roles=None,
    errors=(401,),
)
def refresh(call: Call[s.RefreshRequest, Any]) -> s.TokensResponse:
    return _tokens(registration.refresh(call.container.accounts, call.body.refresh_token))


def _tokens(tokens: Tokens) -> s.TokensResponse:
    return s.TokensResponse(
        id_token=tokens.id_token, access_token=tokens.access_token, refresh_token=tokens.refresh_token, expires_in=tokens.expires_in
    )


@operation(bp, "/me", "GET", summary="The caller's user and organisation", tag="auth", response=lambda: s.MeResponse, roles=ANY_ROLE)
def me(call: Call[Any, Any]) -> s.MeResponse:
    repository = call.container.accounts.accounts
    user = repository.get_user(call.user.user_id)
    assert user is not None  # authenticate() loaded it
    org = repository.get_organisation(user.org_id) if user.org_id else None
    return s.MeResponse(user=mappers.user_out(user), organisation=mappers.organisation_out(org) if org else None)


@operation(
    bp,
    "/me",
    "PATCH",
    summary="Change the caller's own settings: the language of e-mails and notifications, the name",
    tag="auth",
    request=lambda: s.UpdateMeRequest,
    response=lambda: s.MeResponse,
    roles=ANY_ROLE,
    errors=(409,),
)
def update_me(call: Call[s.UpdateMeRequest, Any]) -> s.MeResponse:
    ports = call.container.accounts
    user = accounts.update_my_account(ports, call.user, language=call.body.language, name=call.body.name)
    org = ports.accounts.get_organisation(user.org_id) if user.org_id else None
    return s.MeResponse(user=mappers.user_out(user), organisation=mappers.organisation_out(org) if org else None)


@operation(
    bp,
    "/me/invitations/accept",
    "POST",
    summary="Join the inviting agency as an already registered (independent) consultant",
    tag="invitations",
    request=lambda: s.AcceptInvitationRequest,
    response=lambda: s.OrganisationResponse,
    roles=frozenset({Role.CONSULTANT}),
    errors=(409,),
)
def accept_invitation(call: Call[s.AcceptInvitationRequest, Any]) -> s.OrganisationResponse:
    c, body = call.container, call.body
    agency = invitations.accept_invitation(
        c.accounts, call.user, body.invitation_code, body.confirm_agency_representation, call.context, c.profile_repository
    )
    return mappers.organisation_out(agency)


@operation(
    bp,
    "/organisations/{org_id}",
    "GET",
    summary="An organisation (members and staff)",
    tag="organisations",
    response=lambda: s.OrganisationResponse,
)
def get_organisation(call: Call[Any, Any]) -> s.OrganisationResponse:
    return mappers.organisation_out(organisations.get_organisation(call.container.accounts, call.user, call.path["org_id"]))


@operation(
    bp,
    "/organisations/{org_id}/members",
    "GET",
    summary="Users of an organisation (its admins and staff)",
    tag="organisations",
    response=lambda: s.UserListResponse,
    roles=STAFF_OR_AGENCY_ADMIN,
)
def list_members(call: Call[Any, Any]) -> s.UserListResponse:
    members = organisations.list_members(call.container.accounts, call.user, call.path["org_id"])
    return s.UserListResponse(items=[mappers.user_out(u) for u in members])


@operation(
    bp,
    "/client-companies",
    "GET",
    summary="Client companies by status (staff: pending approvals)",
    tag="organisations",
    query=lambda: s.OrganisationStatusQuery,
    response=lambda: s.OrganisationListResponse,
    roles=STAFF,
)
def list_client_companies(call: Call[Any, s.OrganisationStatusQuery]) -> s.OrganisationListResponse:
    orgs = organisations.list_client_companies(call.container.accounts, call.user, call.query.status)
    return s.OrganisationListResponse(items=[mappers.organisation_out(o) for o in orgs])


@operation(
    bp,
    "/client-companies/{org_id}/approve",
    "POST",
    summary="Approve a client company (staff)",
    tag="organisations",
    request=lambda: s.ReviewRequest,
    response=lambda: s.OrganisationResponse,
    roles=STAFF,
    errors=(409,),
)
def approve_client_company(call: Call[s.ReviewRequest, Any]) -> s.OrganisationResponse:
    org = organisations.review_client_company(
        call.container.accounts, call.user, call.path["org_id"], approve=True, reason=call.body.reason
    )
    return mappers.organisation_out(org)


@operation(
    bp,
    "/client-companies/{org_id}/reject",
    "POST",
    summary="Reject a client company (staff)",
    tag="organisations",
    request=lambda: s.RejectRequest,
    response=lambda: s.OrganisationResponse,
    roles=STAFF,
    errors=(409,),
)
def reject_client_company(call: Call[s.RejectRequest, Any]) -> s.OrganisationResponse:
    org = organisations.review_client_company(
        call.container.accounts, call.user, call.path["org_id"], approve=False, reason=call.body.reason
    )
    return mappers.organisation_out(org)


@operation(
    bp,
    "/agencies/{agency_id}/invitations",
    "POST",
    summary="Invite a consultant; the code goes to the consultant by e-mail only",
    tag="invitations",
    request=lambda: s.CreateInvitationRequest,
    response=lambda: s.InvitationResponse,
    status=201,
    roles=AGENCY_ADMIN,
    errors=(409,),
)
def create_invitation(call: Call[s.CreateInvitationRequest, Any]) -> s.InvitationResponse:
    return mappers.invitation_out(
        invitations.invite_consultant(call.container.accounts, call.user, call.path["agency_id"], call.body.email)
    )


@operation(
    bp,
    "/agencies/{agency_id}/invitations",
    "GET",
    summary="An agency's invitations",
    tag="invitations",
    response=lambda: s.InvitationListResponse,
    roles=STAFF_OR_AGENCY_ADMIN,
)
def list_invitations(call: Call[Any, Any]) -> s.InvitationListResponse:
    items = invitations.list_invitations(call.container.accounts, call.user, call.path["agency_id"])
    return s.InvitationListResponse(items=[mappers.invitation_out(i) for i in items])
