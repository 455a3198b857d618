"""Shared bases and field types for request and response models."""

from __future__ import annotations

import re
from functools import cache
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    SecretStr,
    StringConstraints,
    TypeAdapter,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

_NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")


def _documents_a_time(schema: dict[str, Any]) -> bool:
    return schema.get("format") in ("date", "date-time", "time") or any(_documents_a_time(branch) for branch in schema.get("anyOf", []))


@cache
def _temporal_field(model: type[BaseModel], name: str) -> bool:
    """Whether the field is documented as a date or time (date, AwareDatetime, date | None, ...)."""
    annotation = model.model_fields[name].annotation
    return annotation is not None and _documents_a_time(TypeAdapter(annotation).json_schema())


class RequestModel(BaseModel):
    # Unknown fields are errors, not silently dropped. Builds are deferred to first use: a Lambda cold
    # start should not pay for schemas of routes it never serves.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)

    @field_validator("*", mode="before")
    @classmethod
    def _temporal_values_are_iso_text(cls, value: object, info: ValidationInfo) -> object:
        """pydantic reads a number, or a string of digits, as a Unix time (``?due_before=0`` would be
        1970-01-01); dates and times here are ISO 8601, as the document says."""
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        reads_as_number = is_number or (isinstance(value, str) and _NUMBER.match(value) is not None)
        if reads_as_number and info.field_name is not None and _temporal_field(cls, info.field_name):
            raise ValueError("write it as ISO 8601 (2026-01-31, 2026-01-31T09:00:00Z), not as a number")
        return value


class ResponseModel(BaseModel):
    model_config = ConfigDict(defer_build=True)


Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=500)]


def lower_case(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def upper_case(value: object) -> object:
    # A validator of its own, run before the pattern: pydantic checks a pattern ahead of its own to_upper.
    return value.upper() if isinstance(value, str) else value


# The constraint first and the validator after it: in the other order the pattern is left out of the JSON
# Schema (and so of /openapi.json). The validator still runs first, so the pattern also documents that
# lower case is accepted.
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$"), BeforeValidator(upper_case)]
Email = Annotated[EmailStr, StringConstraints(max_length=128)]  # Cognito's limit for a username


def _no_surrounding_whitespace(value: object) -> object:
    # Cognito refuses such passwords. Checked before the model's whitespace stripping, which would
    # otherwise silently store a password other than the one typed.
    if isinstance(value, str) and value != value.strip():
        raise ValueError("must not begin or end with whitespace")
    return value


def _must_be_true(value: bool) -> bool:
    if not value:
        raise ValueError("must be true")
    return value


# A box that must be ticked. Not Literal[True]: that refuses the "true" (or "on") of a web form's checkbox.
Ticked = Annotated[bool, AfterValidator(_must_be_true), WithJsonSchema({"type": "boolean", "const": True})]

Password = Annotated[SecretStr, Field(min_length=12, max_length=256), BeforeValidator(_no_surrounding_whitespace)]
