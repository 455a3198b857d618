"""Registration services on in-memory fakes: happy paths, duplicates, compensation, invitations."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.domain.accounts import InvitationStatus, OrgStatus
from chalicelib.domain.consent import ConsentPurpose
from chalicelib.domain.identity import Principal, RequestContext, Role
from chalicelib.errors import ConcurrencyConflict, Conflict, Forbidden, InvalidInput, NotFound
from chalicelib.schemas.accounts import AgencyRegistrationRequest, ClientRegistrationRequest, ConsultantRegistrationRequest
from chalicelib.services import accounts as service
from tests import builders
from tests.fakes import World, make_world

CTX = RequestContext(ip="203.0.113.7", user_agent="pytest")


@pytest.fixture
def world() -> World:
    return make_world()


def register_agency(world: World, email: str = "admin@acme.example", number: str | None = None) -> service.Registered:
    body = AgencyRegistrationRequest.model_validate(builders.agency_registration(email, number))
    return service.register_agency(world.accounts, body, CTX)


def principal_of(registered: service.Registered) -> Principal:
    return Principal(registered.user.user_id, registered.user.roles, registered.user.org_id)


def invite(world: World, agency: service.Registered, email: str) -> service.IssuedInvitation:
    return service.invite_consultant(
        world.accounts, principal_of(agency), agency.organisation.org_id, email, ttl=timedelta(days=14), web_base_url="https://app.example"
    )


def test_agency_registration_stores_everything_and_records_processing_consent(world: World) -> None:
    result = register_agency(world)

    assert result.organisation is not None and result.organisation.status is OrgStatus.ACTIVE
    assert result.user.roles == {Role.AGENCY_ADMIN} and result.user.org_id == result.organisation.org_id
    assert world.db.get_user(result.user.user_id) == result.user
    assert world.db.claim_owner("email", "admin@acme.example") == result.user.user_id
    [entry] = world.consents.ledger.list_for_subject(result.user.user_id)
    assert entry.purpose is ConsentPurpose.PLATFORM_PROCESSING
    assert entry.notice_version == builders.consent_fields()["privacy_notice_version"] and len(entry.notice_sha256 or "") == 64
    assert (entry.ip, entry.user_agent) == ("203.0.113.7", "pytest")
    assert [a.action.value for a in world.consents.audit.list_for_subject(result.user.user_id)] == ["consent.given"]


def test_duplicate_email_is_a_conflict_and_creates_nothing(world: World) -> None:
    register_agency(world)
    items_before, users_before = dict(world.db.items), dict(world.identity.users)
    with pytest.raises(Conflict) as raised:
        register_agency(world, email="ADMIN@acme.example ")
    assert raised.value.issues[0].field == "admin.email"
    assert world.db.items == items_before and world.identity.users == users_before


def test_duplicate_organisation_number_is_a_conflict(world: World) -> None:
    register_agency(world, number="556677-8899")
    with pytest.raises(Conflict) as raised:
        register_agency(world, email="other@acme.example", number="5566778899")  # same number, other formatting
    assert raised.value.issues[0].field == "organisation.organisation_number"
    assert "other@acme.example" not in world.identity.users


def test_failed_database_write_deletes_the_cognito_user_again(world: World) -> None:
    world.db.fail_next_commit = RuntimeError("DynamoDB unavailable")
    with pytest.raises(RuntimeError):
        register_agency(world)
    assert world.identity.users == {} and world.db.items == {}


def test_lost_race_on_the_email_claim_is_a_conflict_and_compensated(world: World) -> None:
    # Another registration committed the same e-mail between our pre-check and our transaction.
    world.db.fail_next_commit = ConcurrencyConflict("lost", [None, None, "ConditionalCheckFailed", None, None, None])
    with pytest.raises(Conflict) as raised:
        register_agency(world)
    assert raised.value.issues[0].field == "admin.email"
    assert world.identity.users == {}


def test_cognito_failure_writes_nothing(world: World) -> None:
    world.identity.fail_create = InvalidInput("weak")
    with pytest.raises(InvalidInput):
        register_agency(world)
    assert world.db.items == {}


def test_an_old_orphaned_cognito_user_is_replaced_but_a_young_one_is_not(world: World) -> None:
    world.identity.create_user("admin@acme.example", builders.PASSWORD, [Role.AGENCY_ADMIN])  # no DynamoDB records
    with pytest.raises(Conflict):
        register_agency(world)  # may be a registration in flight
    world.clock.advance(minutes=16)
    assert register_agency(world).user.email == "admin@acme.example"


def test_outdated_or_unaccepted_privacy_notice_is_refused(world: World) -> None:
    body = AgencyRegistrationRequest.model_validate({**builders.agency_registration(), "privacy_notice_version": "2020-01-01"})
    with pytest.raises(InvalidInput) as raised:
        service.register_agency(world.accounts, body, CTX)
    assert raised.value.issues[0].code == "outdated"
    body = AgencyRegistrationRequest.model_validate({**builders.agency_registration(), "accept_privacy_notice": False})
    with pytest.raises(InvalidInput):
        service.register_agency(world.accounts, body, CTX)
    assert world.identity.users == {}


def test_consultant_joins_an_agency_with_its_invitation_once(world: World) -> None:
    agency = register_agency(world)
    issued = invite(world, agency, "Cecilia@Consultant.example")
    [mail] = world.db.outbox()
    assert mail.to == "cecilia@consultant.example" and issued.code in mail.text

    body = ConsultantRegistrationRequest.model_validate(builders.consultant_registration("cecilia@consultant.example", issued.code))
    consultant = service.register_consultant(world.accounts, body, CTX)
    assert consultant.user.roles == {Role.CONSULTANT} and consultant.user.org_id == agency.organisation.org_id
    assert world.db.get_invitation(issued.invitation.code_hash).status is InvitationStatus.USED
    members = service.list_members(world.accounts, principal_of(agency), agency.organisation.org_id)
    assert {u.user_id for u in members} == {agency.user.user_id, consultant.user.user_id}

    again = ConsultantRegistrationRequest.model_validate(builders.consultant_registration("cecilia@consultant.example", issued.code))
    with pytest.raises((InvalidInput, Conflict)):
        service.register_consultant(world.accounts, again, CTX)


@pytest.mark.parametrize("case", ["unknown", "other_email", "expired"])
def test_unusable_invitations_are_refused_before_anything_is_created(world: World, case: str) -> None:
    agency = register_agency(world)
    issued = invite(world, agency, "cecilia@consultant.example")
    code, email = issued.code, "cecilia@consultant.example"
    if case == "unknown":
        code = "x" * 32
    elif case == "other_email":
        email = "mallory@evil.example"
    else:
        world.clock.advance(days=15)
    body = ConsultantRegistrationRequest.model_validate(builders.consultant_registration(email, code))
    with pytest.raises(InvalidInput):
        service.register_consultant(world.accounts, body, CTX)
    assert set(world.identity.users) == {"admin@acme.example"}


def test_invitation_used_concurrently_is_a_conflict_and_compensated(world: World) -> None:
    agency = register_agency(world)
    issued = invite(world, agency, "cecilia@consultant.example")
    body = ConsultantRegistrationRequest.model_validate(builders.consultant_registration("cecilia@consultant.example", issued.code))
    # claim, user, consent, audit, then the invitation transition: the last precondition fails.
    world.db.fail_next_commit = ConcurrencyConflict("lost", [None, None, None, None, "ConditionalCheckFailed"])
    with pytest.raises(Conflict) as raised:
        service.register_consultant(world.accounts, body, CTX)
    assert raised.value.issues[0].field == "invitation_code"
    assert "cecilia@consultant.example" not in world.identity.users


def test_independent_consultant_gets_a_one_person_agency(world: World) -> None:
    body = ConsultantRegistrationRequest.model_validate(builders.consultant_registration(company_name="Cecilia AB"))
    result = service.register_consultant(world.accounts, body, CTX)
    assert result.organisation is not None and result.organisation.independent and result.organisation.name == "Cecilia AB"
    assert result.user.roles == {Role.CONSULTANT, Role.AGENCY_ADMIN}
    with pytest.raises(Conflict):
        invite(world, result, "friend@example.com")  # a one-person company does not invite others


def test_client_company_waits_for_staff_approval(world: World) -> None:
    body = ClientRegistrationRequest.model_validate(builders.client_registration())
    client = service.register_client(world.accounts, body, CTX)
    assert client.organisation.status is OrgStatus.PENDING_APPROVAL
    with pytest.raises(Conflict):
        client.organisation.ensure_can_post_assignments()

    staff = service.create_staff_user(world.accounts, email="staff@customersonly.example", name="Stina Staff", password=builders.PASSWORD)
    staff_principal = Principal(staff.user_id, staff.roles)
    assert [o.org_id for o in service.list_client_companies(world.accounts, staff_principal, OrgStatus.PENDING_APPROVAL)] == [
        client.organisation.org_id
    ]
    with pytest.raises(Forbidden):
        service.review_client_company(world.accounts, principal_of(client), client.organisation.org_id, approve=True, reason=None)
    approved = service.review_client_company(world.accounts, staff_principal, client.organisation.org_id, approve=True, reason=None)
    assert approved.status is OrgStatus.ACTIVE
    approved.ensure_can_post_assignments()
    with pytest.raises(Conflict):
        service.review_client_company(world.accounts, staff_principal, client.organisation.org_id, approve=False, reason="late")
    actions = [e.action.value for e in world.consents.audit.list_for_subject(client.organisation.org_id)]
    assert actions == ["organisation.read", "organisation.approved"]  # staff's read of the pending list, then the decision


def test_organisations_are_visible_to_members_and_staff_only(world: World) -> None:
    mine, other = register_agency(world), register_agency(world, email="boss@other.example")
    assert service.get_organisation(world.accounts, principal_of(mine), mine.organisation.org_id).org_id == mine.organisation.org_id
    with pytest.raises(NotFound):
        service.get_organisation(world.accounts, principal_of(mine), other.organisation.org_id)
    with pytest.raises(NotFound):
        service.list_members(world.accounts, principal_of(mine), other.organisation.org_id)
    with pytest.raises(NotFound):
        service.invite_consultant(
            world.accounts, principal_of(mine), other.organisation.org_id, "x@example.com", ttl=timedelta(days=1), web_base_url=""
        )


def test_staff_reads_of_people_are_audited_per_person_and_tenant_reads_are_not(world: World) -> None:
    agency = register_agency(world)
    issued = invite(world, agency, "cecilia@consultant.example")
    consultant = service.register_consultant(
        world.accounts,
        ConsultantRegistrationRequest.model_validate(builders.consultant_registration("cecilia@consultant.example", issued.code)),
        CTX,
    ).user
    org_id = agency.organisation.org_id
    service.list_members(world.accounts, principal_of(agency), org_id)
    service.list_invitations(world.accounts, principal_of(agency), org_id)
    assert "user.read" not in [e.action.value for e in world.consents.audit.list_for_subject(consultant.user_id)]

    staff = service.create_staff_user(world.accounts, email="staff@customersonly.example", name="Stina", password=builders.PASSWORD)
    staff_principal = Principal(staff.user_id, staff.roles)
    service.list_members(world.accounts, staff_principal, org_id)
    service.list_invitations(world.accounts, staff_principal, org_id)
    service.get_organisation(world.accounts, staff_principal, org_id)
    for person in (agency.user.user_id, consultant.user_id):
        reads = [e for e in world.consents.audit.list_for_subject(person) if e.action.value == "user.read"]
        assert [r.actor_id for r in reads] == [staff.user_id]
    assert [e.action.value for e in world.consents.audit.list_for_subject(consultant.user_id)][-1] == "invitation.read"
    assert [e.action.value for e in world.consents.audit.list_for_subject(org_id)] == ["organisation.read"]
