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
