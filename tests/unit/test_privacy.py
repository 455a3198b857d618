"""The personal-data export holds everything about the person, and nothing about anyone else."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from chalicelib.domain.exports import ArchiveStatus
from chalicelib.domain.files import FilePurpose
from chalicelib.domain.resume import ResumePart
from chalicelib.errors import NotFound
from chalicelib.schemas.profiles import ProfileIn
from chalicelib.services import privacy, profiles
from tests.fakes import InMemoryAuditLog, make_world
from tests.unit.test_files import CV, upload
from tests.unit.test_profiles import FULL
from tests.unit.test_registration import invite, principal_of, register_agency, register_invited
from tests.unit.test_resume import EXAMPLES, add


def test_the_export_holds_account_profile_resume_files_consents_and_audit() -> None:
    world = make_world()
    agency = register_agency(world)
    me = principal_of(register_invited(world, "cecilia@consultant.example", invite(world, agency, "cecilia@consultant.example")))
    other = principal_of(register_invited(world, "dan@consultant.example", invite(world, agency, "dan@consultant.example")))
    profiles.save_my_profile(world.profiles, me, ProfileIn.model_validate(FULL))
    add(world, me, me.user_id, ResumePart.EXPERIENCE, EXAMPLES[ResumePart.EXPERIENCE])
    add(world, other, other.user_id, ResumePart.SKILLS, EXAMPLES[ResumePart.SKILLS])
    cv = upload(world, me, CV)
    upload(world, me, b"not a pdf")  # rejected: no content is kept, none exported

    export = privacy.export_personal_data(world.profiles, InMemoryAuditLog(world.db), me, world.db, world.db, world.db)
    assert export.user.user_id == me.user_id and export.organisation is None  # an agency's data is not the person's
    assert export.profile is not None and export.profile.title == "Cloud architect"
    assert [i.part for i in export.resume] == [ResumePart.EXPERIENCE]  # nothing of anyone else
    assert [f.file_id for f in export.files] == [cv.file_id] and export.files[0].purpose is FilePurpose.CV
    assert [e.purpose.value for e in export.consents] == ["platform_processing"] and export.consents[0].ip == "203.0.113.7"
    assert export.audit[-1].action.value == "data.exported"


def test_the_files_are_zipped_in_the_background_and_linked_once_ready() -> None:
    world = make_world()
    agency = register_agency(world)
    me = principal_of(register_invited(world, "cecilia@consultant.example", invite(world, agency, "cecilia@consultant.example")))
    cv = upload(world, me, CV)
    upload(world, me, b"not a pdf")  # rejected: no content is kept, none archived

    archive = privacy.request_archive(world.profiles, me)
    assert archive.status is ArchiveStatus.PREPARING and privacy.archive_link(world.storage, archive) is None
    assert privacy.request_archive(world.profiles, me) == archive  # one at a time: asking again answers the same
    assert privacy.build_archive(world.profiles, world.storage, me.user_id, archive.archive_id) is True
    assert privacy.build_archive(world.profiles, world.storage, me.user_id, archive.archive_id) is False  # a redelivery

    ready = privacy.get_archive(world.profiles, me, archive.archive_id)
    assert ready.status is ArchiveStatus.READY and ready.file_count == 1
    link = privacy.archive_link(world.storage, ready)
    assert link is not None and ready.object_key in link
    zipped = zipfile.ZipFile(io.BytesIO(world.storage.content(ready.object_key) or b""))
    index = json.loads(zipped.read("index.json"))
    assert [entry["sha256"] for entry in index] == [cv.sha256]
    assert zipped.read(index[0]["file"]) == CV
    assert "Kubernetes" in zipped.read(index[0]["text"]).decode()
    assert InMemoryAuditLog(world.db).list_for_subject(me.user_id)[-1].object_type == "archive"

    with pytest.raises(NotFound):  # nobody else's
        privacy.get_archive(world.profiles, principal_of(agency), archive.archive_id)
    world.clock.advance(hours=22)
    assert privacy.request_archive(world.profiles, me) == ready  # a ready one is handed out while it lasts
    world.clock.advance(hours=1)
    with pytest.raises(NotFound):  # its zip is about to be removed
        privacy.get_archive(world.profiles, me, archive.archive_id)
    assert privacy.request_archive(world.profiles, me).archive_id != archive.archive_id


def test_an_archive_whose_build_never_finished_is_reported_failed_and_replaced() -> None:
    world = make_world()
    agency = register_agency(world)
    me = principal_of(agency)
    stuck = privacy.request_archive(world.profiles, me)
    world.clock.advance(hours=1)
    assert not stuck.failed(world.clock()) and privacy.request_archive(world.profiles, me) == stuck  # may wait in line
    world.clock.advance(hours=1, minutes=1)
    assert stuck.failed(world.clock())
    fresh = privacy.request_archive(world.profiles, me)
    assert fresh.archive_id != stuck.archive_id and not fresh.failed(world.clock())


def test_a_person_without_files_gets_an_empty_archive() -> None:
    world = make_world()
    agency = register_agency(world)
    export = privacy.export_personal_data(world.profiles, InMemoryAuditLog(world.db), principal_of(agency), world.db, world.db, world.db)
    assert export.profile is None and export.resume == [] and export.files == []
    archive = privacy.request_archive(world.profiles, principal_of(agency))
    privacy.build_archive(world.profiles, world.storage, agency.user.user_id, archive.archive_id)
    ready = privacy.get_archive(world.profiles, principal_of(agency), archive.archive_id)
    assert json.loads(zipfile.ZipFile(io.BytesIO(world.storage.content(ready.object_key) or b"")).read("index.json")) == []
