"""Registration, login, organisations, invitations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, StringConstraints, model_validator

from chalicelib.domain.accounts import ConsentDocumentStatus, InvitationStatus, Language, OrgKind, OrgStatus
from chalicelib.domain.identity import Role
from chalicelib.schemas.base import CountryCode, Email, Name, Password, RequestModel, ResponseModel, ShortText, upper_case

OrganisationNumber = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z][0-9A-Za-z -]{3,30}$")]
VatNumber = Annotated[str, BeforeValidator(upper_case), StringConstraints(pattern=r"^[A-Z]{2}[0-9A-Z+*.]{2,13}$")]
NoticeVersion = Annotated[str, StringConstraints(min_length=1, max_length=32)]


class AddressIn(RequestModel):
    line1: ShortText
    line2: ShortText | None = None
    postal_code: Annotated[str, StringConstraints(min_length=2, max_length=16)]
    city: Name
    country: CountryCode


class OrganisationIn(RequestModel):
    name: Name
    organisation_number: OrganisationNumber
    country: CountryCode
    vat_number: VatNumber | None = None
    address: AddressIn
    billing_email: Email


class NewUserIn(RequestModel):
    name: Name
    email: Email
    password: Password


class PrivacyConsentIn(RequestModel):
    """Processing consent captured at every registration: the notice version the person accepted."""

    privacy_notice_version: NoticeVersion
    accept_privacy_notice: bool


class RegistrationIn(PrivacyConsentIn):
    """What every registration has besides its people and organisation."""

    language: Language = Field(default=Language.EN, description="the language of the person's e-mails and notifications")


class AgencyRegistrationRequest(RegistrationIn):
    organisation: OrganisationIn
    admin: NewUserIn


class ClientRegistrationRequest(RegistrationIn):
    company: OrganisationIn
    user: NewUserIn


class ConsultantRegistrationRequest(RegistrationIn):
    name: Name
    email: Email
    password: Password
    invitation_code: Annotated[str, StringConstraints(min_length=16, max_length=64)] | None = None
    independent: bool = False
    # Independent consultants may name their one-person company; otherwise their own name is used.
    company_name: Name | None = None
    organisation_number: OrganisationNumber | None = None
    country: CountryCode = "SE"
    # Required when the invitation follows an agency's on-behalf written consent.
    confirm_agency_representation: bool = False

    @model_validator(mode="after")
    def _one_way_in(self) -> ConsultantRegistrationRequest:
        if bool(self.invitation_code) == self.independent:
            raise ValueError("give either an invitation_code or independent=true, not both or neither")
        return self


class VerifyEmailRequest(RequestModel):
    email: Email
    code: Annotated[str, StringConstraints(min_length=16, max_length=64)]


class ResendVerificationRequest(RequestModel):
    email: Email


class AcceptedResponse(ResponseModel):
    status: Literal["accepted"] = "accepted"
    detail: str


class AcceptInvitationRequest(RequestModel):
    invitation_code: Annotated[str, StringConstraints(min_length=16, max_length=64)]
    confirm_agency_representation: bool = False


class LoginRequest(RequestModel):
    email: Email
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class RefreshRequest(RequestModel):
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=8192)]


class TokensResponse(ResponseModel):
    id_token: str
    access_token: str
    refresh_token: str | None
    expires_in: int
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 (a scheme name, not a secret)


class AddressOut(ResponseModel):
    line1: str
    line2: str | None
    postal_code: str
    city: str
    country: str


class OrganisationResponse(ResponseModel):
    org_id: str
    kind: OrgKind
    name: str
    country: str
    status: OrgStatus
    organisation_number: str | None
    vat_number: str | None
    address: AddressOut | None
    billing_email: str | None
    independent: bool
    created_at: datetime


class OrganisationListResponse(ResponseModel):
    items: list[OrganisationResponse]


class UserResponse(ResponseModel):
    user_id: str
    email: str
    name: str
    roles: list[Role]
    org_id: str | None
    status: str
    language: Language
    created_at: datetime


class UserListResponse(ResponseModel):
    items: list[UserResponse]


class UpdateMeRequest(RequestModel):
    """Only the fields given change."""

    language: Language | None = None
    name: Name | None = None


class MeResponse(ResponseModel):
    user: UserResponse
    organisation: OrganisationResponse | None


class RegistrationResponse(ResponseModel):
    user: UserResponse
    organisation: OrganisationResponse | None


class ReviewRequest(RequestModel):
    reason: ShortText | None = None


class RejectRequest(RequestModel):
    reason: ShortText


class CreateInvitationRequest(RequestModel):
    email: Email


class InvitationResponse(ResponseModel):
    invitation_id: str
    agency_id: str
    email: str
    status: InvitationStatus
    created_at: datetime
    expires_at: datetime
    consent_document_id: str | None


class InvitationListResponse(ResponseModel):
    items: list[InvitationResponse]


class CreateConsentDocumentRequest(RequestModel):
    consultant_name: Name
    consultant_email: Email


class PresignedUploadResponse(ResponseModel):
    url: str
    fields: dict[str, str]
    expires_at: datetime
    max_bytes: int
    content_type: str = Field(description="the Content-Type the form must send (the policy binds it)")


class ConsentDocumentResponse(ResponseModel):
    document_id: str
    agency_id: str
    consultant_name: str
    consultant_email: str
    status: ConsentDocumentStatus
    created_at: datetime
    size_bytes: int | None
    sha256: str | None
    problem: str | None
    reviewed_at: datetime | None
    review_reason: str | None
    consultant_user_id: str | None


class ConsentDocumentCreatedResponse(ResponseModel):
    document: ConsentDocumentResponse
    upload: PresignedUploadResponse


class ConsentDocumentListResponse(ResponseModel):
    items: list[ConsentDocumentResponse]


class DownloadResponse(ResponseModel):
    url: str
    expires_in: int


class HealthResponse(ResponseModel):
    status: Literal["ok"] = "ok"
    version: str
    stage: str


class PrivacyNoticeResponse(ResponseModel):
    version: str
    sha256: str
    text: str


class ConsentDocumentStatusQuery(RequestModel):
    status: ConsentDocumentStatus = ConsentDocumentStatus.UPLOADED


class OrganisationStatusQuery(RequestModel):
    status: OrgStatus = OrgStatus.PENDING_APPROVAL
