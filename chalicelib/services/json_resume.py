"""The resume as JSON Resume: export, and import (which replaces the profile's basics and the whole resume).

Who may do what is as for the resume's parts: the consultant itself; its agency reads, and imports only
with the consultant's written consent in force; staff read, audited.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from chalicelib.domain.accounts import User
from chalicelib.domain.audit import AuditAction
from chalicelib.domain.identity import Principal
from chalicelib.domain.profiles import Profile, ProfileStatus
from chalicelib.domain.resume import LETTER_ITEM_ID, ResumeItem, ResumeItemStatus, ResumePart
from chalicelib.errors import ConcurrencyConflict, Conflict, FieldIssue, InvalidInput
from chalicelib.schemas.json_resume import JsonResume
from chalicelib.schemas.json_resume_mapping import ImportedItem, ImportPlan, from_json_resume, to_json_resume
from chalicelib.schemas.resume import SkillIn
from chalicelib.services.audit import Read, record_staff_reads
from chalicelib.services.ports import Changes
from chalicelib.services.profiles import ProfilePorts, consultant_for_edit, consultant_for_read, profile_from, profile_view
from chalicelib.services.resume import Resume, item_content, skill_item_id

if TYPE_CHECKING:
    from chalicelib.taxonomy import SkillTaxonomy

_IMPORT_IDS = uuid.UUID("8d7c3f0e-51a4-4b7e-9f1d-2f6a0c9e4b73")  # namespace of the ids of imported items


@dataclass(frozen=True)
class JsonResumeExport:
    user_id: str
    document: dict[str, Any]


def _document(ports: ProfilePorts, user: User) -> dict[str, Any]:
    resume = Resume(user.user_id, ports.profiles.list_resume_items(user.user_id))
    ordered = [item for part in ResumePart for item in resume.part(part)]
    return to_json_resume(profile_view(ports, user).profile, ordered, user.email)


def json_resume_of(ports: ProfilePorts, user: User) -> dict[str, Any] | None:
    """The person's profile and resume as JSON Resume; None when nothing is stored (the GDPR export)."""
    if ports.profiles.get_profile(user.user_id) is None and not ports.profiles.list_resume_items(user.user_id):
        return None
    return _document(ports, user)


def export_json_resume(ports: ProfilePorts, principal: Principal, user_id: str) -> JsonResumeExport:
    user = consultant_for_read(ports, principal, user_id)
    if principal.user_id != user_id:
        reads = [Read(user_id, "profile", user_id), Read(user_id, "resume", user_id)]
        record_staff_reads(ports.accounts.uow, principal, ports.accounts.now(), AuditAction.PROFILE_READ, reads)
    return JsonResumeExport(user.user_id, _document(ports, user))


def import_json_resume(
    ports: ProfilePorts, taxonomy: SkillTaxonomy, principal: Principal, user_id: str, document: JsonResume
) -> JsonResumeExport:
    """Replaces the profile's basics and the resume with the document; nothing is stored when any of it is
    invalid. A document without x-customersonly leaves the letter, availability, rate and remote preference."""
    user = consultant_for_edit(ports, principal, user_id)
    current = ports.profiles.get_profile(user.user_id)
    plan = from_json_resume(document, current)
    items = _items(ports, taxonomy, user, principal, plan, _digest(document))
    profile = profile_from(plan.profile, user, principal, current, ports.accounts.now(), plan.extras)
    _write(ports, user, profile, current, items, keep_letter=not plan.extension_given)
    return JsonResumeExport(user.user_id, _document(ports, user))


def _digest(document: JsonResume) -> str:
    return hashlib.sha256(json.dumps(document.document(), sort_keys=True).encode()).hexdigest()


def _items(
    ports: ProfilePorts, taxonomy: SkillTaxonomy, user: User, principal: Principal, plan: ImportPlan, digest: str
) -> list[ResumeItem]:
    now = ports.accounts.now()
    items: list[ResumeItem] = []
    issues: list[FieldIssue] = []
    seen_skills: set[str] = set()
    for n, planned in enumerate(plan.items):
        body = _canonical_skill(taxonomy, planned)
        try:
            content = item_content(ports, user, planned.part, body, taxonomy)
        except InvalidInput as exc:  # a skill without readable text, a file that is not one's own
            issues += [FieldIssue(planned.field_path(i.field), i.message, i.code) for i in exc.issues]
            continue
        imported = planned.imported
        if planned.part is ResumePart.SKILLS:
            key = content["skill_id"] or content["name"].casefold()
            if key in seen_skills:
                continue  # a skill listed twice ("k8s" and "Kubernetes") is one skill: the first entry wins
            seen_skills.add(key)
            item_id = skill_item_id(user.user_id, taxonomy.normalise(content["name"]))
            imported = {**(imported or {}), "name": content["name"]}
        elif planned.part is ResumePart.LETTER:
            item_id = LETTER_ITEM_ID
        else:
            # Derived from the document: a retried import writes the same items again instead of new copies.
            item_id = str(uuid.uuid5(_IMPORT_IDS, f"{user.user_id}:{digest}:{planned.part.value}:{n}"))
        # A part is shown in creation order: consecutive microseconds keep the document's order.
        created = now + timedelta(microseconds=n)
        items.append(ResumeItem(user.user_id, planned.part, item_id, created, created, principal.user_id, content, imported=imported))
    if issues:
        raise InvalidInput("The JSON Resume is not valid here; see errors.", issues=issues)
    return items


def _canonical_skill(taxonomy: SkillTaxonomy, planned: ImportedItem) -> Any:
    """The skill id an export wrote wins over the name's normalisation, when the taxonomy knows it."""
    if planned.part is not ResumePart.SKILLS or planned.skill_id is None:
        return planned.body
    skill = taxonomy.get(planned.skill_id)
    assert isinstance(planned.body, SkillIn)
    try:
        named = taxonomy.normalise(planned.body.name).skill_id
    except ValueError:  # nothing readable in the name: item_content reports it at the entry's path
        return planned.body
    if skill is None or named == skill.skill_id:
        return planned.body
    return planned.body.model_copy(update={"name": skill.name})


def _write(ports: ProfilePorts, user: User, profile: Profile, current: Profile | None, items: list[ResumeItem], keep_letter: bool) -> None:
    """Stores the new profile and items, then removes the old items.

    A resume may hold ~700 items, and one DynamoDB transaction at most 100 writes. When everything fits,
    it is one transaction. When not, the writes go in order: the profile and the new items first, the old
    items' removal last. A crash half-way then leaves the old resume beside (part of) the new one, never
    less than either, and retrying the same import converges: its items' ids derive from the document, so
    the retry overwrites what was written and removes what is left of the old resume."""
    existing = {(i.part, i.item_id): i for i in ports.profiles.list_resume_items(user.user_id)}
    changes = Changes()
    if current is None:
        changes.insert(profile)
    else:
        changes.transition(profile, ProfileStatus.ACTIVE.value, was=current)
    for item in items:
        before = existing.get((item.part, item.item_id))
        if before is None:
            changes.insert(item)
        else:
            changes.transition(item, ResumeItemStatus.ACTIVE.value)
    new = {(i.part, i.item_id) for i in items}
    for key, item in existing.items():
        if key not in new and not (keep_letter and item.part is ResumePart.LETTER):
            changes.delete(item, ResumeItemStatus.ACTIVE.value)
    try:
        for batch in changes.batches():
            ports.accounts.uow.commit(batch)
    except ConcurrencyConflict as exc:
        # Batches already written stay: the same import, sent again, finishes the replacement.
        raise Conflict("The profile or resume was changed at the same time; send the same import again to finish it.") from exc
