"""CV and portfolio uploads: the form, the check of the real bytes, suggested skills."""

from __future__ import annotations

import pytest

from chalicelib.domain.files import FilePurpose, FileStatus, SuggestionState
from chalicelib.domain.identity import Principal
from chalicelib.domain.resume import ResumePart
from chalicelib.errors import Forbidden, InvalidInput, NotFound
from chalicelib.services import files, resume
from chalicelib.taxonomy import default_taxonomy
from tests.documents import docx_with_text, encrypted_pdf, pdf_with_text
from tests.fakes import World, make_world
from tests.unit.test_registration import invite, principal_of, register_agency, register_invited

PDF_MIME = "application/pdf"
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
CV = pdf_with_text("Cecilia Consultant, cloud engineer", "Skills: Kubernetes, Terraform, PostgreSQL, Python")


@pytest.fixture
def world() -> World:
    return make_world()


@pytest.fixture
def me(world: World) -> Principal:
    agency = register_agency(world)
    return principal_of(register_invited(world, "cecilia@consultant.example", invite(world, agency, "cecilia@consultant.example")))


def upload(
    world: World, me: Principal, content: bytes, content_type: str = PDF_MIME, purpose: FilePurpose = FilePurpose.CV
) -> files.UploadedFile:
    file, post = files.request_upload(world.profiles, world.storage, me, purpose, content_type, "cv.pdf")
    assert post.fields["key"] == f"files/{me.user_id}/{file.file_id}" and post.fields["Content-Type"] == content_type
    version = world.storage.put(file.object_key, content)
    recorded = files.record_file_upload(world.profiles, world.storage, default_taxonomy(), file.object_key, version)
    assert recorded is not None
    return recorded


def test_a_real_cv_is_accepted_with_its_text_and_suggested_skills(world: World, me: Principal) -> None:
    file = upload(world, me, CV)
    assert file.status is FileStatus.ACCEPTED and "cloud engineer" in file.text and file.sha256
    suggested = {s.skill_id for s in file.suggestions}
    assert {"kubernetes", "terraform", "postgresql", "python"} <= suggested

    accepted = files.decide_suggestion(world.profiles, default_taxonomy(), me, file.file_id, "kubernetes", accept=True)
    files.decide_suggestion(world.profiles, default_taxonomy(), me, file.file_id, "kubernetes", accept=True)  # twice: one skill
    dismissed = files.decide_suggestion(world.profiles, default_taxonomy(), me, file.file_id, "python", accept=False)
    states = {s.skill_id: s.state for s in dismissed.suggestions}
    assert states["kubernetes"] is SuggestionState.ACCEPTED and states["python"] is SuggestionState.DISMISSED
    assert accepted.status is FileStatus.ACCEPTED
    skills = resume.get_resume(world.profiles, me, me.user_id).part(ResumePart.SKILLS)
    assert [s.content["skill_id"] for s in skills] == ["kubernetes"]
    with pytest.raises(NotFound):
        files.decide_suggestion(world.profiles, default_taxonomy(), me, file.file_id, "cobol", accept=True)


def test_a_docx_cv_and_a_portfolio_image(world: World, me: Principal) -> None:
    assert upload(world, me, docx_with_text("Experienced in Azure"), DOCX_MIME).status is FileStatus.ACCEPTED
    image = upload(world, me, b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image/png", FilePurpose.PORTFOLIO)
    assert image.status is FileStatus.ACCEPTED and image.suggestions == []


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty"),
        (b"MZ\x90\x00" + b"\x00" * 100, "program"),
        (encrypted_pdf(), "password"),
        (CV[:100], "damaged"),
        (docx_with_text("not a pdf"), "is a Word document"),
    ],
)
def test_hostile_cvs_are_rejected_with_a_reason_and_their_bytes_removed(world: World, me: Principal, content: bytes, reason: str) -> None:
    file = upload(world, me, content)
    assert file.status is FileStatus.REJECTED and reason in (file.problem or "") and file.text == "" and file.suggestions == []
    assert world.storage.content(file.object_key) is None
    with pytest.raises(NotFound):
        files.download_url(world.profiles, world.storage, me, file.file_id)


def test_only_allowed_types_for_the_purpose_and_only_consultants(world: World, me: Principal) -> None:
    with pytest.raises(InvalidInput):
        files.request_upload(world.profiles, world.storage, me, FilePurpose.CV, "image/png", "photo.png")
    with pytest.raises(InvalidInput):
        files.request_upload(world.profiles, world.storage, me, FilePurpose.CV, "application/x-msdownload", "cv.exe")
    agency = principal_of(register_agency(world, email="boss@other.example"))
    with pytest.raises(Forbidden):
        files.request_upload(world.profiles, world.storage, agency, FilePurpose.CV, PDF_MIME, "cv.pdf")


def test_an_overwrite_after_the_check_and_objects_nobody_awaits_are_removed(world: World, me: Principal) -> None:
    file = upload(world, me, CV)
    forged = world.storage.put(file.object_key, pdf_with_text("forged"))
    assert files.record_file_upload(world.profiles, world.storage, default_taxonomy(), file.object_key, forged) == file
    assert world.storage.content(file.object_key, forged) is None
    stray = f"files/{me.user_id}/{'0' * 26}"
    version = world.storage.put(stray, CV)
    assert files.record_file_upload(world.profiles, world.storage, default_taxonomy(), stray, version) is None
    assert world.storage.content(stray) is None


def test_files_are_private_and_deletable(world: World, me: Principal) -> None:
    file = upload(world, me, CV)
    other = principal_of(
        register_invited(world, "dan@x.example", invite(world, register_agency(world, email="b@o.example"), "dan@x.example"))
    )
    with pytest.raises(NotFound):
        files.get_file(world.profiles, other, file.file_id)
    assert [f.file_id for f in files.list_files(world.profiles, me)] == [file.file_id]
    files.delete_file(world.profiles, world.storage, me, file.file_id)
    assert files.list_files(world.profiles, me) == [] and world.storage.content(file.object_key) is None
