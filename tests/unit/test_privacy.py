"""The personal-data export holds everything about the person, and nothing about anyone else."""

from __future__ import annotations

import io
import json
import zipfile

from chalicelib.domain.files import FilePurpose
from chalicelib.domain.resume import ResumePart
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

    export = privacy.export_personal_data(world.profiles, InMemoryAuditLog(world.db), world.storage, me)
    assert export.user.user_id == me.user_id and export.organisation is None  # an agency's data is not the person's
    assert export.profile is not None and export.profile.title == "Cloud architect"
    assert [i.part for i in export.resume] == [ResumePart.EXPERIENCE]  # nothing of anyone else
    assert [f.file_id for f in export.files] == [cv.file_id] and export.files[0].purpose is FilePurpose.CV
    assert [e.purpose.value for e in export.consents] == ["platform_processing"] and export.consents[0].ip == "203.0.113.7"
    assert export.audit[-1].action.value == "data.exported"

    assert export.archive_url is not None
    [key] = [k for k in world.storage.versions if k.startswith(f"exports/{me.user_id}/")]
    archive = zipfile.ZipFile(io.BytesIO(world.storage.content(key) or b""))
    index = json.loads(archive.read("index.json"))
    assert [entry["sha256"] for entry in index] == [cv.sha256]
    assert archive.read(index[0]["file"]) == CV
    assert "Kubernetes" in archive.read(index[0]["text"]).decode()


def test_a_person_without_files_gets_no_archive() -> None:
    world = make_world()
    agency = register_agency(world)
    export = privacy.export_personal_data(world.profiles, InMemoryAuditLog(world.db), world.storage, principal_of(agency))
    assert export.archive_url is None and export.profile is None and export.resume == []
