"""Shared bases and field types for request and response models."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, EmailStr, Field, SecretStr, StringConstraints


class RequestModel(BaseModel):
    # Unknown fields are errors, not silently dropped. Builds are deferred to first use: a Lambda cold
    # start should not pay for schemas of routes it never serves.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)


class ResponseModel(BaseModel):
    model_config = ConfigDict(defer_build=True)


Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=500)]


def lower_case(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def upper_case(value: object) -> object:
    # Before the pattern: pydantic checks a pattern ahead of its own to_upper.
    return value.upper() if isinstance(value, str) else value


CountryCode = Annotated[str, BeforeValidator(upper_case), StringConstraints(pattern=r"^[A-Z]{2}$")]
Email = Annotated[EmailStr, StringConstraints(max_length=128)]  # Cognito's limit for a username


def _no_surrounding_whitespace(value: object) -> object:
    # Cognito refuses such passwords. Checked before the model's whitespace stripping, which would
    # otherwise silently store a password other than the one typed.
    if isinstance(value, str) and value != value.strip():
        raise ValueError("must not begin or end with whitespace")
    return value


Password = Annotated[SecretStr, Field(min_length=12, max_length=256), BeforeValidator(_no_surrounding_whitespace)]
