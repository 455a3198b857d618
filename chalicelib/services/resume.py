"""The resume, part by part: the consultant edits its own; its agency reads it and edits it only with the
consultant's written consent in force; staff read it (audited). Skills are normalised to the taxonomy
(unknown ones are kept as written)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from chalicelib.domain.accounts import User
from chalicelib.domain.audit import AuditAction
from chalicelib.domain.files import FilePurpose, FileStatus
from chalicelib.domain.identity import Principal
from chalicelib.domain.ids import new_id
from chalicelib.domain.resume import DEFAULT_MAX_ITEMS, LETTER_ITEM_ID, MAX_ITEMS, ResumeItem, ResumeItemStatus, ResumePart
from chalicelib.errors import ConcurrencyConflict, Conflict, FieldIssue, InvalidInput, NotFound
from chalicelib.schemas.resume import SkillIn
from chalicelib.services.audit import Read, record_staff_reads
from chalicelib.services.ports import Changes

if TYPE_CHECKING:
    from chalicelib.taxonomy import NormalisedSkill, SkillTaxonomy  # loaded on first use, not at cold start
from chalicelib.services.profiles import ProfilePorts, consultant_for_edit, consultant_for_read

_SKILL_IDS = uuid.UUID("5b0b7f3e-2a51-4c8e-9a43-0c4f1f6e2d11")  # namespace of the derived skill item ids


@dataclass(frozen=True)
class Resume:
    user_id: str
    items: list[ResumeItem]

    def part(self, part: ResumePart) -> list[ResumeItem]:
        return sorted((i for i in self.items if i.part is part), key=lambda i: i.created_at)


def get_resume(ports: ProfilePorts, principal: Principal, user_id: str) -> Resume:
    user = consultant_for_read(ports, principal, user_id)
    if principal.user_id != user_id:
        record_staff_reads(
            ports.accounts.uow, principal, ports.accounts.now(), AuditAction.PROFILE_READ, [Read(user_id, "resume", user_id)]
        )
    return Resume(user.user_id, ports.profiles.list_resume_items(user.user_id))


def normalise_skill(taxonomy: SkillTaxonomy, text: str, field: str) -> NormalisedSkill:
    """The skill as the taxonomy names it; a 422 naming ``field`` when there is nothing readable in it."""
    try:
        return taxonomy.normalise(text)
    except ValueError:  # nothing readable left, e.g. only control or format characters
        raise InvalidInput("A skill must have a readable name.", issues=[FieldIssue(field, "no readable text")]) from None


def item_content(ports: ProfilePorts, user: User, part: ResumePart, body: BaseModel, taxonomy: SkillTaxonomy) -> dict[str, Any]:
    content: dict[str, Any] = body.model_dump(mode="json")
    if part is ResumePart.SKILLS:
        skill = normalise_skill(taxonomy, content["name"], "name")
        content.update(skill_id=skill.skill_id, name=skill.name)
    if part is ResumePart.EXPERIENCE:
        used = [normalise_skill(taxonomy, name, f"skills_used.{n}") for n, name in enumerate(content["skills_used"])]
        content["skills_used"] = [{"skill_id": s.skill_id, "name": s.name} for s in used]
    if part is ResumePart.PORTFOLIO and content.get("file_id"):
        # Only one's own accepted portfolio file: a proposal will show it to a client.
        file = ports.profiles.get_file(user.user_id, content["file_id"])
        if file is None or file.status is not FileStatus.ACCEPTED or file.purpose is not FilePurpose.PORTFOLIO:
            raise InvalidInput(
                "Link one of your accepted portfolio files.", issues=[FieldIssue("file_id", "not an accepted portfolio file of yours")]
            )
    return content


def skill_item_id(user_id: str, skill: NormalisedSkill) -> str:
    """One item per skill: the id derives from the skill, so two concurrent adds cannot both insert it."""
    return str(uuid.uuid5(_SKILL_IDS, f"{user_id}:{skill.skill_id or skill.text.casefold()}"))


def add_item(
    ports: ProfilePorts, taxonomy: SkillTaxonomy, principal: Principal, user_id: str, part: ResumePart, body: BaseModel
) -> ResumeItem:
    user = consultant_for_edit(ports, principal, user_id)
    existing = [i for i in ports.profiles.list_resume_items(user.user_id) if i.part is part]
    if part is ResumePart.LETTER and existing:
        return update_item(ports, taxonomy, principal, user_id, part, LETTER_ITEM_ID, body)
    if len(existing) >= MAX_ITEMS.get(part, DEFAULT_MAX_ITEMS):
        raise Conflict(f"The resume holds the most {part.value} items it may; remove one first.")
    content = item_content(ports, user, part, body, taxonomy)
    if part is ResumePart.SKILLS:
        _ensure_new_skill(taxonomy, existing, body)
        item_id = skill_item_id(user.user_id, normalise_skill(taxonomy, content["name"], "name"))
    else:
        item_id = LETTER_ITEM_ID if part is ResumePart.LETTER else new_id()
    now = ports.accounts.now()
    item = ResumeItem(user.user_id, part, item_id, now, now, principal.user_id, content)
    try:
        ports.accounts.uow.commit(Changes().insert(item))
    except ConcurrencyConflict as exc:
        raise Conflict(f"The same {part.value} item was added at the same time; load the resume again.") from exc
    return item


def _ensure_new_skill(taxonomy: SkillTaxonomy, existing: list[ResumeItem], body: BaseModel, except_id: str | None = None) -> None:
    assert isinstance(body, SkillIn)
    wanted = normalise_skill(taxonomy, body.name, "name")
    key = wanted.skill_id or wanted.text.casefold()
    for item in existing:
        if item.item_id != except_id and (item.content.get("skill_id") or str(item.content.get("name", "")).casefold()) == key:
            raise Conflict(f"{wanted.name} is already among the skills; edit that one.")


def _item(ports: ProfilePorts, user: User, part: ResumePart, item_id: str) -> ResumeItem:
    item = ports.profiles.get_resume_item(user.user_id, part, item_id)
    if item is None:
        raise NotFound("Resume item not found.")
    return item


def update_item(
    ports: ProfilePorts, taxonomy: SkillTaxonomy, principal: Principal, user_id: str, part: ResumePart, item_id: str, body: BaseModel
) -> ResumeItem:
    user = consultant_for_edit(ports, principal, user_id)
    current = _item(ports, user, part, item_id)
    if part is ResumePart.SKILLS:
        _ensure_new_skill(taxonomy, [i for i in ports.profiles.list_resume_items(user.user_id) if i.part is part], body, item_id)
    content = item_content(ports, user, part, body, taxonomy)
    updated = replace(current, content=content, updated_at=ports.accounts.now(), updated_by=principal.user_id)
    try:
        ports.accounts.uow.commit(Changes().transition(updated, ResumeItemStatus.ACTIVE.value))
    except ConcurrencyConflict as exc:
        raise NotFound("Resume item not found.") from exc  # removed meanwhile
    return updated


def delete_item(ports: ProfilePorts, principal: Principal, user_id: str, part: ResumePart, item_id: str) -> None:
    """Removes an item; the letter, which has no id of its own to get wrong, may be removed when absent."""
    user = consultant_for_edit(ports, principal, user_id)
    if part is ResumePart.LETTER and ports.profiles.get_resume_item(user.user_id, part, item_id) is None:
        return
    item = _item(ports, user, part, item_id)
    try:
        ports.accounts.uow.commit(Changes().delete(item, ResumeItemStatus.ACTIVE.value))
    except ConcurrencyConflict:
        return  # removed meanwhile: deleting is idempotent
