"""The caller's own settings: the language of e-mails and notifications, the name."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from chalicelib.domain.accounts import Language
from chalicelib.errors import Conflict
from chalicelib.schemas.accounts import AgencyRegistrationRequest, ClientRegistrationRequest, ConsultantRegistrationRequest
from chalicelib.services import registration
from chalicelib.services.accounts import update_my_account
from chalicelib.services.ports import Changes
from tests import builders
from tests.fakes import World, make_world
from tests.unit.test_registration import CTX, principal_of, register_agency


@pytest.fixture
def world() -> World:
    return make_world()


def test_registrations_store_the_chosen_language_and_default_to_english(world: World) -> None:
    agency = registration.register_agency(
        world.accounts, AgencyRegistrationRequest.model_validate(builders.agency_registration(language="sv")), CTX
    )
    client = registration.register_client(world.accounts, ClientRegistrationRequest.model_validate(builders.client_registration()), CTX)
    body = ConsultantRegistrationRequest.model_validate(builders.consultant_registration(language="sv"))
    independent = registration.register_consultant(world.accounts, body, CTX)

    languages = {r.user.user_id: world.db.get_user(r.user.user_id).language for r in (agency, client, independent)}  # type: ignore[union-attr]
    assert languages == {agency.user.user_id: "sv", client.user.user_id: "en", independent.user.user_id: "sv"}
    assert all(isinstance(language, Language) for language in languages.values())


def test_an_unknown_language_is_refused() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        AgencyRegistrationRequest.model_validate(builders.agency_registration(language="de"))


def test_a_person_changes_language_and_name_and_only_what_is_given(world: World) -> None:
    agency = register_agency(world)
    me = principal_of(agency)

    changed = update_my_account(world.accounts, me, language=Language.SV)
    assert (changed.language, changed.name) == (Language.SV, agency.user.name)
    renamed = update_my_account(world.accounts, me, name="Anna Andersson")
    assert (renamed.language, renamed.name) == (Language.SV, "Anna Andersson")
    assert world.db.get_user(me.user_id) == renamed


def test_a_change_made_meanwhile_is_not_overwritten(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    agency = register_agency(world)
    me = principal_of(agency)
    stale = world.db.get_user(me.user_id)
    assert stale is not None
    # Someone moves the user between our read and our write (its index keys change).
    world.db.commit(Changes().transition(replace(stale, org_id="another-org"), stale.status.value))
    monkeypatch.setattr(world.db, "get_user", lambda _user_id: stale)
    with pytest.raises(Conflict):
        update_my_account(world.accounts, me, language=Language.SV)


def test_account_mails_follow_the_language_and_keep_their_codes_readable(world: World) -> None:
    from chalicelib.services import invitations
    from chalicelib.services.retention import RetentionPolicy, run_retention
    from tests.unit.test_registration import mail_code, register_invited, verify

    body = AgencyRegistrationRequest.model_validate(builders.agency_registration("anna@acme.example", language="sv"))
    registered = registration.register_agency(world.accounts, body, CTX)
    [verification] = [m for m in world.db.outbox() if m.to == "anna@acme.example"]
    assert verification.subject == "Bekräfta din e-postadress" and "Hej" not in verification.text
    assert verification.text.startswith("Välkommen till Customersonly, Anna Admin.")
    agency = verify(world, registered)  # with the Swedish code

    # The invitee has no account yet: the inviting admin's language is used.
    assert agency.organisation is not None
    invitations.invite_consultant(world.accounts, principal_of(agency), agency.organisation.org_id, "cecilia@consultant.example")
    [invitation] = [m for m in world.db.outbox() if m.to == "cecilia@consultant.example"]
    assert invitation.subject == "Acme Consulting AB bjuder in dig till Customersonly" and "Inbjudan går ut den" in invitation.text
    english = register_invited(world, "cecilia@consultant.example", mail_code(world, "cecilia@consultant.example", "invitation"))
    assert english.user.language is Language.EN  # the mail's language is not the account's

    swedish = update_my_account(world.accounts, principal_of(english), language=Language.SV)
    world.clock.advance(days=800)
    assert run_retention(world.erasure, RetentionPolicy(inactive_months=24, grace=timedelta(days=30))).notified == 1
    [notice] = [m for m in world.db.outbox() if m.to == swedish.email and m.message_id.startswith("retention-")]
    assert notice.subject == "Vill du behålla ditt konto på Customersonly?" and notice.text.startswith("Hej Cecilia Consultant,")


def test_english_account_mails_are_as_they_always_were(world: World) -> None:
    registered = register_agency(world)
    [verification] = [m for m in world.db.outbox() if m.to == registered.user.email]
    assert verification.subject == "Confirm your e-mail address"
    assert "Confirm your e-mail address to activate your account: http" in verification.text
    assert "Or enter the verification code: " in verification.text
