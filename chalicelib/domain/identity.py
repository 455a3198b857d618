"""Who is calling: roles and the authenticated principal."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    STAFF = "staff"
    AGENCY_ADMIN = "agency_admin"
    CONSULTANT = "consultant"
    CLIENT = "client"


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. ``org_id`` is the agency or client company the user belongs to."""

    user_id: str
    roles: frozenset[Role]
    org_id: str | None = None

    def has(self, role: Role) -> bool:
        return role in self.roles

    @property
    def is_staff(self) -> bool:
        return Role.STAFF in self.roles

    def administers(self, org_id: str) -> bool:
        return Role.AGENCY_ADMIN in self.roles and self.org_id == org_id


@dataclass(frozen=True)
class RequestContext:
    """Evidence about the request that consent and audit entries record (never logged)."""

    ip: str | None = None
    user_agent: str | None = None
