"""Registration, verification, invitations and organisations on in-memory fakes."""

from __future__ import annotations

import re

import pytest

from chalicelib.domain.accounts import InvitationStatus, OrgStatus, UserStatus
from chalicelib.domain.consent import ConsentPurpose
from chalicelib.domain.identity import Principal, RequestContext, Role
from chalicelib.errors import ConcurrencyConflict, Conflict, Forbidden, InvalidInput, NotFound, UpstreamUnavailable
from chalicelib.schemas.accounts import AgencyRegistrationRequest, ClientRegistrationRequest, ConsultantRegistrationRequest
from chalicelib.services import invitations, organisations, registration
from chalicelib.services.ports import Changes, IdentityUser
from tests import builders
from tests.fakes import World, make_world

CTX = RequestContext(ip="203.0.113.7", user_agent="pytest")


@pytest.fixture
def world() -> World:
    return make_world()


def mail_code(world: World, to: str, label: str) -> str:
    """The code in the newest outbox message to ``to`` (label: 'invitation' or 'verification')."""
    [*_, mail] = [m for m in world.db.outbox() if m.to == to]
    match = re.search(rf"(?:{label} code|{builders.SWEDISH_CODE_LABELS[label]}): (\S+)", mail.text)
    assert match, mail.text
    return match.group(1)


def verify(world: World, registered: registration.Registered) -> registration.Registered:
    user = registration.verify_email(world.accounts, registered.user.email, mail_code(world, registered.user.email, "verification"))
    return registration.Registered(user, registered.organisation)


def register_agency(world: World, email: str = "admin@acme.example", number: str | None = None) -> registration.Registered:
    body = AgencyRegistrationRequest.model_validate(builders.agency_registration(email, number))
    return verify(world, registration.register_agency(world.accounts, body, CTX))


def principal_of(registered: registration.Registered) -> Principal:
    return Principal(registered.user.user_id, registered.user.roles, registered.user.org_id)


def invite(world: World, agency: registration.Registered, email: str) -> str:
    assert agency.organisation is not None
    invitations.invite_consultant(world.accounts, principal_of(agency), agency.organisation.org_id, email)
    return mail_code(world, email.lower(), "invitation")


def staff(world: World) -> Principal:
    """The one staff user of a world (created on first use)."""
    email = "staff@customersonly.example"
    user_id = world.db.claim_owner("email", email)
    user = world.db.get_user(user_id) if user_id else None
    if user is None:
        user = registration.create_staff_user(world.accounts, email=email, name="Stina", password=builders.PASSWORD)
    return Principal(user.user_id, user.roles)


def register_invited(world: World, email: str, code: str, **extra: object) -> registration.Registered:
    body = ConsultantRegistrationRequest.model_validate(builders.consultant_registration(email, code, **extra))
    return registration.register_consultant(world.accounts, body, CTX)


def test_agency_registration_stores_everything_and_records_processing_consent(world: World) -> None:
    body = AgencyRegistrationRequest.model_validate(builders.agency_registration())
    result = registration.register_agency(world.accounts, body, CTX)

    assert result.organisation is not None and result.organisation.status is OrgStatus.ACTIVE
    assert result.user.roles == {Role.AGENCY_ADMIN} and result.user.org_id == result.organisation.org_id
    stored = world.db.get_user(result.user.user_id)
    assert stored is not None and stored.status is UserStatus.PENDING_VERIFICATION
    assert world.db.claim_owner("email", "admin@acme.example") == result.user.user_id
    [entry] = world.consents.ledger.list_for_subject(result.user.user_id)
    assert entry.purpose is ConsentPurpose.PLATFORM_PROCESSING
    assert entry.notice_version == builders.consent_fields()["privacy_notice_version"] and len(entry.notice_sha256 or "") == 64
    assert (entry.ip, entry.user_agent) == ("203.0.113.7", "pytest")
    assert [a.action.value for a in world.consents.audit.list_for_subject(result.user.user_id)] == ["consent.given"]


def test_a_self_registered_account_becomes_active_with_the_mailed_code_only(world: World) -> None:
    body = AgencyRegistrationRequest.model_validate(builders.agency_registration())
    pending = registration.register_agency(world.accounts, body, CTX)
    code = mail_code(world, "admin@acme.example", "verification")
    stored = world.db.get_user(pending.user.user_id)
    assert stored is not None and code not in repr(stored)  # only the hash is kept
    with pytest.raises(InvalidInput):
        registration.verify_email(world.accounts, "admin@acme.example", "x" * 32)
    with pytest.raises(InvalidInput):
        registration.verify_email(world.accounts, "nobody@acme.example", code)
    active = registration.verify_email(world.accounts, "Admin@Acme.example", code)
    assert active.status is UserStatus.ACTIVE and world.identity.users["admin@acme.example"]["verified"]
    assert registration.verify_email(world.accounts, "admin@acme.example", code).status is UserStatus.ACTIVE  # a second click


def test_a_code_can_be_sent_again_but_the_deadline_stays(world: World) -> None:
    body = AgencyRegistrationRequest.model_validate(builders.agency_registration())
    registration.register_agency(world.accounts, body, CTX)
    old = mail_code(world, "admin@acme.example", "verification")
    world.clock.advance(days=3)
    registration.resend_verification(world.accounts, "admin@acme.example")
    registration.resend_verification(world.accounts, "unknown@acme.example")  # says nothing, sends nothing
    new = mail_code(world, "admin@acme.example", "verification")
    assert new != old and [m for m in world.db.outbox() if m.to == "unknown@acme.example"] == []
    with pytest.raises(InvalidInput):
        registration.verify_email(world.accounts, "admin@acme.example", old)
    world.clock.advance(days=5)  # 8 days after registering: past the deadline, resending did not move it
    with pytest.raises(InvalidInput):
        registration.verify_email(world.accounts, "admin@acme.example", new)
    registration.resend_verification(world.accounts, "admin@acme.example")
    assert mail_code(world, "admin@acme.example", "verification") == new  # nothing more was sent


def test_an_abandoned_registration_frees_its_email_and_organisation_number(world: World) -> None:
    squat = AgencyRegistrationRequest.model_validate(builders.agency_registration("admin@acme.example", "556677-8899"))
    abandoned = registration.register_agency(world.accounts, squat, CTX)
    with pytest.raises(Conflict):  # still waiting for confirmation: the values stay taken
        registration.register_agency(world.accounts, squat, CTX)
    world.clock.advance(days=8)
    real = registration.register_agency(world.accounts, squat, CTX)
    assert real.user.user_id != abandoned.user.user_id
    assert world.db.get_user(abandoned.user.user_id) is None and world.db.get_organisation(abandoned.organisation.org_id) is None
    assert world.db.claim_owner("email", "admin@acme.example") == real.user.user_id
    assert world.db.claim_owner("organisation_number", "SE:5566778899") == real.organisation.org_id
    assert world.identity.find_user("admin@acme.example").subject == real.user.user_id  # type: ignore[union-attr]
    assert world.consents.ledger.list_for_subject(abandoned.user.user_id)  # the ledger forgets nothing

    # The same organisation number under another e-mail is freed the same way.
    other = AgencyRegistrationRequest.model_validate(builders.agency_registration("someone@else.example", "556677-0000"))
    registration.register_agency(world.accounts, other, CTX)
    world.clock.advance(days=8)
    again = AgencyRegistrationRequest.model_validate(builders.agency_registration("owner@else.example", "556677-0000"))
    assert registration.register_agency(world.accounts, again, CTX).organisation is not None


def test_a_confirmed_account_is_never_released(world: World) -> None:
    register_agency(world, number="556677-8899")
    world.clock.advance(days=30)
    with pytest.raises(Conflict):
        register_agency(world, number="556677-8899")
    with pytest.raises(Conflict):
        register_agency(world, email="other@acme.example", number="556677-8899")


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


def test_a_transient_database_error_is_retried_with_the_same_request_token(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    commit, tokens = world.db.commit, []

    def fails_once(changes: Changes) -> None:
        tokens.append(changes.request_token)
        if len(tokens) == 1:
            raise TimeoutError("no answer")
        commit(changes)

    monkeypatch.setattr(world.db, "commit", fails_once)
    registered = register_agency(world)
    assert tokens[0] == tokens[1] == registered.user.user_id
    assert world.db.get_user(registered.user.user_id) is not None


def test_an_unknown_outcome_is_not_compensated_but_reported(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    def never_answers(changes: Changes) -> None:
        raise TimeoutError("no answer")

    monkeypatch.setattr(world.db, "commit", never_answers)
    with pytest.raises(UpstreamUnavailable):
        register_agency(world)
    # The commit may still land, so the Cognito user stays: the orphan clean-up removes it if it did not.
    assert "admin@acme.example" in world.identity.users and world.db.items == {}


def test_lost_race_on_the_email_claim_is_a_conflict_and_compensated(world: World) -> None:
    # Another registration committed the same e-mail between our pre-check and our transaction.
    world.db.fail_next_commit = ConcurrencyConflict("lost", ["ConditionalCheckFailed"])
    with pytest.raises(Conflict) as raised:
        register_agency(world)
    assert raised.value.issues[0].field == "admin.email"
    assert world.identity.users == {}


def test_a_commit_that_landed_despite_an_error_is_a_success_not_compensated(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    commit, calls = world.db.commit, []

    def lands_then_times_out(changes: Changes) -> None:
        calls.append(changes)
        commit(changes)
        if len(calls) == 1:
            raise TimeoutError("response lost")

    monkeypatch.setattr(world.db, "commit", lands_then_times_out)
    body = AgencyRegistrationRequest.model_validate(builders.agency_registration())
    result = registration.register_agency(world.accounts, body, CTX)
    assert "admin@acme.example" in world.identity.users
    assert world.db.get_user(result.user.user_id) is not None


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


def test_outdated_or_unaccepted_privacy_notice_is_refused_before_anything_exists(world: World) -> None:
    body = AgencyRegistrationRequest.model_validate({**builders.agency_registration(), "privacy_notice_version": "2020-01-01"})
    with pytest.raises(InvalidInput) as raised:
        registration.register_agency(world.accounts, body, CTX)
    assert raised.value.issues[0].code == "outdated"
    body = AgencyRegistrationRequest.model_validate({**builders.agency_registration(), "accept_privacy_notice": False})
    with pytest.raises(InvalidInput):
        registration.register_agency(world.accounts, body, CTX)
    assert world.identity.users == {} and world.db.items == {}


def test_consultant_joins_an_agency_with_its_mailed_invitation_once(world: World) -> None:
    agency = register_agency(world)
    code = invite(world, agency, "Cecilia@Consultant.example")
    consultant = register_invited(world, "cecilia@consultant.example", code)
    assert consultant.user.roles == {Role.CONSULTANT} and consultant.user.org_id == agency.organisation.org_id
    stored = world.db.get_user(consultant.user.user_id)
    assert stored is not None and stored.status is UserStatus.ACTIVE  # the code proved the address
    assert world.identity.users["cecilia@consultant.example"]["verified"]
    [used] = world.db.list_invitations(agency.organisation.org_id)
    assert used.status is InvitationStatus.USED and used.used_by == consultant.user.user_id
    members = organisations.list_members(world.accounts, principal_of(agency), agency.organisation.org_id)
    assert {u.user_id for u in members} == {agency.user.user_id, consultant.user.user_id}
    with pytest.raises(InvalidInput):
        register_invited(world, "cecilia@consultant.example", code)


@pytest.mark.parametrize("case", ["unknown", "other_email", "expired"])
def test_unusable_invitations_are_refused_before_anything_is_created(world: World, case: str) -> None:
    agency = register_agency(world)
    code, email = invite(world, agency, "cecilia@consultant.example"), "cecilia@consultant.example"
    if case == "unknown":
        code = "x" * 32
    elif case == "other_email":
        email = "mallory@evil.example"
    else:
        world.clock.advance(days=15)
    with pytest.raises(InvalidInput):
        register_invited(world, email, code)
    assert set(world.identity.users) == {"admin@acme.example"}


def test_invitation_used_concurrently_is_a_conflict_and_compensated(world: World) -> None:
    agency = register_agency(world)
    code = invite(world, agency, "cecilia@consultant.example")
    # claim, user, consent, audit, then the invitation transition: the last precondition fails.
    world.db.fail_next_commit = ConcurrencyConflict("lost", [None, None, None, None, "ConditionalCheckFailed"])
    with pytest.raises(Conflict) as raised:
        register_invited(world, "cecilia@consultant.example", code)
    assert raised.value.issues[0].field == "invitation_code"
    assert "cecilia@consultant.example" not in world.identity.users


def test_independent_consultant_gets_a_one_person_agency(world: World) -> None:
    body = ConsultantRegistrationRequest.model_validate(builders.consultant_registration(company_name="Cecilia AB"))
    result = verify(world, registration.register_consultant(world.accounts, body, CTX))
    assert result.organisation is not None and result.organisation.independent and result.organisation.name == "Cecilia AB"
    assert result.user.roles == {Role.CONSULTANT, Role.AGENCY_ADMIN}
    with pytest.raises(Conflict):
        invitations.invite_consultant(world.accounts, principal_of(result), result.organisation.org_id, "friend@example.com")


def test_an_independent_consultant_accepts_an_agency_invitation(world: World) -> None:
    body = ConsultantRegistrationRequest.model_validate(builders.consultant_registration("cecilia@consultant.example"))
    independent = verify(world, registration.register_consultant(world.accounts, body, CTX))
    agency = register_agency(world)
    code = invite(world, agency, "cecilia@consultant.example")
    with pytest.raises(Forbidden):
        invitations.accept_invitation(world.accounts, principal_of(agency), code, False, CTX, world.db)
    joined = invitations.accept_invitation(world.accounts, principal_of(independent), code, False, CTX, world.db)
    assert joined.org_id == agency.organisation.org_id
    member = world.db.get_user(independent.user.user_id)
    assert member is not None and member.org_id == agency.organisation.org_id and member.roles == {Role.CONSULTANT}
    assert world.identity.users["cecilia@consultant.example"]["roles"] == {Role.CONSULTANT}
    with pytest.raises(InvalidInput):  # used
        invitations.accept_invitation(world.accounts, Principal(member.user_id, member.roles, member.org_id), code, False, CTX, world.db)
    second = invite(world, register_agency(world, email="boss@other.example"), "cecilia@consultant.example")
    with pytest.raises(Conflict):  # already in an agency
        invitations.accept_invitation(world.accounts, Principal(member.user_id, member.roles, member.org_id), second, False, CTX, world.db)


def test_client_company_waits_for_staff_approval(world: World) -> None:
    body = ClientRegistrationRequest.model_validate(builders.client_registration())
    client = verify(world, registration.register_client(world.accounts, body, CTX))
    assert client.organisation is not None and client.organisation.status is OrgStatus.PENDING_APPROVAL
    with pytest.raises(Conflict):
        client.organisation.ensure_can_post_assignments()

    staff = registration.create_staff_user(world.accounts, email="staff@customersonly.example", name="Stina", password=builders.PASSWORD)
    staff_principal = Principal(staff.user_id, staff.roles)
    org_id = client.organisation.org_id
    assert [o.org_id for o in organisations.list_client_companies(world.accounts, staff_principal, OrgStatus.PENDING_APPROVAL)] == [org_id]
    with pytest.raises(Forbidden):
        organisations.review_client_company(world.accounts, principal_of(client), org_id, approve=True, reason=None)
    approved = organisations.review_client_company(world.accounts, staff_principal, org_id, approve=True, reason=None)
    assert approved.status is OrgStatus.ACTIVE
    approved.ensure_can_post_assignments()
    with pytest.raises(Conflict):
        organisations.review_client_company(world.accounts, staff_principal, org_id, approve=False, reason="late")
    actions = [e.action.value for e in world.consents.audit.list_for_subject(org_id)]
    assert actions == ["organisation.read", "organisation.approved"]  # staff's read of the pending list, then the decision


def test_organisations_are_visible_to_members_and_staff_only(world: World) -> None:
    mine, other = register_agency(world), register_agency(world, email="boss@other.example")
    assert mine.organisation is not None and other.organisation is not None
    me = principal_of(mine)
    assert organisations.get_organisation(world.accounts, me, mine.organisation.org_id).org_id == mine.organisation.org_id
    with pytest.raises(NotFound):
        organisations.get_organisation(world.accounts, me, other.organisation.org_id)
    with pytest.raises(NotFound):
        organisations.list_members(world.accounts, me, other.organisation.org_id)
    with pytest.raises(NotFound):
        invitations.invite_consultant(world.accounts, me, other.organisation.org_id, "x@example.com")
    with pytest.raises(NotFound):
        invitations.list_invitations(world.accounts, me, other.organisation.org_id)


def test_staff_reads_of_people_are_audited_per_person_and_tenant_reads_are_not(world: World) -> None:
    agency = register_agency(world)
    consultant = register_invited(world, "cecilia@consultant.example", invite(world, agency, "cecilia@consultant.example")).user
    org_id = agency.organisation.org_id
    organisations.list_members(world.accounts, principal_of(agency), org_id)
    invitations.list_invitations(world.accounts, principal_of(agency), org_id)
    assert "user.read" not in [e.action.value for e in world.consents.audit.list_for_subject(consultant.user_id)]

    staff = registration.create_staff_user(world.accounts, email="staff@customersonly.example", name="Stina", password=builders.PASSWORD)
    staff_principal = Principal(staff.user_id, staff.roles)
    organisations.list_members(world.accounts, staff_principal, org_id)
    invitations.list_invitations(world.accounts, staff_principal, org_id)
    organisations.get_organisation(world.accounts, staff_principal, org_id)
    for person in (agency.user.user_id, consultant.user_id):
        reads = [e for e in world.consents.audit.list_for_subject(person) if e.action.value == "user.read"]
        assert [r.actor_id for r in reads] == [staff.user_id]
    assert [e.action.value for e in world.consents.audit.list_for_subject(consultant.user_id)][-1] == "invitation.read"
    assert [e.action.value for e in world.consents.audit.list_for_subject(org_id)] == ["organisation.read"]


def test_orphan_clean_up_never_deletes_a_user_that_replaced_the_orphan(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    world.identity.create_user("admin@acme.example", builders.PASSWORD, [Role.AGENCY_ADMIN])  # an old orphan
    world.clock.advance(minutes=16)
    find_user = world.identity.find_user
    replacement: list[object] = []

    def replaced_between_looks(email: str) -> IdentityUser | None:
        if len(replacement) == 0 and find_user(email) is not None and world.identity.users[email].get("looked"):
            # A concurrent registration deleted the orphan and created its own user between our two looks.
            world.identity.users.pop(email)
            world.identity.create_user(email, builders.PASSWORD, [Role.AGENCY_ADMIN])
            replacement.append(world.identity.users[email])
        elif email in world.identity.users:
            world.identity.users[email]["looked"] = True
        return find_user(email)

    monkeypatch.setattr(world.identity, "find_user", replaced_between_looks)
    with pytest.raises(Conflict):
        register_agency(world)
    assert replacement and world.identity.users["admin@acme.example"] is replacement[0]  # the newcomer's user survives


def test_two_invitations_accepted_at_once_cannot_both_move_the_consultant(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    body = ConsultantRegistrationRequest.model_validate(
        builders.consultant_registration("cecilia@consultant.example", organisation_number="5599001122")
    )
    independent = verify(world, registration.register_consultant(world.accounts, body, CTX))
    first = invite(world, register_agency(world), "cecilia@consultant.example")
    second = invite(world, register_agency(world, email="boss@other.example"), "cecilia@consultant.example")
    stale = world.db.get_user(independent.user.user_id)
    invitations.accept_invitation(world.accounts, principal_of(independent), first, False, CTX, world.db)
    # The second request read the user before the first one committed.
    get_organisation = world.db.get_organisation
    monkeypatch.setattr(world.db, "get_user", lambda user_id: stale)
    monkeypatch.setattr(
        world.db, "get_organisation", lambda org_id: independent.organisation if org_id == stale.org_id else get_organisation(org_id)
    )
    with pytest.raises(Conflict):
        invitations.accept_invitation(world.accounts, principal_of(independent), second, False, CTX, world.db)


def test_joining_an_agency_closes_the_one_person_agency_and_frees_its_number(world: World) -> None:
    body = ConsultantRegistrationRequest.model_validate(
        builders.consultant_registration("cecilia@consultant.example", organisation_number="5599001122")
    )
    independent = verify(world, registration.register_consultant(world.accounts, body, CTX))
    invitations.accept_invitation(
        world.accounts, principal_of(independent), invite(world, register_agency(world), "cecilia@consultant.example"), False, CTX, world.db
    )
    closed = world.db.get_organisation(independent.organisation.org_id)
    assert closed is not None and closed.status is OrgStatus.CLOSED
    assert world.db.claim_owner("organisation_number", "SE:5599001122") is None


def test_resending_is_limited_and_only_for_pending_accounts(world: World) -> None:
    body = AgencyRegistrationRequest.model_validate(builders.agency_registration("a+b@acme.example"))
    registration.register_agency(world.accounts, body, CTX)
    [mail] = world.db.outbox()
    assert "email=a%2Bb%40acme.example" in mail.text  # the link survives a '+' in the address
    registration.resend_verification(world.accounts, "a+b@acme.example")
    assert len(world.db.outbox()) == 1  # within a minute of the last message: nothing
    world.clock.advance(minutes=2)
    registration.resend_verification(world.accounts, "a+b@acme.example")
    assert len(world.db.outbox()) == 2
    registration.verify_email(world.accounts, "a+b@acme.example", mail_code(world, "a+b@acme.example", "verification"))
    world.clock.advance(minutes=2)
    registration.resend_verification(world.accounts, "a+b@acme.example")
    assert len(world.db.outbox()) == 2  # confirmed accounts get no codes
