"""The consent ledger and the audit log as the API shows them."""

from __future__ import annotations

from datetime import datetime

from chalicelib.domain.audit import AuditAction
from chalicelib.domain.consent import ConsentAction, ConsentPurpose, ConsentSource
from chalicelib.schemas.accounts import NoticeVersion
from chalicelib.schemas.base import RequestModel, ResponseModel


class HourlyRateOut(ResponseModel):
    amount_minor: int
    currency: str


class ConsentEntryResponse(ResponseModel):
    entry_id: str
    subject_id: str
    action: ConsentAction
    purpose: ConsentPurpose
    at: datetime
    source: ConsentSource
    actor_id: str
    notice_version: str | None
    notice_sha256: str | None
    agency_id: str | None
    client_id: str | None
    assignment_id: str | None
    hourly_rate: HourlyRateOut | None
    document_id: str | None
    document_sha256: str | None
    withdraws_entry_id: str | None


class ConsentResponse(ResponseModel):
    """A given consent with its withdrawal, if any."""

    consent: ConsentEntryResponse
    in_force: bool
    withdrawal: ConsentEntryResponse | None


class ConsentListResponse(ResponseModel):
    subject_id: str
    consents: list[ConsentResponse]
    entries: list[ConsentEntryResponse]  # the raw ledger, oldest first


class GiveProcessingConsentRequest(RequestModel):
    privacy_notice_version: NoticeVersion
    accept_privacy_notice: bool


class AuditEntryResponse(ResponseModel):
    entry_id: str
    subject_id: str
    at: datetime
    actor_id: str
    action: AuditAction
    object_type: str
    object_id: str
    details: dict[str, str]


class AuditListResponse(ResponseModel):
    subject_id: str
    items: list[AuditEntryResponse]
