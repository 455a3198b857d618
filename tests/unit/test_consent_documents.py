"""Agency-on-behalf consent: upload checks, staff verification, the consultant's confirmation."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.domain.accounts import ConsentDocumentStatus
from chalicelib.domain.consent import ConsentPurpose, ConsentSource, in_force
from chalicelib.domain.identity import Principal, Role
from chalicelib.errors import Conflict, Forbidden, InvalidInput, NotFound
from chalicelib.schemas.accounts import ConsultantRegistrationRequest, CreateConsentDocumentRequest
from chalicelib.services import accounts
from chalicelib.services import consent_documents as docs
from tests import builders
from tests.fakes import World, make_world
from tests.unit.test_registration import CTX, principal_of, register_agency

POLICY = docs.UploadPolicy(max_bytes=1024, expires_in=600)
PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\n%%EOF\n"
TTL = timedelta(days=14)


@pytest.fixture
def world() -> World:
    return make_world()


@pytest.fixture
def agency(world: World) -> accounts.Registered:
    return register_agency(world)


@pytest.fixture
def staff(world: World) -> Principal:
    user = accounts.create_staff_user(world.accounts, email="staff@customersonly.example", name="Stina", password=builders.PASSWORD)
    return Principal(user.user_id, user.roles)


def create(world: World, agency: accounts.Registered) -> docs.ConsentDocument:
    body = CreateConsentDocumentRequest(consultant_name="Cecilia Consultant", consultant_email="Cecilia@Consultant.example")
    document, post = docs.create_consent_document(
        world.accounts, world.storage, POLICY, principal_of(agency), agency.organisation.org_id, body
    )
    assert post.fields["key"] == document.object_key == f"consent-documents/{agency.organisation.org_id}/{document.document_id}.pdf"
    return document


def upload(world: World, document: docs.ConsentDocument, content: bytes = PDF) -> docs.ConsentDocument:
    world.storage.objects[document.object_key] = content
    result = docs.record_upload(world.accounts, world.storage, POLICY, document.object_key)
    assert result is not None
    return result


def test_full_flow_from_upload_to_confirmed_representation(world: World, agency: accounts.Registered, staff: Principal) -> None:
    document = upload(world, create(world, agency))
    assert document.status is ConsentDocumentStatus.UPLOADED and document.sha256 and document.size_bytes == len(PDF)
    assert [d.document_id for d in docs.list_documents_by_status(world.accounts, staff, ConsentDocumentStatus.UPLOADED)] == [
        document.document_id
    ]

    verified, issued = docs.verify_consent_document(
        world.accounts, world.storage, staff, document.document_id, invitation_ttl=TTL, web_base_url="https://app.example"
    )
    assert verified.status is ConsentDocumentStatus.VERIFIED
    [mail] = world.db.outbox()
    assert mail.to == "cecilia@consultant.example" and issued.code in mail.text and "represent you" in mail.subject

    unconfirmed = ConsultantRegistrationRequest.model_validate(builders.consultant_registration("cecilia@consultant.example", issued.code))
    with pytest.raises(InvalidInput) as raised:
        accounts.register_consultant(world.accounts, unconfirmed, CTX)
    assert raised.value.issues[0].field == "confirm_agency_representation"

    confirmed = ConsultantRegistrationRequest.model_validate(
        builders.consultant_registration("cecilia@consultant.example", issued.code, confirm_agency_representation=True)
    )
    consultant = accounts.register_consultant(world.accounts, confirmed, CTX).user
    assert consultant.org_id == agency.organisation.org_id
    stored = world.db.get_consent_document(document.document_id)
    assert stored.status is ConsentDocumentStatus.CONFIRMED and stored.consultant_user_id == consultant.user_id

    entries = world.consents.ledger.list_for_subject(consultant.user_id)
    [representation] = in_force(entries, ConsentPurpose.AGENCY_REPRESENTATION, agency_id=agency.organisation.org_id)
    assert representation.given.source is ConsentSource.UPLOADED_DOCUMENT
    assert (representation.given.document_id, representation.given.document_sha256) == (document.document_id, document.sha256)
    actions = {a.action.value for a in world.consents.audit.list_for_subject(consultant.user_id)}
    assert {"consent.given", "consent_document.confirmed"} <= actions


@pytest.mark.parametrize(("content", "problem"), [(b"MZ\x90\x00 not a pdf", "not a PDF"), (PDF + b"x" * 2048, "between"), (b"", "between")])
def test_refused_files_are_deleted_and_may_be_uploaded_again(
    world: World, agency: accounts.Registered, content: bytes, problem: str
) -> None:
    document = upload(world, create(world, agency), content)
    assert document.status is ConsentDocumentStatus.UPLOAD_REJECTED and problem in (document.problem or "")
    assert document.object_key not in world.storage.objects
    docs.renew_upload(world.accounts, world.storage, POLICY, principal_of(agency), document.document_id)
    assert upload(world, document).status is ConsentDocumentStatus.UPLOADED


def test_objects_nobody_awaits_are_deleted(world: World, agency: accounts.Registered) -> None:
    document = create(world, agency)
    foreign = f"consent-documents/{'0' * 26}/{document.document_id}.pdf"  # right document, wrong agency
    world.storage.objects[foreign] = PDF
    assert docs.record_upload(world.accounts, world.storage, POLICY, foreign) is None
    assert foreign not in world.storage.objects
    assert world.db.get_consent_document(document.document_id).status is ConsentDocumentStatus.AWAITING_UPLOAD


def test_a_file_replaced_after_the_check_cannot_be_verified(world: World, agency: accounts.Registered, staff: Principal) -> None:
    document = upload(world, create(world, agency))
    world.storage.objects[document.object_key] = PDF + b"% tampered"
    with pytest.raises(Conflict):
        docs.verify_consent_document(world.accounts, world.storage, staff, document.document_id, invitation_ttl=TTL, web_base_url="")
    assert world.db.outbox() == []


def test_only_uploaded_documents_can_be_reviewed_and_only_once(world: World, agency: accounts.Registered, staff: Principal) -> None:
    document = create(world, agency)
    with pytest.raises(Conflict):
        docs.verify_consent_document(world.accounts, world.storage, staff, document.document_id, invitation_ttl=TTL, web_base_url="")
    upload(world, document)
    rejected = docs.reject_consent_document(world.accounts, world.storage, staff, document.document_id, "Not signed")
    assert rejected.status is ConsentDocumentStatus.REJECTED and document.object_key not in world.storage.objects
    with pytest.raises(Conflict):
        docs.verify_consent_document(world.accounts, world.storage, staff, document.document_id, invitation_ttl=TTL, web_base_url="")


def test_documents_are_visible_to_their_agency_and_staff_only(world: World, agency: accounts.Registered, staff: Principal) -> None:
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
    with pytest.raises(Forbidden):
        docs.verify_consent_document(
            world.accounts, world.storage, principal_of(agency), document.document_id, invitation_ttl=TTL, web_base_url=""
        )
    with pytest.raises(Forbidden):
        docs.list_documents_by_status(world.accounts, principal_of(agency), ConsentDocumentStatus.UPLOADED)
    with pytest.raises(NotFound):
        create_body = CreateConsentDocumentRequest(consultant_name="X", consultant_email="x@example.com")
        docs.create_consent_document(world.accounts, world.storage, POLICY, other, agency.organisation.org_id, create_body)


def test_staff_reads_of_a_document_are_audited(world: World, agency: accounts.Registered, staff: Principal) -> None:
    document = upload(world, create(world, agency))
    docs.get_consent_document(world.accounts, principal_of(agency), document.document_id)
    assert world.consents.audit.list_for_subject(document.document_id) == []
    docs.get_consent_document(world.accounts, staff, document.document_id)
    docs.download_url(world.accounts, world.storage, staff, document.document_id, 60)
    reads = world.consents.audit.list_for_subject(document.document_id)
    assert [r.action.value for r in reads] == ["consent_document.read", "consent_document.read"]
    assert all(r.actor_id == staff.user_id for r in reads)
