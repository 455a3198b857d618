"""My Profile: who may read and edit it, and what a saved profile holds."""

from __future__ import annotations

from datetime import date

import pytest

from chalicelib.domain.consent import ConsentPurpose, in_force
from chalicelib.domain.identity import Principal
from chalicelib.domain.money import HourlyRate
from chalicelib.domain.profiles import LanguageLevel, RemotePreference
from chalicelib.errors import Forbidden, NotFound
from chalicelib.schemas.accounts import ConsultantRegistrationRequest, CreateConsentDocumentRequest
from chalicelib.schemas.profiles import ProfileIn
from chalicelib.services import consent_documents as docs
from chalicelib.services import consents, profiles, registration
from tests import builders
from tests.fakes import World, make_world
from tests.unit.test_consent_documents import PDF, POLICY
from tests.unit.test_registration import CTX, invite, mail_code, principal_of, register_agency, register_invited, verify

FULL = {
    "name": "Cecilia Consultant",
    "title": "Cloud architect",
    "summary": "Ten years of AWS.",
    "city": "Malmö",
    "country": "se",
    "remote_preference": "hybrid",
    "languages": [{"code": "SV", "level": "native"}, {"code": "en", "level": "C2"}],
    "availability": {"available_from": "2027-01-01", "share_of_full_time": 80},
    "expected_hourly_rate": {"amount_minor": 125_000, "currency": "SEK"},
}


@pytest.fixture
def world() -> World:
    return make_world()


def staff(world: World) -> Principal:
    user = registration.create_staff_user(world.accounts, email="staff@customersonly.example", name="Stina", password=builders.PASSWORD)
    return Principal(user.user_id, user.roles)


def test_a_consultant_starts_with_a_blank_profile_and_saves_it(world: World) -> None:
    agency = register_agency(world)
    me = principal_of(register_invited(world, "cecilia@consultant.example", invite(world, agency, "cecilia@consultant.example")))
    blank = profiles.my_profile(world.profiles, me)
    assert not blank.stored and blank.profile.name == "Cecilia Consultant" and blank.profile.title is None

    saved = profiles.save_my_profile(world.profiles, me, ProfileIn.model_validate(FULL))
    assert saved.agency_id == agency.organisation.org_id and saved.country == "SE" and saved.remote_preference is RemotePreference.HYBRID
    assert [(lang.code, lang.level) for lang in saved.languages] == [("sv", LanguageLevel.NATIVE), ("en", LanguageLevel.C2)]
    assert saved.availability is not None and saved.availability.available_from == date(2027, 1, 1)
    assert saved.expected_hourly_rate == HourlyRate(125_000, "SEK")
    view = profiles.my_profile(world.profiles, me)
    assert view.stored and view.profile == saved

    world.clock.advance(minutes=5)
    replaced = profiles.save_my_profile(world.profiles, me, ProfileIn.model_validate({"name": "Cecilia C."}))
    assert replaced.title is None and replaced.languages == [] and replaced.created_at == saved.created_at  # a PUT replaces


def test_reading_a_profile_the_agency_and_staff_may_others_may_not(world: World) -> None:
    agency, other = register_agency(world), register_agency(world, email="boss@other.example")
    consultant = register_invited(world, "cecilia@consultant.example", invite(world, agency, "cecilia@consultant.example"))
    profiles.save_my_profile(world.profiles, principal_of(consultant), ProfileIn.model_validate(FULL))
    user_id = consultant.user.user_id
    assert profiles.consultant_profile(world.profiles, principal_of(agency), user_id).profile.title == "Cloud architect"
    assert profiles.consultant_profile(world.profiles, staff(world), user_id).stored
    for outsider in (principal_of(other), principal_of(register_invited(world, "dan@x.example", invite(world, other, "dan@x.example")))):
        with pytest.raises(NotFound):
            profiles.consultant_profile(world.profiles, outsider, user_id)
    with pytest.raises(NotFound):  # an agency admin is no consultant
        profiles.consultant_profile(world.profiles, principal_of(agency), agency.user.user_id)
    reads = [e for e in world.consents.audit.list_for_subject(user_id) if e.action.value == "profile.read"]
    assert len(reads) == 1  # staff's read, not the agency's


def test_an_agency_edits_only_with_the_consultants_written_consent_in_force(world: World) -> None:
    agency = register_agency(world)
    plain = register_invited(world, "cecilia@consultant.example", invite(world, agency, "cecilia@consultant.example"))
    with pytest.raises(Forbidden):
        profiles.save_consultant_profile(world.profiles, principal_of(agency), plain.user.user_id, ProfileIn.model_validate(FULL))

    # On behalf: written consent uploaded, verified by staff, confirmed by the consultant.
    body = CreateConsentDocumentRequest(consultant_name="Rita", consultant_email="rita@consultant.example")
    document, _ = docs.create_consent_document(
        world.accounts, world.storage, POLICY, principal_of(agency), agency.organisation.org_id, body
    )
    version = world.storage.put(document.object_key, PDF)
    docs.record_upload(world.accounts, world.storage, POLICY, document.object_key, version)
    docs.verify_consent_document(world.accounts, world.storage, POLICY, staff(world), document.document_id)
    rita = register_invited(
        world, "rita@consultant.example", mail_code(world, "rita@consultant.example", "invitation"), confirm_agency_representation=True
    )
    saved = profiles.save_consultant_profile(world.profiles, principal_of(agency), rita.user.user_id, ProfileIn.model_validate(FULL))
    assert saved.updated_by == agency.user.user_id

    # Withdrawn consent ends the agency's right to edit at once.
    [representation] = in_force(world.consents.ledger.list_for_subject(rita.user.user_id), ConsentPurpose.AGENCY_REPRESENTATION)
    consents.withdraw_consent(world.consents, principal_of(rita), representation.given.entry_id, CTX)
    with pytest.raises(Forbidden):
        profiles.save_consultant_profile(world.profiles, principal_of(agency), rita.user.user_id, ProfileIn.model_validate(FULL))
    other = register_agency(world, email="boss@other.example")
    with pytest.raises(NotFound):
        profiles.save_consultant_profile(world.profiles, principal_of(other), rita.user.user_id, ProfileIn.model_validate(FULL))


def test_only_consultants_have_a_profile_of_their_own(world: World) -> None:
    agency = register_agency(world)
    with pytest.raises(Forbidden):
        profiles.my_profile(world.profiles, principal_of(agency))
    body = ConsultantRegistrationRequest.model_validate(builders.consultant_registration())
    independent = verify(world, registration.register_consultant(world.accounts, body, CTX))
    saved = profiles.save_consultant_profile(
        world.profiles, principal_of(independent), independent.user.user_id, ProfileIn.model_validate(FULL)
    )
    assert saved.agency_id == independent.organisation.org_id  # an independent edits its own through either door


@pytest.mark.parametrize(
    "change",
    [
        {"languages": [{"code": "sv", "level": "C2"}, {"code": "SV", "level": "B1"}]},
        {"languages": [{"code": "swe", "level": "C2"}]},
        {"availability": {"share_of_full_time": 0}},
        {"availability": {"share_of_full_time": 101}},
        {"expected_hourly_rate": {"amount_minor": -1, "currency": "SEK"}},
        {"expected_hourly_rate": {"amount_minor": 100, "currency": "BTC"}},
        {"expected_hourly_rate": {"amount_minor": 99.5, "currency": "SEK"}},
        {"summary": "x" * 4001},
        {"remote_preference": "moon"},
    ],
)
def test_invalid_profiles_are_refused_field_by_field(change: dict[str, object]) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        ProfileIn.model_validate({**FULL, **change})


def test_a_profile_follows_its_consultant_into_a_new_agency(world: World) -> None:
    body = ConsultantRegistrationRequest.model_validate(builders.consultant_registration("cecilia@consultant.example"))
    independent = verify(world, registration.register_consultant(world.accounts, body, CTX))
    me = principal_of(independent)
    profiles.save_my_profile(world.profiles, me, ProfileIn.model_validate(FULL))
    agency = register_agency(world)
    from chalicelib.services import invitations

    invitations.accept_invitation(world.accounts, me, invite(world, agency, "cecilia@consultant.example"), False, CTX, world.db)
    view = profiles.consultant_profile(world.profiles, principal_of(agency), independent.user.user_id)
    assert view.stored and view.profile.agency_id == agency.organisation.org_id and view.profile.title == "Cloud architect"
    stored = world.db.get_profile(independent.user.user_id)  # filed under the new agency, not only shown so
    assert stored is not None and stored.agency_id == agency.organisation.org_id
