"""My Profile, and a consultant's profile as its agency and staff see it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from chalicelib.api.http import Call, operation
from chalicelib.domain.identity import Role
from chalicelib.lazy import LazyModule

if TYPE_CHECKING:
    from chalicelib.schemas import mappers
    from chalicelib.schemas import profiles as s
    from chalicelib.services import profiles as service
else:  # imported on the first request that needs them (cold start)
    mappers = LazyModule("chalicelib.schemas.mappers")
    s = LazyModule("chalicelib.schemas.profiles")
    service = LazyModule("chalicelib.services.profiles")


bp = Blueprint(__name__)
CONSULTANT = frozenset({Role.CONSULTANT})
# Clients never read profiles here: a proposal shows them a redacted one, with consent.
PROFILE_READERS = frozenset({Role.STAFF, Role.AGENCY_ADMIN, Role.CONSULTANT})


@operation(
    bp,
    "/me/profile",
    "GET",
    summary="My profile (blank until first saved)",
    tag="profiles",
    response=lambda: s.ProfileResponse,
    roles=CONSULTANT,
)
def my_profile(call: Call[Any, Any]) -> s.ProfileResponse:
    view = service.my_profile(call.container.profiles, call.user)
    return mappers.profile_out(view.profile, stored=view.stored)


@operation(
    bp,
    "/me/profile",
    "PUT",
    summary="Save my profile (replaces it)",
    tag="profiles",
    request=lambda: s.ProfileIn,
    response=lambda: s.ProfileResponse,
    roles=CONSULTANT,
    errors=(409,),
)
def save_my_profile(call: Call[s.ProfileIn, Any]) -> s.ProfileResponse:
    return mappers.profile_out(service.save_my_profile(call.container.profiles, call.user, call.body))


@operation(
    bp,
    "/me/profile/completeness",
    "GET",
    summary="How complete my profile and resume are, and what is missing",
    tag="profiles",
    response=lambda: s.CompletenessResponse,
    roles=CONSULTANT,
)
def my_completeness(call: Call[Any, Any]) -> s.CompletenessResponse:
    result = service.my_completeness(call.container.profiles, call.user)
    missing = [s.MissingItem(key=r.key, label=r.label, weight=r.weight) for r in result.missing]
    return s.CompletenessResponse(score=result.score, missing=missing)


@operation(
    bp,
    "/consultants/{user_id}/profile",
    "GET",
    summary="A consultant's profile (the consultant, its agency, staff; audited)",
    tag="profiles",
    response=lambda: s.ProfileResponse,
    roles=PROFILE_READERS,
)
def consultant_profile(call: Call[Any, Any]) -> s.ProfileResponse:
    view = service.consultant_profile(call.container.profiles, call.user, call.path["user_id"])
    return mappers.profile_out(view.profile, stored=view.stored)


@operation(
    bp,
    "/consultants/{user_id}/profile",
    "PUT",
    summary="Save a consultant's profile (its agency, only with the consultant's written consent in force)",
    tag="profiles",
    request=lambda: s.ProfileIn,
    response=lambda: s.ProfileResponse,
    roles=frozenset({Role.AGENCY_ADMIN}),
    errors=(409,),
)
def save_consultant_profile(call: Call[s.ProfileIn, Any]) -> s.ProfileResponse:
    profile = service.save_consultant_profile(call.container.profiles, call.user, call.path["user_id"], call.body)
    return mappers.profile_out(profile)
