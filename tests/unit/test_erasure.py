"""Erasure removes everything about the person, keeps the consent evidence under a pseudonym, and can be
resumed after a crash at any step."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from chalicelib.domain.accounts import UserStatus
from chalicelib.domain.audit import AuditAction
from chalicelib.domain.consent import ConsentEntry
from chalicelib.domain.erasure import Erasure, ErasureReason
from chalicelib.domain.identity import Principal
from chalicelib.domain.resume import ResumePart
from chalicelib.errors import Conflict, Forbidden, InvalidInput, NotFound
from chalicelib.schemas.accounts import ConsultantRegistrationRequest
from chalicelib.schemas.profiles import ProfileIn
from chalicelib.services import erasure, privacy, profiles, registration
from chalicelib.services.notifications import notify
from chalicelib.services.ports import Changes
from tests import builders
from tests.fakes import World, make_world
from tests.unit.test_consent_documents import POLICY, create, verify_document
from tests.unit.test_consent_documents import upload as upload_consent_document
from tests.unit.test_files import CV
from tests.unit.test_files import upload as upload_file
from tests.unit.test_profiles import FULL
from tests.unit.test_registration import CTX, invite, mail_code, principal_of, register_agency, register_invited, staff, verify
from tests.unit.test_resume import EXAMPLES, add

EMAIL = "cecilia@consultant.example"


@pytest.fixture
def world() -> World:
    return make_world()


def consultant_with_everything(world: World) -> Principal:
    """A consultant invited on written consent, with a profile, a resume, a CV, a notification and an export."""
    agency = register_agency(world)
    document = verify_document(world, staff(world), upload_consent_document(world, create(world, agency)))
    assert document.consultant_email == EMAIL
    me = principal_of(register_invited(world, EMAIL, mail_code(world, EMAIL, "invitation"), confirm_agency_representation=True))
    profiles.save_my_profile(world.profiles, me, ProfileIn.model_validate(FULL))
    for part in ResumePart:
        add(world, me, me.user_id, part, EXAMPLES[part])
    upload_file(world, me, CV)
    user = world.db.get_user(me.user_id)
    assert user is not None
    params = {"recipient_name": user.name, "agent_name": "Anna Admin", "consultant_name": user.name}
    world.db.commit(notify(Changes(), user, "consultant_agent_assigned", params, world.clock(), email=False))
    privacy.export_personal_data(world.profiles, world.consents.audit, me, world.db, world.db, world.db)
    archive = privacy.request_archive(world.profiles, me)
    assert privacy.build_archive(world.profiles, world.storage, me.user_id, archive.archive_id)
    return me


def traces(world: World, *needles: str) -> list[str]:
    """Where any of ``needles`` still appears: every stored item (but the outbox, which the stream
    handler redacts on sending and TTL removes within a day) and every stored object version."""
    found = []
    for key, item in world.db.items.items():
        if key[0] == "outbox":
            continue
        text = json.dumps(dataclasses.asdict(item), default=str).lower()
        found += [f"{key}: {n}" for n in needles if n.lower() in text or n.lower() in str(key).lower()]
    for key, versions in world.storage.versions.items():
        for _, content in versions:
            found += [f"s3 {key}: {n}" for n in needles if n.lower() in key.lower() or n.encode().lower() in content.lower()]
    return found


def identifiers(world: World, me: Principal) -> tuple[str, ...]:
    user = world.db.get_user(me.user_id)
    assert user is not None
    # Not the IP address and browser: every test account shares them (the kept entries are checked for them).
    return (me.user_id, user.email, user.name, "Cecilia Consultant")


def test_erasure_leaves_nothing_about_the_person_and_keeps_consent_evidence_pseudonymised(world: World) -> None:
    me = consultant_with_everything(world)
    beta = register_agency(world, "b@beta.example")
    dan = "dan@consultant.example"
    colleague = principal_of(register_invited(world, dan, invite(world, beta, dan), name="Dan Dev"))
    add(world, colleague, colleague.user_id, ResumePart.SKILLS, EXAMPLES[ResumePart.SKILLS])
    needles = identifiers(world, me)
    assert len(traces(world, *needles)) > 10  # the test finds what it looks for
    consents_before = world.consents.ledger.list_for_subject(me.user_id)

    requested = erasure.request_my_erasure(world.erasure, me, builders.PASSWORD)
    assert requested.reason is ErasureReason.REQUESTED
    user = world.db.get_user(me.user_id)
    assert user is not None and user.status is UserStatus.DISABLED  # no token of theirs works from here on

    assert erasure.run_erasure(world.erasure, me.user_id) is True
    assert traces(world, *needles) == []
    assert EMAIL not in world.identity.users

    kept = [e for e in world.db._all("consent") if e.subject_id == requested.pseudonym]
    assert sorted(e.entry_id for e in kept) == sorted(e.entry_id for e in consents_before)
    assert all(e.ip is None and e.user_agent is None for e in kept)
    assert {e.purpose.value for e in kept} == {"platform_processing", "agency_representation"}
    audit = world.consents.audit.list_for_subject(requested.pseudonym)
    assert audit[-1].action is AuditAction.ERASURE_COMPLETED and audit[-1].details["reason"] == "requested"

    # Nobody else lost anything.
    assert world.db.get_user(colleague.user_id) is not None and world.db.list_resume_items(colleague.user_id)
    assert dan in world.identity.users
    # The address is free again.
    again = ConsultantRegistrationRequest.model_validate(builders.consultant_registration(EMAIL))
    assert verify(world, registration.register_consultant(world.accounts, again, CTX)).user.status is UserStatus.ACTIVE


def test_an_independent_consultants_one_person_agency_goes_with_them(world: World) -> None:
    body = ConsultantRegistrationRequest.model_validate(
        builders.consultant_registration(EMAIL, company_name="Cecilia AB", organisation_number="556677-8899")
    )
    me = principal_of(verify(world, registration.register_consultant(world.accounts, body, CTX)))
    assert me.org_id is not None
    erasure.request_my_erasure(world.erasure, me, builders.PASSWORD)
    erasure.run_erasure(world.erasure, me.user_id)
    assert world.db.get_organisation(me.org_id) is None
    assert traces(world, me.user_id, EMAIL, "Cecilia AB", me.org_id, "5566778899") == []


def test_a_wrong_password_erases_nothing(world: World) -> None:
    me = consultant_with_everything(world)
    with pytest.raises(InvalidInput) as raised:
        erasure.request_my_erasure(world.erasure, me, "not-the-password-1")
    assert raised.value.issues[0].field == "password"
    assert world.db.get_erasure(me.user_id) is None
    user = world.db.get_user(me.user_id)
    assert user is not None and user.status is UserStatus.ACTIVE


def test_requests_and_runs_are_idempotent(world: World) -> None:
    me = consultant_with_everything(world)
    first = erasure.request_my_erasure(world.erasure, me, builders.PASSWORD)
    assert erasure.request_erasure_by_staff(world.erasure, staff(world), me.user_id) == first
    assert erasure.run_erasure(world.erasure, me.user_id) is True
    assert erasure.run_erasure(world.erasure, me.user_id) is False
    with pytest.raises(NotFound):  # done: the person is unknown now
        erasure.request_erasure_by_staff(world.erasure, staff(world), me.user_id)


@pytest.mark.parametrize("failing", ["identity", "storage", "append_only", "uow"])
def test_a_crash_half_way_is_finished_by_the_next_run(world: World, failing: str, monkeypatch: pytest.MonkeyPatch) -> None:
    me = consultant_with_everything(world)
    needles = identifiers(world, me)
    requested = erasure.request_my_erasure(world.erasure, me, builders.PASSWORD)

    # The dependency fails once (the identity service on its only call, the others on their second):
    # part of the work is done when the run stops.
    target: Any = {"identity": world.identity, "storage": world.storage, "append_only": world.db, "uow": world.db}[failing]
    method = {"identity": "delete_user", "storage": "erase", "append_only": "replace", "uow": "commit"}[failing]
    real = getattr(target, method)
    calls = {"n": 0}

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == (1 if failing == "identity" else 2):
            raise RuntimeError("crash")
        return real(*args, **kwargs)

    monkeypatch.setattr(target, method, flaky)
    with pytest.raises(RuntimeError):
        erasure.run_erasure(world.erasure, me.user_id)
    assert world.db.get_erasure(me.user_id) == requested  # still pending

    assert erasure.resume_pending_erasures(world.erasure) == 1
    assert traces(world, *needles) == []
    assert world.db.list_pending_erasures() == []


def test_who_may_ask(world: World) -> None:
    me = consultant_with_everything(world)
    agency_admin = register_agency(world, "boss@gamma.example")
    with pytest.raises(Conflict):  # an agency is not left without its admin
        erasure.request_my_erasure(world.erasure, principal_of(agency_admin), builders.PASSWORD)
    with pytest.raises(Forbidden):
        erasure.request_erasure_by_staff(world.erasure, principal_of(agency_admin), me.user_id)
    with pytest.raises(NotFound):
        erasure.request_erasure_by_staff(world.erasure, staff(world), "01JAAAAAAAAAAAAAAAAAAAAAAA")
    by_staff = erasure.request_erasure_by_staff(world.erasure, staff(world), me.user_id)
    assert by_staff.reason is ErasureReason.STAFF


def test_the_kept_entries_still_fold_to_the_same_consents(world: World) -> None:
    me = consultant_with_everything(world)
    requested = erasure.request_my_erasure(world.erasure, me, builders.PASSWORD)
    before: list[ConsentEntry] = world.consents.ledger.list_for_subject(me.user_id)
    erasure.run_erasure(world.erasure, me.user_id)
    after = {e.entry_id: e for e in world.consents.ledger.list_for_subject(requested.pseudonym)}
    for entry in before:
        kept = after[entry.entry_id]
        assert (kept.purpose, kept.action, kept.at, kept.notice_sha256, kept.document_sha256) == (
            entry.purpose,
            entry.action,
            entry.at,
            entry.notice_sha256,
            entry.document_sha256,
        )


def test_the_address_stays_taken_until_the_erasure_is_finished(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    me = consultant_with_everything(world)
    erasure.request_my_erasure(world.erasure, me, builders.PASSWORD)
    real_commit = world.db.commit

    def crash_at_the_end(changes: Any) -> None:
        if any(isinstance(entity, Erasure) for entity, _ in changes.writes):
            raise RuntimeError("crash before the last step")
        real_commit(changes)

    monkeypatch.setattr(world.db, "commit", crash_at_the_end)
    with pytest.raises(RuntimeError):
        erasure.run_erasure(world.erasure, me.user_id)
    monkeypatch.setattr(world.db, "commit", real_commit)
    # A newcomer cannot take the address yet, so the resumed run cannot touch their account.
    again = ConsultantRegistrationRequest.model_validate(builders.consultant_registration(EMAIL))
    with pytest.raises(Conflict):
        registration.register_consultant(world.accounts, again, CTX)
    assert erasure.resume_pending_erasures(world.erasure) == 1
    assert registration.register_consultant(world.accounts, again, CTX).user.email == EMAIL


def test_a_one_person_agency_closed_by_joining_an_agency_goes_too(world: World) -> None:
    from chalicelib.services import invitations

    form = builders.consultant_registration(EMAIL, company_name="Cecilia AB", organisation_number="556677-8899")
    independent = verify(world, registration.register_consultant(world.accounts, ConsultantRegistrationRequest.model_validate(form), CTX))
    assert independent.organisation is not None
    closed = independent.organisation.org_id
    agency = register_agency(world)
    invitations.accept_invitation(world.accounts, principal_of(independent), invite(world, agency, EMAIL), False, CTX, world.db)
    member = world.db.get_user(independent.user.user_id)
    assert member is not None and member.former_org_ids == (closed,)

    erasure.request_erasure_by_staff(world.erasure, staff(world), member.user_id)
    erasure.run_erasure(world.erasure, member.user_id)
    assert world.db.get_organisation(closed) is None
    assert world.db.get_organisation(agency.organisation.org_id) is not None  # the agency is not the person's
    assert traces(world, member.user_id, EMAIL, "Cecilia AB", closed) == []


def test_consent_documents_nobody_points_to_yet_are_found_by_the_address(world: World) -> None:
    from chalicelib.schemas.accounts import CreateConsentDocumentRequest
    from chalicelib.services import consent_documents as docs

    me = consultant_with_everything(world)
    agency = register_agency(world, "other@agency.example")
    body = CreateConsentDocumentRequest(consultant_name="Cecilia Consultant", consultant_email=EMAIL)
    awaiting, _ = docs.create_consent_document(
        world.accounts, world.storage, POLICY, principal_of(agency), agency.organisation.org_id, body
    )
    erasure.request_my_erasure(world.erasure, me, builders.PASSWORD)
    erasure.run_erasure(world.erasure, me.user_id)
    assert world.db.get_consent_document(awaiting.document_id) is None


def test_an_archive_built_while_the_person_is_erased_leaves_no_zip(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    me = principal_of(register_invited(world, EMAIL, invite(world, register_agency(world), EMAIL)))
    upload_file(world, me, CV)
    archive = privacy.request_archive(world.profiles, me)
    erasure.request_my_erasure(world.erasure, me, builders.PASSWORD)
    real_write = world.storage.write_archive

    def erased_meanwhile(key: str, members: Any) -> None:
        zipped = list(members)  # the build has read the files...
        erasure.run_erasure(world.erasure, me.user_id)  # ...when the erasure runs to its end
        real_write(key, zipped)

    monkeypatch.setattr(world.storage, "write_archive", erased_meanwhile)
    assert privacy.build_archive(world.profiles, world.storage, me.user_id, archive.archive_id) is False
    assert [k for k, versions in world.storage.versions.items() if versions and me.user_id in k] == []


def test_a_zip_written_after_the_first_pass_is_removed_by_the_second(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    me = consultant_with_everything(world)
    erasure.request_my_erasure(world.erasure, me, builders.PASSWORD)
    real_erase = world.storage.erase
    late = f"exports/{me.user_id}/late.zip"
    passes = []

    def first_pass_then_a_build_writes(prefix: str) -> int:
        erased = real_erase(prefix)
        if prefix == f"exports/{me.user_id}/":
            passes.append(prefix)
            if len(passes) == 1:
                world.storage.put(late, b"a zip of the person's files")  # an archive build finishing just now
        return erased

    monkeypatch.setattr(world.storage, "erase", first_pass_then_a_build_writes)
    erasure.run_erasure(world.erasure, me.user_id)
    assert world.storage.content(late) is None


def test_a_closed_agency_number_now_held_by_someone_else_stays_theirs(world: World) -> None:
    from chalicelib.services import invitations

    form = builders.consultant_registration(EMAIL, company_name="Cecilia AB", organisation_number="556677-8899")
    independent = verify(world, registration.register_consultant(world.accounts, ConsultantRegistrationRequest.model_validate(form), CTX))
    invitations.accept_invitation(
        world.accounts, principal_of(independent), invite(world, register_agency(world), EMAIL), False, CTX, world.db
    )
    newcomer_form = builders.consultant_registration("new@consultant.example", company_name="New AB", organisation_number="556677-8899")
    newcomer = verify(
        world, registration.register_consultant(world.accounts, ConsultantRegistrationRequest.model_validate(newcomer_form), CTX)
    )
    assert newcomer.organisation is not None

    erasure.request_erasure_by_staff(world.erasure, staff(world), independent.user.user_id)
    erasure.run_erasure(world.erasure, independent.user.user_id)
    assert world.db.claim_owner("organisation_number", "SE:5566778899") == newcomer.organisation.org_id


def test_one_pending_erasure_that_fails_does_not_stop_the_others(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    me = consultant_with_everything(world)
    other = principal_of(
        register_invited(world, "dan@consultant.example", invite(world, register_agency(world, "b@beta.example"), "dan@consultant.example"))
    )
    erasure.request_my_erasure(world.erasure, me, builders.PASSWORD)
    erasure.request_my_erasure(world.erasure, other, builders.PASSWORD)
    real_run = erasure.run_erasure

    def first_fails(ports: Any, user_id: str) -> bool:
        if user_id == me.user_id:
            raise RuntimeError("still failing")
        return real_run(ports, user_id)

    monkeypatch.setattr(erasure, "run_erasure", first_fails)
    assert erasure.resume_pending_erasures(world.erasure) == 1
    assert world.db.get_user(other.user_id) is None and world.db.get_erasure(me.user_id) is not None
