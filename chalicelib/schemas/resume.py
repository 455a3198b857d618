"""Resume parts as web forms send them (validated: dates in order and not in the future, lengths
bounded, links well-formed) and as the API shows them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AnyHttpUrl, Field, StringConstraints, ValidationInfo, create_model, field_validator, model_validator

from chalicelib.domain.resume import ResumePart
from chalicelib.schemas.base import RequestModel, ResponseModel

Text = Annotated[str, StringConstraints(min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(min_length=1, max_length=4000)]
Link = Annotated[AnyHttpUrl, Field(max_length=2000)]
SkillName = Annotated[str, StringConstraints(min_length=1, max_length=100)]


def _today() -> date:
    return datetime.now(UTC).date()


def _not_in_future(value: date) -> date:
    if value > _today():
        raise ValueError("cannot be in the future")
    return value


PastDate = Annotated[date, AfterValidator(_not_in_future)]


def not_before(value: date | None, info: ValidationInfo, earlier: str, message: str) -> date | None:
    """A date field that must not come before an earlier field of the same model."""
    first = info.data.get(earlier)
    if value is not None and first is not None and value < first:
        raise ValueError(message)
    return value


class _Period(RequestModel):
    start: PastDate
    end: PastDate | None = Field(None, description="empty while ongoing")

    # Field validators (not a model validator) so that an error names the field it is about.
    @field_validator("end")
    @classmethod
    def _end_after_start(cls, value: date | None, info: ValidationInfo) -> date | None:
        return not_before(value, info, "start", "the end comes before the start")


class LetterIn(RequestModel):
    text: Annotated[str, StringConstraints(min_length=1, max_length=8000)]


class EducationIn(_Period):
    institution: Text
    degree: Text | None = None
    field_of_study: Text | None = None
    description: LongText | None = None


class ExperienceIn(_Period):
    organisation: Text = Field(description="the client or employer")
    role: Text
    description: LongText | None = None
    skills_used: list[SkillName] = Field(default_factory=list, max_length=50)


class SkillIn(RequestModel):
    name: SkillName = Field(description="normalised to the skill taxonomy; unknown skills are kept as written")
    level: int = Field(ge=1, le=5, description="1 beginner … 5 expert")
    years: int = Field(0, ge=0, le=60)


class PortfolioIn(RequestModel):
    title: Text
    description: LongText | None = None
    url: Link | None = None
    file_id: Annotated[str, StringConstraints(pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$")] | None = Field(None, description="an accepted upload")

    @model_validator(mode="after")
    def _something_to_show(self) -> PortfolioIn:
        if self.url is None and self.file_id is None:
            raise ValueError("give a link, an uploaded file, or both")
        return self


class AwardIn(RequestModel):
    title: Text
    issuer: Text | None = None
    awarded_on: PastDate
    description: LongText | None = None


class CertificateIn(RequestModel):
    name: Text
    issuer: Text
    issued_on: PastDate
    expires_on: date | None = None
    credential_id: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    url: Link | None = None

    @field_validator("expires_on")
    @classmethod
    def _expires_after_issue(cls, value: date | None, info: ValidationInfo) -> date | None:
        return not_before(value, info, "issued_on", "the certificate expires before it was issued")


PART_MODELS: dict[ResumePart, type[RequestModel]] = {
    ResumePart.LETTER: LetterIn,
    ResumePart.EDUCATION: EducationIn,
    ResumePart.EXPERIENCE: ExperienceIn,
    ResumePart.SKILLS: SkillIn,
    ResumePart.PORTFOLIO: PortfolioIn,
    ResumePart.AWARDS: AwardIn,
    ResumePart.CERTIFICATES: CertificateIn,
}


class NormalisedSkillOut(ResponseModel):
    skill_id: str | None = Field(description="the canonical skill, or null when kept as free text")
    name: str


def _response_model(part: ResumePart, model: type[RequestModel]) -> type[ResponseModel]:
    """The part as shown: its fields, the item id, and normalised skills where the part has skills."""
    fields: dict[str, Any] = {
        name: (info.annotation, ... if info.is_required() else info.get_default(call_default_factory=True))
        for name, info in model.model_fields.items()
    }
    fields["item_id"] = (str, ...)
    fields["updated_at"] = (datetime, ...)
    if part is ResumePart.SKILLS:
        fields["skill_id"] = (str | None, None)
    if part is ResumePart.EXPERIENCE:
        fields["skills_used"] = (list[NormalisedSkillOut], [])
    name = model.__name__.removesuffix("In") + "Response"
    return create_model(name, __base__=ResponseModel, **fields)


PART_RESPONSES: dict[ResumePart, type[ResponseModel]] = {part: _response_model(part, model) for part, model in PART_MODELS.items()}

_RESUME_FIELDS: dict[str, Any] = {"user_id": (str, ...), "letter": (PART_RESPONSES[ResumePart.LETTER] | None, None)}
_RESUME_FIELDS |= {part.value: (list.__class_getitem__(PART_RESPONSES[part]), []) for part in ResumePart if part is not ResumePart.LETTER}
ResumeResponse = create_model("ResumeResponse", __base__=ResponseModel, **_RESUME_FIELDS)
