"""My Profile: the consultant edits its own; its agency reads it, and edits it only with the consultant's
written consent in force; staff read everything, and each staff read is audited. Clients never see a
profile here (a proposal shows a redacted one, later)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from chalicelib.domain.accounts import User
from chalicelib.domain.audit import AuditAction
from chalicelib.domain.completeness import Completeness, completeness
from chalicelib.domain.consent import ConsentPurpose, in_force
from chalicelib.domain.identity import Principal, Role
from chalicelib.domain.money import HourlyRate
from chalicelib.domain.profiles import Availability, Language, Profile, ProfileStatus
from chalicelib.errors import ConcurrencyConflict, Conflict, Forbidden, NotFound
from chalicelib.schemas.profiles import ProfileIn
from chalicelib.services.accounts import AccountPorts
from chalicelib.services.audit import Read, record_staff_reads
from chalicelib.services.ports import Changes, ConsentLedger, ProfileRepository


@dataclass(frozen=True)
class ProfilePorts:
    accounts: AccountPorts
    profiles: ProfileRepository
    ledger: ConsentLedger


@dataclass(frozen=True)
class ProfileView:
    profile: Profile
    stored: bool  # False: nothing saved yet; the view is the blank profile with the user's name


def _consultant(ports: ProfilePorts, user_id: str) -> User:
    user = ports.accounts.accounts.get_user(user_id)
    if user is None or Role.CONSULTANT not in user.roles:
        raise NotFound("Consultant not found.")
    return user


def profile_view(ports: ProfilePorts, user: User) -> ProfileView:
    stored = ports.profiles.get_profile(user.user_id)
    if stored is not None:
        # The agency is the user's current one: a consultant who joined an agency after saving keeps its profile.
        return ProfileView(replace(stored, agency_id=user.org_id), True)
    now = ports.accounts.now()
    return ProfileView(Profile(user.user_id, user.org_id, user.name, now, now, user.user_id), False)


def consultant_for_read(ports: ProfilePorts, principal: Principal, user_id: str) -> User:
    """The consultant whose profile and resume the caller may read: itself, its agency's admins, staff."""
    user = _consultant(ports, user_id)
    if not (principal.user_id == user_id or principal.is_staff or (user.org_id is not None and principal.administers(user.org_id))):
        raise NotFound("Consultant not found.")
    return user


def consultant_for_edit(ports: ProfilePorts, principal: Principal, user_id: str) -> User:
    """The consultant whose profile and resume the caller may edit: itself, or its agency while the
    consultant's written consent for that agency is in force (withdrawing it ends that at once)."""
    user = _consultant(ports, user_id)
    if principal.user_id == user_id:
        return user
    if user.org_id is None or not principal.administers(user.org_id):
        raise NotFound("Consultant not found.")
    if not in_force(ports.ledger.list_for_subject(user_id), ConsentPurpose.AGENCY_REPRESENTATION, agency_id=user.org_id):
        raise Forbidden("The consultant edits this profile; an agency may only with the consultant's written consent in force.")
    return user


def my_profile(ports: ProfilePorts, principal: Principal) -> ProfileView:
    if not principal.has(Role.CONSULTANT):
        raise Forbidden("Only consultants have a profile.")
    return profile_view(ports, _consultant(ports, principal.user_id))


def consultant_profile(ports: ProfilePorts, principal: Principal, user_id: str) -> ProfileView:
    view = profile_view(ports, consultant_for_read(ports, principal, user_id))
    if principal.user_id != user_id:
        record_staff_reads(
            ports.accounts.uow, principal, ports.accounts.now(), AuditAction.PROFILE_READ, [Read(user_id, "profile", user_id)]
        )
    return view


def my_completeness(ports: ProfilePorts, principal: Principal) -> Completeness:
    """The consultant's to-do list: what its profile and resume still lack."""
    if not principal.has(Role.CONSULTANT):
        raise Forbidden("Only consultants have a profile.")
    user = _consultant(ports, principal.user_id)
    return completeness(ports.profiles.get_profile(user.user_id), ports.profiles.list_resume_items(user.user_id))


def profile_from(
    body: ProfileIn, user: User, principal: Principal, current: Profile | None, now: datetime, json_resume_extras: dict[str, Any] | None
) -> Profile:
    """The profile as a whole: the form's fields (or an import's), replacing what was stored."""
    rate = body.expected_hourly_rate
    return Profile(
        user_id=user.user_id,
        agency_id=user.org_id,
        name=body.name,
        created_at=current.created_at if current else now,
        updated_at=now,
        updated_by=principal.user_id,
        title=body.title,
        summary=body.summary,
        city=body.city,
        country=body.country,
        remote_preference=body.remote_preference,
        languages=[Language(lang.code, lang.level) for lang in body.languages],
        availability=Availability(body.availability.available_from, body.availability.share_of_full_time) if body.availability else None,
        expected_hourly_rate=HourlyRate(rate.amount_minor, rate.currency) if rate else None,
        json_resume_extras=json_resume_extras,
    )


def save_my_profile(ports: ProfilePorts, principal: Principal, body: ProfileIn) -> Profile:
    if not principal.has(Role.CONSULTANT):
        raise Forbidden("Only consultants have a profile.")
    return _save(ports, _consultant(ports, principal.user_id), body, principal)


def save_consultant_profile(ports: ProfilePorts, principal: Principal, user_id: str, body: ProfileIn) -> Profile:
    return _save(ports, consultant_for_edit(ports, principal, user_id), body, principal)


def _save(ports: ProfilePorts, user: User, body: ProfileIn, principal: Principal) -> Profile:
    current = ports.profiles.get_profile(user.user_id)
    extras = current.json_resume_extras if current else None  # a form edit keeps what an import kept
    profile = profile_from(body, user, principal, current, ports.accounts.now(), extras)
    changes = Changes().insert(profile) if current is None else Changes().transition(profile, ProfileStatus.ACTIVE.value, was=current)
    try:
        ports.accounts.uow.commit(changes)
    except ConcurrencyConflict as exc:
        raise Conflict("The profile was changed at the same time; load it again and retry.") from exc
    return profile
