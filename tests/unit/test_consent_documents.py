"""Agency-on-behalf consent: upload checks, staff verification, the consultant's confirmation."""

from __future__ import annotations

import pytest

from chalicelib.domain.accounts import ConsentDocument, ConsentDocumentStatus
from chalicelib.domain.consent import ConsentPurpose, ConsentSource, in_force
from chalicelib.domain.identity import Principal, Role
from chalicelib.errors import Conflict, Forbidden, InvalidInput, NotFound
from chalicelib.schemas.accounts import ConsultantRegistrationRequest, CreateConsentDocumentRequest
from chalicelib.services import consent_documents as docs
from chalicelib.services import invitations, registration
from chalicelib.services.ports import Changes
from tests import builders
from tests.fakes import World, make_world
from tests.unit.test_registration import CTX, mail_code, principal_of, register_agency, register_invited, verify

POLICY = docs.UploadPolicy(max_bytes=1024, expires_in=600)
PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\n%%EOF\n"


@pytest.fixture
def world() -> World:
    return make_world()


@pytest.fixture
def agency(world: World) -> registration.Registered:
    return register_agency(world)


@pytest.fixture
def staff(world: World) -> Principal:
    user = registration.create_staff_user(world.accounts, email="staff@customersonly.example", name="Stina", password=builders.PASSWORD)
    return Principal(user.user_id, user.roles)


def create(world: World, agency: registration.Registered) -> ConsentDocument:
    body = CreateConsentDocumentRequest(consultant_name="Cecilia Consultant", consultant_email="Cecilia@Consultant.example")
    org_id = agency.organisation.org_id
    document, post = docs.create_consent_document(world.accounts, world.storage, POLICY, principal_of(agency), org_id, body)
    assert post.fields["key"] == document.object_key == f"consent-documents/{org_id}/{document.document_id}.pdf"
    return document


def upload(world: World, document: ConsentDocument, content: bytes = PDF) -> ConsentDocument:
    version = world.storage.put(document.object_key, content)
    result = docs.record_upload(world.accounts, world.storage, POLICY, document.object_key, version)
    assert result is not None
    return result


def verify_document(world: World, staff: Principal, document: ConsentDocument) -> ConsentDocument:
    return docs.verify_consent_document(world.accounts, world.storage, POLICY, staff, document.document_id)


def test_full_flow_from_upload_to_confirmed_representation(world: World, agency: registration.Registered, staff: Principal) -> None:
    document = upload(world, create(world, agency))
    assert document.status is ConsentDocumentStatus.UPLOADED and document.sha256 and document.size_bytes == len(PDF)
    pending = docs.list_documents_by_status(world.accounts, staff, ConsentDocumentStatus.UPLOADED)
    assert [d.document_id for d in pending] == [document.document_id]

    assert verify_document(world, staff, document).status is ConsentDocumentStatus.VERIFIED
    [mail] = [m for m in world.db.outbox() if m.to == "cecilia@consultant.example"]
    assert "represent you" in mail.subject
    code = mail_code(world, "cecilia@consultant.example", "invitation")

    with pytest.raises(InvalidInput) as raised:
        register_invited(world, "cecilia@consultant.example", code)
    assert raised.value.issues[0].field == "confirm_agency_representation"

    consultant = register_invited(world, "cecilia@consultant.example", code, confirm_agency_representation=True).user
    assert consultant.org_id == agency.organisation.org_id
    stored = world.db.get_consent_document(document.document_id)
    assert stored is not None and stored.status is ConsentDocumentStatus.CONFIRMED and stored.consultant_user_id == consultant.user_id

    entries = world.consents.ledger.list_for_subject(consultant.user_id)
    [representation] = in_force(entries, ConsentPurpose.AGENCY_REPRESENTATION, agency_id=agency.organisation.org_id)
    assert representation.given.source is ConsentSource.UPLOADED_DOCUMENT
    assert (representation.given.document_id, representation.given.document_sha256) == (document.document_id, document.sha256)
    actions = {a.action.value for a in world.consents.audit.list_for_subject(consultant.user_id)}
    assert {"consent.given", "consent_document.confirmed"} <= actions


def test_a_registered_consultant_confirms_by_accepting_the_invitation(
    world: World, agency: registration.Registered, staff: Principal
) -> None:
    body = ConsultantRegistrationRequest.model_validate(builders.consultant_registration("cecilia@consultant.example"))
    independent = verify(world, registration.register_consultant(world.accounts, body, CTX))
    document = verify_document(world, staff, upload(world, create(world, agency)))
    code = mail_code(world, "cecilia@consultant.example", "invitation")
    with pytest.raises(InvalidInput):
        invitations.accept_invitation(world.accounts, principal_of(independent), code, False, CTX, world.db)
    invitations.accept_invitation(world.accounts, principal_of(independent), code, True, CTX, world.db)
    stored = world.db.get_consent_document(document.document_id)
    assert stored is not None and stored.status is ConsentDocumentStatus.CONFIRMED
    entries = world.consents.ledger.list_for_subject(independent.user.user_id)
    assert in_force(entries, ConsentPurpose.AGENCY_REPRESENTATION, agency_id=agency.organisation.org_id)


@pytest.mark.parametrize(("content", "problem"), [(b"MZ\x90\x00 not a pdf", "not a PDF"), (PDF + b"x" * 2048, "between"), (b"", "between")])
def test_refused_files_are_deleted_and_may_be_uploaded_again(
    world: World, agency: registration.Registered, content: bytes, problem: str
) -> None:
    document = upload(world, create(world, agency), content)
    assert document.status is ConsentDocumentStatus.UPLOAD_REJECTED and problem in (document.problem or "")
    assert world.storage.content(document.object_key) is None
    docs.renew_upload(world.accounts, world.storage, POLICY, principal_of(agency), document.document_id)
    assert upload(world, document).status is ConsentDocumentStatus.UPLOADED


def test_objects_nobody_awaits_are_deleted(world: World, agency: registration.Registered) -> None:
    document = create(world, agency)
    for foreign in (f"consent-documents/{'0' * 26}/{document.document_id}.pdf", document.object_key + "\n"):
        version = world.storage.put(foreign, PDF)
        assert docs.record_upload(world.accounts, world.storage, POLICY, foreign, version) is None
        assert world.storage.content(foreign) is None
    stored = world.db.get_consent_document(document.document_id)
    assert stored is not None and stored.status is ConsentDocumentStatus.AWAITING_UPLOAD


def test_an_overwrite_after_the_check_changes_nothing(world: World, agency: registration.Registered, staff: Principal) -> None:
    document = upload(world, create(world, agency))
    forged = world.storage.put(document.object_key, b"%PDF-1.7 forged")  # the upload form is still valid
    assert docs.record_upload(world.accounts, world.storage, POLICY, document.object_key, forged) == document
    assert world.storage.content(document.object_key, forged) is None  # the overwrite was removed
    assert verify_document(world, staff, document).sha256 == document.sha256
    assert docs.download_url(world.accounts, world.storage, staff, document.document_id, 60).endswith(
        f"versionId={document.object_version}"
    )


def test_a_vanished_file_sends_the_document_back_for_a_new_upload(world: World, agency: registration.Registered, staff: Principal) -> None:
    document = upload(world, create(world, agency))
    world.storage.delete(document.object_key, document.object_version)
    with pytest.raises(Conflict):
        verify_document(world, staff, document)
    stored = world.db.get_consent_document(document.document_id)
    assert stored is not None and stored.status is ConsentDocumentStatus.UPLOAD_REJECTED
    docs.renew_upload(world.accounts, world.storage, POLICY, principal_of(agency), document.document_id)
    assert [m for m in world.db.outbox() if m.to == "cecilia@consultant.example"] == []  # nobody was invited


def test_only_uploaded_documents_can_be_reviewed_and_only_once(world: World, agency: registration.Registered, staff: Principal) -> None:
    document = create(world, agency)
    with pytest.raises(Conflict):
        verify_document(world, staff, document)
    upload(world, document)
    rejected = docs.reject_consent_document(world.accounts, world.storage, staff, document.document_id, "Not signed")
    assert rejected.status is ConsentDocumentStatus.REJECTED and world.storage.content(document.object_key) is None
    with pytest.raises(Conflict):
        verify_document(world, staff, document)


def test_documents_are_visible_to_their_agency_and_staff_only(world: World, agency: registration.Registered, staff: Principal) -> None:
    document = upload(world, create(world, agency))
    other = principal_of(register_agency(world, email="boss@other.example"))
    consultant = Principal("someone", frozenset({Role.CONSULTANT}))
    for outsider in (other, consultant):
        with pytest.raises(NotFound):
            docs.get_consent_document(world.accounts, outsider, document.document_id)
        with pytest.raises(NotFound):
            docs.download_url(world.accounts, world.storage, outsider, document.document_id, 60)
        with pytest.raises(NotFound):
            docs.list_agency_documents(world.accounts, outsider, agency.organisation.org_id)
    with pytest.raises(NotFound):
        docs.renew_upload(world.accounts, world.storage, POLICY, other, document.document_id)
    with pytest.raises(NotFound):
        docs.renew_upload(world.accounts, world.storage, POLICY, staff, document.document_id)  # staff do not upload for agencies
    with pytest.raises(Forbidden):
        verify_document(world, principal_of(agency), document)
    with pytest.raises(Forbidden):
        docs.list_documents_by_status(world.accounts, principal_of(agency), ConsentDocumentStatus.UPLOADED)
    create_body = CreateConsentDocumentRequest(consultant_name="X", consultant_email="x@example.com")
    with pytest.raises(NotFound):
        docs.create_consent_document(world.accounts, world.storage, POLICY, other, agency.organisation.org_id, create_body)


def test_staff_reads_of_a_document_are_audited(world: World, agency: registration.Registered, staff: Principal) -> None:
    document = upload(world, create(world, agency))
    docs.get_consent_document(world.accounts, principal_of(agency), document.document_id)
    assert world.consents.audit.list_for_subject(document.document_id) == []
    docs.get_consent_document(world.accounts, staff, document.document_id)
    docs.download_url(world.accounts, world.storage, staff, document.document_id, 60)
    reads = world.consents.audit.list_for_subject(document.document_id)
    assert [r.action.value for r in reads] == ["consent_document.read", "consent_document.read"]
    assert all(r.actor_id == staff.user_id for r in reads)


def test_verification_reads_the_checked_version_even_when_a_newer_one_waits(
    world: World, agency: registration.Registered, staff: Principal
) -> None:
    document = create(world, agency)
    checked = world.storage.put(document.object_key, PDF)
    recorded = docs.record_upload(world.accounts, world.storage, POLICY, document.object_key, checked)
    assert recorded is not None and recorded.object_version == checked
    world.storage.put(document.object_key, b"%PDF-1.7 something else")  # its upload event is not processed yet
    assert verify_document(world, staff, recorded).sha256 == recorded.sha256
    assert docs.download_url(world.accounts, world.storage, staff, document.document_id, 60).endswith(f"versionId={checked}")


def test_without_versioning_an_overwrite_is_caught_by_the_hash(world: World, agency: registration.Registered, staff: Principal) -> None:
    world.storage.versioned = False
    document = upload(world, create(world, agency))
    world.storage.put(document.object_key, b"%PDF-1.7 swapped after the check")
    with pytest.raises(Conflict):
        verify_document(world, staff, document)
    stored = world.db.get_consent_document(document.document_id)
    assert stored is not None and stored.status is ConsentDocumentStatus.UPLOAD_REJECTED and stored.sha256 is None
    assert [m for m in world.db.outbox() if m.to == "cecilia@consultant.example"] == []  # nobody was invited


def _another_version_recorded_first(
    world: World, monkeypatch: pytest.MonkeyPatch, document: ConsentDocument, version: str | None
) -> list[bool]:
    """Makes the next commit lose a race: the upload of ``version`` is recorded just before it."""
    commit, raced = world.db.commit, []

    def recorded_first(changes: Changes) -> None:
        if not raced:
            raced.append(True)
            monkeypatch.setattr(world.db, "commit", commit)
            docs.record_upload(world.accounts, world.storage, POLICY, document.object_key, version)
        commit(changes)

    monkeypatch.setattr(world.db, "commit", recorded_first)
    return raced


def test_a_good_file_racing_a_refused_one_is_still_recorded(
    world: World, agency: registration.Registered, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = create(world, agency)
    bad = world.storage.put(document.object_key, b"not a pdf")
    good = world.storage.put(document.object_key, PDF)
    raced = _another_version_recorded_first(world, monkeypatch, document, bad)
    recorded = docs.record_upload(world.accounts, world.storage, POLICY, document.object_key, good)
    assert raced and recorded is not None and recorded.status is ConsentDocumentStatus.UPLOADED and recorded.object_version == good
    assert world.storage.content(document.object_key, good) == PDF


def test_an_overwrite_that_loses_the_race_is_removed(
    world: World, agency: registration.Registered, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = create(world, agency)
    first = world.storage.put(document.object_key, PDF)
    second = world.storage.put(document.object_key, PDF + b"%2")
    raced = _another_version_recorded_first(world, monkeypatch, document, first)
    recorded = docs.record_upload(world.accounts, world.storage, POLICY, document.object_key, second)
    assert raced and recorded is not None and recorded.object_version == first
    assert world.storage.content(document.object_key, second) is None and world.storage.content(document.object_key, first) == PDF
