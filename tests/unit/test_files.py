"""CV and portfolio uploads: the form, the check of the real bytes, suggested skills."""

from __future__ import annotations

import pytest

from chalicelib.domain.files import FilePurpose, FileStatus, SuggestionState
from chalicelib.domain.identity import Principal
from chalicelib.domain.resume import ResumePart
from chalicelib.errors import Forbidden, InvalidInput, NotFound
from chalicelib.services import files, resume
from chalicelib.taxonomy import default_taxonomy
from demo.documents import pdf_with_text
from tests.documents import docx_with_text, encrypted_pdf
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


def test_decisions_made_at_the_same_time_on_one_file_are_all_kept(world: World, me: Principal, monkeypatch: pytest.MonkeyPatch) -> None:
    file = upload(world, me, CV)
    stale = files.get_file(world.profiles, me, file.file_id)
    # Another tab dismisses "python" between this request's read and its write.
    files.decide_suggestion(world.profiles, default_taxonomy(), me, file.file_id, "python", accept=False)
    monkeypatch.setattr(files, "get_file", lambda *_: stale)
    files.decide_suggestion(world.profiles, default_taxonomy(), me, file.file_id, "terraform", accept=False)
    stored = world.db.get_file(me.user_id, file.file_id)
    assert stored is not None and stored.revision == 2
    states = {s.skill_id: s.state for s in stored.suggestions}
    assert states["python"] is SuggestionState.DISMISSED and states["terraform"] is SuggestionState.DISMISSED


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


def test_the_agency_and_staff_read_a_consultants_files_and_staff_reads_are_audited(world: World, me: Principal) -> None:
    from chalicelib.services import registration
    from tests import builders

    file = upload(world, me, CV)
    admin = world.db.list_members(me.org_id or "")[0]
    agency = Principal(admin.user_id, admin.roles, admin.org_id)
    assert [f.file_id for f in files.list_consultant_files(world.profiles, agency, me.user_id)] == [file.file_id]
    assert file.object_key in files.consultant_file_download_url(world.profiles, world.storage, agency, me.user_id, file.file_id)
    other_agency = principal_of(register_agency(world, email="b@o.example"))
    with pytest.raises(NotFound):
        files.list_consultant_files(world.profiles, other_agency, me.user_id)
    with pytest.raises(NotFound):
        files.consultant_file_download_url(world.profiles, world.storage, other_agency, me.user_id, file.file_id)

    staff_user = registration.create_staff_user(world.accounts, email="s@customersonly.example", name="S", password=builders.PASSWORD)
    staff = Principal(staff_user.user_id, staff_user.roles)
    files.list_consultant_files(world.profiles, staff, me.user_id)
    files.consultant_file_download_url(world.profiles, world.storage, staff, me.user_id, file.file_id)
    reads = [
        (a.action.value, a.object_type, a.actor_id)
        for a in world.consents.audit.list_for_subject(me.user_id)
        if a.action.value == "file.read"
    ]
    assert reads == [("file.read", "files", staff.user_id), ("file.read", "file", staff.user_id)]  # the agency's reads are its own tenant's


def test_long_text_in_any_script_is_kept_within_what_an_item_can_hold(world: World, me: Principal) -> None:
    import json
    import random

    from chalicelib.domain.files import MAX_STORED_TEXT_BYTES, storable_text

    letters = [chr(c) for c in range(0x430, 0x450)]  # Cyrillic: six bytes each once JSON-escaped
    rng = random.Random(7)
    cyrillic = " ".join("".join(rng.choices(letters, k=rng.randint(3, 10))) for _ in range(25_000))
    assert len(json.dumps(storable_text(cyrillic))) <= MAX_STORED_TEXT_BYTES
    assert storable_text("short") == "short"
    file = upload(world, me, docx_with_text(cyrillic), DOCX_MIME)
    assert file.status is FileStatus.ACCEPTED and len(json.dumps(file.text)) <= MAX_STORED_TEXT_BYTES


def test_a_portfolio_item_may_link_only_ones_own_accepted_portfolio_file(world: World, me: Principal) -> None:
    from chalicelib.schemas.resume import PortfolioIn

    other = principal_of(
        register_invited(world, "dan@x.example", invite(world, register_agency(world, email="b@o.example"), "dan@x.example"))
    )
    theirs = upload(world, other, b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image/png", FilePurpose.PORTFOLIO)
    mine = upload(world, me, b"\x89PNG\r\n\x1a\n" + b"\x01" * 64, "image/png", FilePurpose.PORTFOLIO)
    cv = upload(world, me, CV)
    for file_id in (theirs.file_id, cv.file_id, "01JZZZZZZZZZZZZZZZZZZZZZZZ"):
        with pytest.raises(InvalidInput):
            resume.add_item(
                world.profiles, default_taxonomy(), me, me.user_id, ResumePart.PORTFOLIO, PortfolioIn(title="Work", file_id=file_id)
            )
    item = resume.add_item(
        world.profiles, default_taxonomy(), me, me.user_id, ResumePart.PORTFOLIO, PortfolioIn(title="Work", file_id=mine.file_id)
    )
    assert item.content["file_id"] == mine.file_id


def test_unreadable_skill_names_are_refused_not_crashed_on(world: World, me: Principal) -> None:
    from chalicelib.schemas.resume import ExperienceIn, SkillIn

    with pytest.raises(InvalidInput):
        resume.add_item(world.profiles, default_taxonomy(), me, me.user_id, ResumePart.SKILLS, SkillIn(name="\u200b", level=3))
    with pytest.raises(InvalidInput) as raised:
        resume.add_item(
            world.profiles,
            default_taxonomy(),
            me,
            me.user_id,
            ResumePart.EXPERIENCE,
            ExperienceIn(organisation="Acme", role="Dev", start="2020-01-01", skills_used=["Python", "\x00"]),
        )
    assert raised.value.issues[0].field == "skills_used.1"


def test_the_same_skill_added_twice_at_once_is_stored_once(world: World, me: Principal, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.errors import Conflict
    from chalicelib.schemas.resume import SkillIn

    resume.add_item(world.profiles, default_taxonomy(), me, me.user_id, ResumePart.SKILLS, SkillIn(name="Kubernetes", level=3))
    monkeypatch.setattr(world.db, "list_resume_items", lambda user_id: [])  # the second request read before the first wrote
    with pytest.raises(Conflict):
        resume.add_item(world.profiles, default_taxonomy(), me, me.user_id, ResumePart.SKILLS, SkillIn(name="k8s", level=5))


def test_accepting_a_suggestion_into_a_full_resume_says_so_and_changes_nothing(world: World, me: Principal) -> None:
    from chalicelib.domain.resume import MAX_ITEMS
    from chalicelib.errors import Conflict
    from chalicelib.schemas.resume import SkillIn

    file = upload(world, me, CV)
    for n in range(MAX_ITEMS[ResumePart.SKILLS]):
        resume.add_item(world.profiles, default_taxonomy(), me, me.user_id, ResumePart.SKILLS, SkillIn(name=f"Skill number {n}", level=1))
    with pytest.raises(Conflict):
        files.decide_suggestion(world.profiles, default_taxonomy(), me, file.file_id, "terraform", accept=True)
    stored = files.get_file(world.profiles, me, file.file_id)
    assert {s.state for s in stored.suggestions} == {SuggestionState.SUGGESTED}


def test_a_person_holds_a_bounded_number_of_files(world: World, me: Principal, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.domain.files import MAX_FILES_PER_PERSON
    from chalicelib.errors import Conflict

    for _ in range(MAX_FILES_PER_PERSON):
        files.request_upload(world.profiles, world.storage, me, FilePurpose.CV, PDF_MIME, "cv.pdf")
    with pytest.raises(Conflict):
        files.request_upload(world.profiles, world.storage, me, FilePurpose.CV, PDF_MIME, "cv.pdf")


def test_uploads_that_will_never_be_checked_are_settled(world: World, me: Principal) -> None:
    abandoned, _ = files.request_upload(world.profiles, world.storage, me, FilePurpose.CV, PDF_MIME, "cv.pdf")
    unchecked, _ = files.request_upload(world.profiles, world.storage, me, FilePurpose.CV, PDF_MIME, "cv.pdf")
    world.storage.put(unchecked.object_key, CV)  # arrived, but its check failed for good (dead-letter queue)
    checked = upload(world, me, CV)
    world.clock.advance(hours=23)
    fresh, _ = files.request_upload(world.profiles, world.storage, me, FilePurpose.CV, PDF_MIME, "cv.pdf")
    assert files.sweep_stale_uploads(world.profiles, world.storage) == 0  # a day is the stated patience
    world.clock.advance(hours=2)

    assert files.sweep_stale_uploads(world.profiles, world.storage) == 2
    assert world.db.get_file(me.user_id, abandoned.file_id) is None
    refused = world.db.get_file(me.user_id, unchecked.file_id)
    assert refused is not None and refused.status is FileStatus.REJECTED and refused.problem and "upload the file again" in refused.problem
    assert world.storage.content(unchecked.object_key) is None
    stored = world.db.get_file(me.user_id, fresh.file_id)
    assert stored is not None and stored.status is FileStatus.PENDING
    kept = world.db.get_file(me.user_id, checked.file_id)
    assert kept is not None and kept.status is FileStatus.ACCEPTED and world.storage.content(checked.object_key) == CV
    assert files.sweep_stale_uploads(world.profiles, world.storage) == 0
