"""The resume, part by part: the consultant's own routes under /me, its agency's under /consultants/{user_id}.

Routes are declared in a loop over the parts so that every part gets the same operations, each with
its own documented request and response schema."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response

from chalicelib.api.http import Call, operation
from chalicelib.domain.identity import Role
from chalicelib.domain.resume import LETTER_ITEM_ID, MAX_IMPORT_BYTES, ResumePart
from chalicelib.lazy import LazyModule

if TYPE_CHECKING:
    from pydantic import BaseModel

    from chalicelib.domain.resume import ResumeItem
    from chalicelib.schemas import json_resume as json_resume_schemas
    from chalicelib.schemas import resume as s
    from chalicelib.services import resume as service
    from chalicelib.services.json_resume import JsonResumeExport
else:  # imported on the first request that needs them (cold start)
    json_resume_schemas = LazyModule("chalicelib.schemas.json_resume")
    s = LazyModule("chalicelib.schemas.resume")
    service = LazyModule("chalicelib.services.resume")

bp = Blueprint(__name__)
CONSULTANT = frozenset({Role.CONSULTANT})
AGENCY_ADMIN = frozenset({Role.AGENCY_ADMIN})


def item_out(item: ResumeItem) -> BaseModel:
    return s.PART_RESPONSES[item.part].model_validate({**item.content, "item_id": item.item_id, "updated_at": item.updated_at})


def resume_out(resume: service.Resume) -> BaseModel:
    letter = resume.part(ResumePart.LETTER)
    parts = {part.value: [item_out(i) for i in resume.part(part)] for part in ResumePart if part is not ResumePart.LETTER}
    return s.ResumeResponse(user_id=resume.user_id, letter=item_out(letter[0]) if letter else None, **parts)


def _owner(call: Call[Any, Any]) -> str:
    return call.path.get("user_id", call.user.user_id)


@operation(bp, "/me/resume", "GET", summary="My resume, every part", tag="resume", response=lambda: s.ResumeResponse, roles=CONSULTANT)
def my_resume(call: Call[Any, Any]) -> BaseModel:
    return resume_out(service.get_resume(call.container.profiles, call.user, call.user.user_id))


@operation(
    bp,
    "/consultants/{user_id}/resume",
    "GET",
    summary="A consultant's resume (the consultant, its agency, staff; audited)",
    tag="resume",
    response=lambda: s.ResumeResponse,
    roles=frozenset({Role.STAFF, Role.AGENCY_ADMIN, Role.CONSULTANT}),
)
def consultant_resume(call: Call[Any, Any]) -> BaseModel:
    return resume_out(service.get_resume(call.container.profiles, call.user, call.path["user_id"]))


def _declare(prefix: str, owner: str, roles: frozenset[Role], part: ResumePart) -> None:
    def request() -> type[BaseModel]:
        return s.PART_MODELS[part]

    def response() -> type[BaseModel]:
        return s.PART_RESPONSES[part]

    name = f"{owner}_{part.value}"

    def add(call: Call[Any, Any]) -> BaseModel:
        c = call.container
        return item_out(service.add_item(c.profiles, c.taxonomy, call.user, _owner(call), part, call.body))

    def update(call: Call[Any, Any]) -> BaseModel:
        c = call.container
        item_id = call.path.get("item_id", LETTER_ITEM_ID)
        return item_out(service.update_item(c.profiles, c.taxonomy, call.user, _owner(call), part, item_id, call.body))

    def remove(call: Call[Any, Any]) -> Response:
        service.delete_item(call.container.profiles, call.user, _owner(call), part, call.path.get("item_id", LETTER_ITEM_ID))
        return Response(body="", status_code=204)

    base = f"{prefix}/resume/{part.value}"
    if part is ResumePart.LETTER:  # one letter: written with PUT, no item id
        add.__name__, remove.__name__ = f"write_{name}", f"delete_{name}"
        operation(
            bp, base, "PUT", summary=f"Write the {part.value}", tag="resume", request=request, response=response, roles=roles, errors=(409,)
        )(add)
        operation(bp, base, "DELETE", summary=f"Delete the {part.value}", tag="resume", status=204, roles=roles)(remove)
        return
    add.__name__, update.__name__, remove.__name__ = f"add_{name}", f"update_{name}", f"delete_{name}"
    operation(
        bp,
        base,
        "POST",
        summary=f"Add a {part.value} item",
        tag="resume",
        request=request,
        response=response,
        status=201,
        roles=roles,
        errors=(409,),
    )(add)
    operation(
        bp,
        f"{base}/{{item_id}}",
        "PUT",
        summary=f"Replace a {part.value} item",
        tag="resume",
        request=request,
        response=response,
        roles=roles,
        errors=(409,),
    )(update)
    operation(bp, f"{base}/{{item_id}}", "DELETE", summary=f"Delete a {part.value} item", tag="resume", status=204, roles=roles)(remove)


for _part in ResumePart:
    _declare("/me", "my", CONSULTANT, _part)
    # An agency edits only with the consultant's written consent in force (checked in the service).
    _declare("/consultants/{user_id}", "consultant", AGENCY_ADMIN, _part)


# The resume as JSON Resume. The document is answered as built (not through the model), so that absent
# fields stay absent: JSON Resume has no nulls.
def _document(export: JsonResumeExport) -> Response:
    return Response(body=json.dumps(export.document), status_code=200, headers={"Content-Type": "application/json"})


def _declare_json_resume(prefix: str, owner: str, readers: frozenset[Role], editors: frozenset[Role]) -> None:
    path = f"{prefix}/resume/json-resume"

    # The mapping is loaded on first use, not at cold start.
    def read(call: Call[Any, Any]) -> Response:
        from chalicelib.services import json_resume

        return _document(json_resume.export_json_resume(call.container.profiles, call.user, _owner(call)))

    def write(call: Call[json_resume_schemas.JsonResume, Any]) -> Response:
        from chalicelib.services import json_resume

        c = call.container
        return _document(json_resume.import_json_resume(c.profiles, c.taxonomy, call.user, _owner(call), call.body))

    read.__name__, write.__name__ = f"export_{owner}_json_resume", f"import_{owner}_json_resume"
    audited = " (audited for staff)" if Role.STAFF in readers else ""
    operation(
        bp,
        path,
        "GET",
        summary=f"The resume as JSON Resume{audited}",
        tag="resume",
        response=lambda: json_resume_schemas.JsonResume,
        roles=readers,
    )(read)
    operation(
        bp,
        path,
        "PUT",
        summary="Import a JSON Resume: replaces the profile's basics and the whole resume; unknown fields are kept",
        tag="resume",
        request=lambda: json_resume_schemas.JsonResume,
        response=lambda: json_resume_schemas.JsonResume,
        roles=editors,
        errors=(409,),
        max_body_bytes=MAX_IMPORT_BYTES,
    )(write)


_declare_json_resume("/me", "my", CONSULTANT, CONSULTANT)
# An agency imports only with the consultant's written consent in force (checked in the service).
_declare_json_resume("/consultants/{user_id}", "consultant", frozenset({Role.STAFF, Role.AGENCY_ADMIN, Role.CONSULTANT}), AGENCY_ADMIN)
