"""Organisations: reading them, their members, and staff approval of client companies."""

from __future__ import annotations

from dataclasses import replace

from chalicelib.domain.accounts import Organisation, OrgKind, OrgStatus, User
from chalicelib.domain.audit import AuditAction, AuditEntry
from chalicelib.domain.identity import Principal
from chalicelib.domain.ids import new_id
from chalicelib.errors import ConcurrencyConflict, Conflict, NotFound
from chalicelib.services.accounts import AccountPorts, ensure_staff
from chalicelib.services.audit import Read, record_staff_reads
from chalicelib.services.ports import Changes


def get_organisation(ports: AccountPorts, principal: Principal, org_id: str) -> Organisation:
    org = ports.accounts.get_organisation(org_id)
    if org is None or not (principal.is_staff or principal.org_id == org_id):
        raise NotFound("Organisation not found.")
    record_staff_reads(ports.uow, principal, ports.now(), AuditAction.ORGANISATION_READ, [Read(org_id, "organisation", org_id)])
    return org


def list_members(ports: AccountPorts, principal: Principal, org_id: str) -> list[User]:
    if not (principal.is_staff or principal.administers(org_id)) or ports.accounts.get_organisation(org_id) is None:
        raise NotFound("Organisation not found.")
    members = ports.accounts.list_members(org_id)
    record_staff_reads(ports.uow, principal, ports.now(), AuditAction.USER_READ, [Read(u.user_id, "user", u.user_id) for u in members])
    return members


def list_client_companies(ports: AccountPorts, principal: Principal, status: OrgStatus) -> list[Organisation]:
    ensure_staff(principal)
    orgs = ports.accounts.list_organisations(OrgKind.CLIENT, status)
    reads = [Read(o.org_id, "organisation", o.org_id) for o in orgs]
    record_staff_reads(ports.uow, principal, ports.now(), AuditAction.ORGANISATION_READ, reads)
    return orgs


def review_client_company(ports: AccountPorts, principal: Principal, org_id: str, *, approve: bool, reason: str | None) -> Organisation:
    ensure_staff(principal)
    org = ports.accounts.get_organisation(org_id)
    if org is None or org.kind is not OrgKind.CLIENT:
        raise NotFound("Organisation not found.")
    if org.status is not OrgStatus.PENDING_APPROVAL:
        raise Conflict(f"The company is already {org.status.value}.")
    now = ports.now()
    status = OrgStatus.ACTIVE if approve else OrgStatus.REJECTED
    reviewed = replace(org, status=status, reviewed_by=principal.user_id, reviewed_at=now, review_reason=reason)
    audit = AuditEntry(
        subject_id=org_id,
        entry_id=new_id(),
        at=now,
        actor_id=principal.user_id,
        action=AuditAction.ORGANISATION_APPROVED if approve else AuditAction.ORGANISATION_REJECTED,
        object_type="organisation",
        object_id=org_id,
    )
    try:
        ports.uow.commit(Changes().transition(reviewed, OrgStatus.PENDING_APPROVAL.value).insert(audit))
    except ConcurrencyConflict as exc:
        raise Conflict("The company was reviewed concurrently.") from exc
    return reviewed
