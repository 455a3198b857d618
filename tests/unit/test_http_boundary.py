"""The HTTP boundary's pure parts: form decoding and Chalice error reshaping."""

from __future__ import annotations

import json

import pytest
from chalice import Response

from chalicelib.api.http import _BadRequest, _form_to_dict
from chalicelib.api.problems import chalice_error_to_problem


def test_dotted_form_names_build_nested_objects_and_blank_fields_are_absent() -> None:
    data = _form_to_dict("admin.email=a%40b.se&admin.name=Anna+A&organisation.address.city=Lund&vat_number=&accept=on")
    assert data == {"admin": {"email": "a@b.se", "name": "Anna A"}, "organisation": {"address": {"city": "Lund"}}, "accept": "on"}


@pytest.mark.parametrize("form", ["a=1&a=2", "a=1&a.b=2", "a.b=2&a=1"])
def test_ambiguous_forms_are_refused(form: str) -> None:
    with pytest.raises(_BadRequest) as raised:
        _form_to_dict(form)
    assert raised.value.status == 422


def test_too_many_form_fields_is_refused() -> None:
    with pytest.raises(_BadRequest) as raised:
        _form_to_dict("&".join(f"f{i}=1" for i in range(500)))
    assert raised.value.status == 413


def test_chalice_errors_become_problem_details_and_others_pass_through() -> None:
    reshaped = chalice_error_to_problem(
        Response(body={"Code": "UnsupportedMediaType", "Message": "Unsupported media type: text/xml"}, status_code=415)
    )
    assert reshaped.headers["Content-Type"] == "application/problem+json"
    assert json.loads(reshaped.body)["status"] == 415
    crash = chalice_error_to_problem(Response(body={"Code": "InternalServerError", "Message": "Traceback ..."}, status_code=500))
    assert "Traceback" not in crash.body
    ordinary = Response(body='{"Code": 1, "Message": 2, "x": 3}', status_code=200)
    assert chalice_error_to_problem(ordinary) is ordinary


@pytest.mark.parametrize("number", [0, 1.5, "0", "1700000000", " 20260131 ", "1e9"])
def test_dates_and_times_are_iso_text_not_unix_times(number: object) -> None:
    """pydantic's lax mode reads a number as seconds since 1970 (the fuzzing's ``?due_before=0`` was 1970-01-01)."""
    from pydantic import ValidationError

    from chalicelib.schemas.evaluations import DueQuery
    from chalicelib.schemas.proposals import InterviewRequestIn

    with pytest.raises(ValidationError, match="ISO 8601"):
        DueQuery.model_validate({"due_before": number})
    with pytest.raises(ValidationError) as nested:
        InterviewRequestIn.model_validate({"slots": [{"starts_at": number, "ends_at": "2026-02-01T10:00:00Z"}]})
    assert [e["loc"] for e in nested.value.errors()] == [("slots", 0, "starts_at")]
    assert str(DueQuery.model_validate({"due_before": "2026-01-31"}).due_before) == "2026-01-31"


def test_a_ticked_checkbox_signs_and_an_unticked_one_is_refused() -> None:
    from pydantic import ValidationError

    from chalicelib.schemas.contracts import SignIn

    signed = {"token": "t" * 40, "typed_name": "Bo Buyer", "document_sha256": "a" * 64}
    for ticked in (True, "true", "on"):  # JSON, and what web forms post for a checkbox
        assert SignIn.model_validate({**signed, "agree": ticked}).agree is True
    with pytest.raises(ValidationError, match="must be true"):
        SignIn.model_validate({**signed, "agree": False})
    assert SignIn.model_json_schema()["properties"]["agree"]["const"] is True
