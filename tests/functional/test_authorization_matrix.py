"""Every protected endpoint, for every role, on its own and on another tenant's objects.

A caller who may not see an object gets 404; a role that may not use an operation at all gets 403;
no token gets 401. The matrix must name every protected operation: a new route fails this test
until its row is added.
"""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.api.http import REGISTRY
from tests import builders
from tests.conftest import LocalStack
from tests.functional.conftest import Api, Pump
from tests.functional.tenants import Tenants, build_tenants

pytestmark = pytest.mark.functional
ACTORS = ("anonymous", "staff", "admin_a", "consultant_a", "admin_b", "client_c", "independent")


@pytest.fixture(scope="module")
def tenants(api: Api, pump: Pump, local_aws: LocalStack) -> Tenants:
    return build_tenants(api, pump, local_aws)


# (method, path, body, expected status per actor; actors not named get `default`)
Row = tuple[str, str, Any, dict[str, int], int]
MATRIX: list[Row] = [
    ("GET", "/me", None, {"anonymous": 401}, 200),
    ("PATCH", "/me", {"language": "sv"}, {"anonymous": 401}, 200),
    ("POST", "/me/invitations/accept", {"invitation_code": "x" * 32}, {"anonymous": 401, "consultant_a": 422, "independent": 422}, 403),
    ("GET", "/organisations/{A}", None, {"anonymous": 401, "admin_b": 404, "client_c": 404, "independent": 404}, 200),
    ("GET", "/organisations/{A}/members", None, {"anonymous": 401, "staff": 200, "admin_a": 200, "admin_b": 404, "independent": 404}, 403),
    ("GET", "/client-companies", None, {"anonymous": 401, "staff": 200}, 403),
    ("POST", "/client-companies/{C_approve}/approve", {}, {"anonymous": 401, "staff": 200}, 403),
    ("POST", "/client-companies/{C_reject}/reject", {"reason": "x"}, {"anonymous": 401, "staff": 200}, 403),
    (
        "POST",
        "/agencies/{A}/invitations",
        {"email": "x@example.com"},
        {"anonymous": 401, "admin_a": 201, "admin_b": 404, "independent": 404},
        403,
    ),
    ("GET", "/agencies/{A}/invitations", None, {"anonymous": 401, "staff": 200, "admin_a": 200, "admin_b": 404, "independent": 404}, 403),
    (
        "POST",
        "/agencies/{A}/consent-documents",
        {"consultant_name": "N", "consultant_email": "n@example.com"},
        {"anonymous": 401, "admin_a": 201, "admin_b": 404, "independent": 404},
        403,
    ),
    (
        "GET",
        "/agencies/{A}/consent-documents",
        None,
        {"anonymous": 401, "staff": 200, "admin_a": 200, "admin_b": 404, "independent": 404},
        403,
    ),
    ("GET", "/consent-documents", None, {"anonymous": 401, "staff": 200}, 403),
    ("GET", "/consent-documents/{doc}", None, {"anonymous": 401, "staff": 200, "admin_a": 200, "admin_b": 404, "independent": 404}, 403),
    (
        "GET",
        "/consent-documents/{doc}/file",
        None,
        {"anonymous": 401, "staff": 200, "admin_a": 200, "admin_b": 404, "independent": 404},
        403,
    ),
    ("POST", "/consent-documents/{doc}/upload", None, {"anonymous": 401, "admin_a": 409, "admin_b": 404, "independent": 404}, 403),
    ("POST", "/consent-documents/{doc_verify}/verify", {}, {"anonymous": 401, "staff": 200}, 403),
    ("POST", "/consent-documents/{doc_reject}/reject", {"reason": "x"}, {"anonymous": 401, "staff": 200}, 403),
    ("GET", "/me/consents", None, {"anonymous": 401}, 200),
    ("POST", "/me/consents", {"privacy_notice_version": "2026-11-01", "accept_privacy_notice": True}, {"anonymous": 401}, 201),
    ("POST", "/me/consents/{entry}/withdraw", None, {"anonymous": 401, "consultant_a": 200}, 404),
    ("GET", "/subjects/{subject}/consents", None, {"anonymous": 401, "staff": 200}, 403),
    ("GET", "/subjects/{subject}/audit", None, {"anonymous": 401, "staff": 200}, 403),
    ("GET", "/me/profile", None, {"anonymous": 401, "consultant_a": 200, "independent": 200}, 403),
    ("GET", "/me/profile/completeness", None, {"anonymous": 401, "consultant_a": 200, "independent": 200}, 403),
    (
        "POST",
        "/me/files",
        {"purpose": "cv", "content_type": "application/pdf", "filename": "cv.pdf"},
        {"anonymous": 401, "consultant_a": 201, "independent": 201},
        403,
    ),
    ("GET", "/me/files", None, {"anonymous": 401, "consultant_a": 200, "independent": 200}, 403),
    ("GET", "/me/export", None, {"anonymous": 401}, 200),
    ("GET", "/me/notifications", None, {"anonymous": 401}, 200),
    # Addressed under the caller's own id: another person's notification is simply not found.
    ("POST", "/me/notifications/{notification}/read", None, {"anonymous": 401, "consultant_a": 200}, 404),
    ("POST", "/me/notifications/read-all", None, {"anonymous": 401}, 200),
    # Assignments: the client company's users and staff; an agency or consultant role may not (403).
    ("POST", "/client-companies/{C}/assignments", builders.assignment_form(), {"anonymous": 401, "staff": 201, "client_c": 201}, 403),
    ("GET", "/client-companies/{C}/assignments", None, {"anonymous": 401, "staff": 200, "client_c": 200}, 403),
    ("GET", "/assignments", None, {"anonymous": 401, "staff": 200}, 403),
    ("GET", "/assignments/{assignment}", None, {"anonymous": 401, "staff": 200, "client_c": 200}, 403),
    ("PUT", "/assignments/{assignment}", builders.assignment_form(), {"anonymous": 401, "staff": 200, "client_c": 200}, 403),
    ("POST", "/assignments/{a_publish}/publish", None, {"anonymous": 401, "staff": 200, "client_c": 200}, 403),
    ("POST", "/assignments/{a_fill}/fill", None, {"anonymous": 401, "staff": 200, "client_c": 200}, 403),
    ("POST", "/assignments/{a_close}/close", None, {"anonymous": 401, "staff": 200, "client_c": 200}, 403),
    ("POST", "/assignments/{a_cancel}/cancel", None, {"anonymous": 401, "staff": 200, "client_c": 200}, 403),
    ("POST", "/assignments/{assignment}/matches", None, {"anonymous": 401, "staff": 201}, 403),
    # consultant_a has no saved profile: not among those who may be matched (404) even for staff.
    ("GET", "/consultants/{consultant}/fitting-assignments", None, {"anonymous": 401, "staff": 404}, 403),
    ("POST", "/me/export/archive", None, {"anonymous": 401}, 202),
    ("GET", "/me/export/archive/{missing_archive}", None, {"anonymous": 401}, 404),
    # A wrong password: the consultants' own requests are refused (422) and erase nothing.
    ("POST", "/me/erasure", {"password": "not-the-password-1"}, {"anonymous": 401, "consultant_a": 422, "independent": 422}, 403),
    ("POST", "/consultants/{victim}/erasure", None, {"anonymous": 401, "staff": 202}, 403),
    # Files are addressed under the caller's own id: another person's file is simply not found.
    ("GET", "/me/files/{others_file}", None, {"anonymous": 401, "consultant_a": 404, "independent": 404}, 403),
    ("GET", "/me/files/{others_file}/download", None, {"anonymous": 401, "consultant_a": 404, "independent": 404}, 403),
    ("DELETE", "/me/files/{others_file}", None, {"anonymous": 401, "consultant_a": 404, "independent": 404}, 403),
    (
        "POST",
        "/me/files/{others_file}/suggestions",
        {"skill_id": "python", "decision": "accept"},
        {"anonymous": 401, "consultant_a": 404, "independent": 404},
        403,
    ),
    (
        "GET",
        "/consultants/{consultant}/files",
        None,
        {"anonymous": 401, "staff": 200, "admin_a": 200, "consultant_a": 200, "admin_b": 404, "independent": 404},
        403,
    ),
    (
        "GET",
        "/consultants/{consultant}/files/{missing_file}/download",
        None,
        {"anonymous": 401, "client_c": 403},
        404,
    ),
    ("PUT", "/me/profile", {"name": "Renamed"}, {"anonymous": 401, "consultant_a": 200, "independent": 200}, 403),
    (
        "GET",
        "/consultants/{consultant}/profile",
        None,
        {"anonymous": 401, "staff": 200, "admin_a": 200, "consultant_a": 200, "admin_b": 404, "independent": 404},
        403,
    ),
    # admin_a sees the consultant but holds no written consent to edit: 403; other agencies do not see it: 404.
    (
        "PUT",
        "/consultants/{consultant}/profile",
        {"name": "Renamed"},
        {"anonymous": 401, "admin_a": 403, "admin_b": 404, "independent": 404},
        403,
    ),
    # Candidacies: staff shortlist and send; the consultant and its agency answer; others do not see them.
    (
        "POST",
        "/assignments/{sl_assignment}/candidacies",
        # With a rate: another row's PUT /me/profile clears the consultant's own.
        {"match_run_id": "{sl_run}", "consultant_id": "{sl_consultant}", "hourly_rate": {"amount_minor": 100_000, "currency": "SEK"}},
        {"anonymous": 401, "staff": 201},
        403,
    ),
    ("GET", "/assignments/{assignment}/candidacies", None, {"anonymous": 401, "staff": 200}, 403),
    ("GET", "/candidacies?status=consented", None, {"anonymous": 401, "staff": 200}, 403),
    ("POST", "/candidacies/{cand_suggested}/consent-requests", {}, {"anonymous": 401, "staff": 200}, 403),
    ("GET", "/me/candidacies", None, {"anonymous": 401, "consultant_a": 200, "independent": 200}, 403),
    ("GET", "/agencies/{A}/candidacies", None, {"anonymous": 401, "staff": 200, "admin_a": 200, "admin_b": 404, "independent": 404}, 403),
    (
        "GET",
        "/candidacies/{cand}",
        None,
        {"anonymous": 401, "staff": 200, "admin_a": 200, "consultant_a": 200, "admin_b": 404, "independent": 404},
        403,
    ),
    (
        "PUT",
        "/candidacies/{cand_rate}/rate",
        {"hourly_rate": {"amount_minor": 110_000, "currency": "SEK"}},
        {"anonymous": 401, "admin_a": 200, "admin_b": 404, "independent": 404},
        403,
    ),
    (
        "POST",
        "/candidacies/{cand_requested}/consent",
        {"hourly_rate": {"amount_minor": 100_000, "currency": "SEK"}},
        {"anonymous": 401, "admin_a": 200, "consultant_a": 200, "admin_b": 404, "independent": 404},
        403,
    ),
    (
        "POST",
        "/candidacies/{cand_decline}/decline",
        {"reason": "no"},
        {"anonymous": 401, "admin_a": 200, "consultant_a": 200, "admin_b": 404, "independent": 404},
        403,
    ),
    (
        "POST",
        "/candidacies/{cand_withdraw}/withdraw",
        {},
        {"anonymous": 401, "staff": 200, "admin_a": 200, "consultant_a": 200, "admin_b": 404, "independent": 404},
        403,
    ),
    ("POST", "/assignments/{send_assignment}/proposals", {"candidacy_ids": ["{to_send}"]}, {"anonymous": 401, "staff": 201}, 403),
    # Proposals: the client company's users and staff.
    ("GET", "/client-companies/{C}/proposals", None, {"anonymous": 401, "staff": 200, "client_c": 200}, 403),
    ("GET", "/proposals/{proposal}", None, {"anonymous": 401, "staff": 200, "client_c": 200}, 403),
    ("GET", "/proposals/{proposal}/candidates/{cand}", None, {"anonymous": 401, "staff": 200, "client_c": 200}, 403),
    ("POST", "/proposals/{accept_proposal}/candidates/{to_accept}/accept", None, {"anonymous": 401, "client_c": 200}, 403),
    ("POST", "/proposals/{decline_proposal}/candidates/{to_decline}/decline", {"reason": "no"}, {"anonymous": 401, "client_c": 200}, 403),
    (
        "POST",
        "/proposals/{ask_proposal}/candidates/{to_ask}/interviews",
        {"slots": [{"starts_at": "{later_start}", "ends_at": "{later_end}"}]},
        {"anonymous": 401, "client_c": 201},
        403,
    ),
    # Interviews: the client, the consultant's side and staff; other tenants do not see them.
    (
        "GET",
        "/interviews/{interview}",
        None,
        {"anonymous": 401, "admin_b": 404, "independent": 404},
        200,
    ),
    (
        "POST",
        "/interviews/{i_schedule}/schedule",
        {"starts_at": "{slot_start}"},
        {"anonymous": 401, "admin_a": 200, "consultant_a": 200, "admin_b": 404, "independent": 404},
        403,
    ),
    (
        "POST",
        "/interviews/{i_reschedule}/reschedule",
        {"slot": {"starts_at": "{later_start}", "ends_at": "{later_end}"}},
        {"anonymous": 401, "admin_b": 404, "independent": 404},
        200,
    ),
    ("POST", "/interviews/{i_cancel}/cancel", {}, {"anonymous": 401, "admin_b": 404, "independent": 404}, 200),
    # Not held yet: staff are refused for the state (409), everyone else for the role.
    ("POST", "/interviews/{i_outcome}/outcome", {"outcome": "positive"}, {"anonymous": 401, "staff": 409}, 403),
    ("PUT", "/consultants/{consultant}/agent", {"agent_id": "{staff_id}"}, {"anonymous": 401, "staff": 200}, 403),
    (
        "GET",
        "/consultants/{consultant}/agent",
        None,
        {"anonymous": 401, "staff": 200, "admin_a": 200, "consultant_a": 200, "admin_b": 404, "independent": 404},
        403,
    ),
]
_TEMPLATE = {
    "eng_ch": "engagement_id",
    "ch": "change_id",
    "ch_decline": "change_id",
    "eng_ch_signed": "engagement_id",
    "ch_signed": "change_id",
    "staff_id": "agent_id",
    "eng": "engagement_id",
    "eng_terms": "engagement_id",
    "eng_send": "engagement_id",
    "eng_cancel": "engagement_id",
    "eng_t": "engagement_id",
    "inv": "invoice_id",
    "eng_fixed": "engagement_id",
    "claim_ok": "claim_id",
    "claim_no": "claim_id",
    "eng_e": "engagement_id",
    "ev": "evaluation_id",
    "esc": "escalation_id",
    "eng_ac": "contract_id",
    "eng_cc": "contract_id",
    "env": "envelope_id",
    "env_sign": "envelope_id",
    "env_decline": "envelope_id",
    "A": "agency_id",
    "C_approve": "org_id",
    "C_reject": "org_id",
    "doc": "document_id",
    "doc_verify": "document_id",
    "doc_reject": "document_id",
    "subject": "subject_id",
    "entry": "entry_id",
    "notification": "notification_id",
    "consultant": "user_id",
    "missing": "item_id",
    "missing_file": "file_id",
    "missing_archive": "archive_id",
    "others_file": "file_id",
    "victim": "user_id",
    "C": "org_id",
    "assignment": "assignment_id",
    "a_publish": "assignment_id",
    "a_fill": "assignment_id",
    "a_close": "assignment_id",
    "a_cancel": "assignment_id",
    "sl_assignment": "assignment_id",
    "sl_consultant": "user_id",
    "send_assignment": "assignment_id",
    "cand": "candidacy_id",
    "cand_suggested": "candidacy_id",
    "cand_requested": "candidacy_id",
    "cand_decline": "candidacy_id",
    "cand_rate": "candidacy_id",
    "cand_withdraw": "candidacy_id",
    "to_accept": "candidacy_id",
    "to_decline": "candidacy_id",
    "to_ask": "candidacy_id",
    "proposal": "proposal_id",
    "accept_proposal": "proposal_id",
    "decline_proposal": "proposal_id",
    "ask_proposal": "proposal_id",
    "interview": "interview_id",
    "i_schedule": "interview_id",
    "i_reschedule": "interview_id",
    "i_cancel": "interview_id",
    "i_outcome": "interview_id",
    "eng_r_new": "engagement_id",
    "eng_r": "engagement_id",
    "eng_r_blind": "engagement_id",
    "rev_c": "review_id",
    "rev_k": "review_id",
    "rev_blind": "review_id",
}


def _resume_rows() -> list[Row]:
    """The resume's operations, part by part: the consultant's own under /me, the agency's under /consultants."""
    from chalicelib.domain.resume import ResumePart
    from tests.unit.test_resume import EXAMPLES

    own = {"anonymous": 401, "consultant_a": 200, "independent": 200}
    # admin_a sees consultant_a but holds no written consent: 403; agencies that do not see it: 404.
    agency = {"anonymous": 401, "admin_a": 403, "admin_b": 404, "independent": 404}
    rows: list[Row] = [
        ("GET", "/me/resume", None, own, 403),
        (
            "GET",
            "/consultants/{consultant}/resume",
            None,
            {"anonymous": 401, "staff": 200, "admin_a": 200, "consultant_a": 200, "admin_b": 404, "independent": 404},
            403,
        ),
    ]
    # JSON Resume: an import replaces the profile's basics and resume (a minimal document keeps the rest).
    document = {"basics": {"name": "Imported Name"}}
    rows += [
        ("GET", "/me/resume/json-resume", None, own, 403),
        ("PUT", "/me/resume/json-resume", document, own, 403),
        (
            "GET",
            "/consultants/{consultant}/resume/json-resume",
            None,
            {"anonymous": 401, "staff": 200, "admin_a": 200, "consultant_a": 200, "admin_b": 404, "independent": 404},
            403,
        ),
        ("PUT", "/consultants/{consultant}/resume/json-resume", document, agency, 403),
    ]
    for part in ResumePart:
        body = EXAMPLES[part]
        for prefix, allowed in (("/me", own), ("/consultants/{consultant}", agency)):
            base = f"{prefix}/resume/{part.value}"
            if part is ResumePart.LETTER:
                rows += [
                    ("PUT", base, body, allowed, 403),
                    ("DELETE", base, None, {**allowed, **{k: 204 for k, v in allowed.items() if v == 200}}, 403),
                ]
                continue
            created = {k: 201 if v == 200 else v for k, v in allowed.items()}
            missing = {k: 404 if v == 200 else v for k, v in allowed.items()}
            rows += [
                ("POST", base, body, created, 403),
                ("PUT", base + "/{missing}", body, missing, 403),
                ("DELETE", base + "/{missing}", None, missing, 403),
            ]
    return rows


MATRIX += _resume_rows()

TERMS = {
    "pricing": "daily",
    "currency": "SEK",
    "rate_minor": 800_000,
    "start_date": "2030-01-07",
    "end_date": "2030-06-30",
    "share_of_full_time": 80,
    "scope": "Platform work",
}
PARTIES_OF_ENGAGEMENT = {"anonymous": 401, "staff": 200, "admin_a": 200, "consultant_a": 200, "client_c": 200}
SIGNER_ONLY = {"anonymous": 401, "client_c": 200}
MATRIX += [
    ("GET", "/engagements", None, {"anonymous": 401}, 200),
    ("GET", "/engagements/{eng}", None, PARTIES_OF_ENGAGEMENT, 404),
    ("PUT", "/engagements/{eng_terms}/terms", TERMS, {"anonymous": 401, "staff": 200}, 403),
    ("POST", "/engagements/{eng_send}/contracts/send", {}, {"anonymous": 401, "staff": 200}, 403),
    ("POST", "/engagements/{eng_cancel}/cancel", {"reason": "The client withdrew"}, {"anonymous": 401, "staff": 200}, 403),
    # A contract is read by its parties only: the agency's by its admins, the client's by the client's users.
    ("GET", "/engagements/{eng}/contracts/{eng_ac}", None, {"anonymous": 401, "staff": 200, "admin_a": 200}, 404),
    ("GET", "/engagements/{eng}/contracts/{eng_cc}", None, {"anonymous": 401, "staff": 200, "client_c": 200}, 404),
    ("GET", "/engagements/{eng}/contracts/{eng_cc}/document?kind=document", None, {"anonymous": 401, "staff": 200, "client_c": 200}, 404),
    # A signing link works for the signer it was sent to, signed in, only.
    ("GET", "/signing/{env}?token={tok}", None, SIGNER_ONLY, 404),
    (
        "POST",
        "/signing/{env_sign}/sign",
        {"token": "{tok_sign}", "typed_name": "Bo Buyer", "document_sha256": "{sha_sign}", "agree": True},
        SIGNER_ONLY,
        404,
    ),
    ("POST", "/signing/{env_decline}/decline", {"token": "{tok_decline}", "reason": "Not now"}, SIGNER_ONLY, 404),
]
# Time: the consultant reports and submits, the agency's admins confirm or return; the client reads invoices.
READS_TIME = {"anonymous": 401, "staff": 200, "admin_a": 200, "consultant_a": 200}
THE_CONSULTANT = {"anonymous": 401, "consultant_a": 200, "independent": 404}
THE_AGENCY = {"anonymous": 401, "admin_a": 200, "admin_b": 404, "independent": 404}
MATRIX += [
    ("PUT", "/engagements/{eng_t}/time", {"day": "2026-10-02", "minutes": 90, "description": "Work"}, THE_CONSULTANT, 403),
    ("DELETE", "/engagements/{eng_t}/time?day=2026-10-01", None, {**THE_CONSULTANT, "consultant_a": 204}, 403),
    ("GET", "/engagements/{eng_t}/time?period=2026-10", None, READS_TIME, 404),
    ("GET", "/engagements/{eng_t}/periods", None, READS_TIME, 404),
    ("POST", "/engagements/{eng_t}/periods/submit", {"period": "2026-06"}, THE_CONSULTANT, 403),
    ("POST", "/engagements/{eng_t}/periods/confirm", {"period": "2026-07"}, THE_AGENCY, 403),
    ("POST", "/engagements/{eng_t}/periods/return", {"period": "2026-08", "comment": "Fix it"}, THE_AGENCY, 403),
    ("GET", "/agencies/{A}/periods", None, {"anonymous": 401, "staff": 200, "admin_a": 200}, 404),
    ("GET", "/engagements/{eng_t}/invoices", None, PARTIES_OF_ENGAGEMENT, 404),
    ("GET", "/invoices/{inv}", None, PARTIES_OF_ENGAGEMENT, 404),
    # Corrections are staff's; the invoice still waits for the agency's payout account, so there is nothing to
    # credit, void or issue again yet.
    (
        "POST",
        "/invoices/{inv}/credit-notes",
        {"amount_minor": 100, "reason": "duplicate", "memo": "x"},
        {"anonymous": 401, "staff": 409},
        403,
    ),
    ("POST", "/invoices/{inv}/void", {"reason": "Wrong address"}, {"anonymous": 401, "staff": 409}, 403),
    ("POST", "/invoices/{inv}/reissue", None, {"anonymous": 401, "staff": 409}, 403),
    ("POST", "/agencies/{A}/payouts/onboarding", None, THE_AGENCY, 403),
    (
        "POST",
        "/engagements/{eng_fixed}/claims",
        {"milestone_id": "1", "amount_minor": 100_000, "reference": "AG-1"},
        {**THE_AGENCY, "admin_a": 201},
        403,
    ),
    ("GET", "/engagements/{eng_fixed}/claims", None, {"anonymous": 401, "staff": 200, "admin_a": 200}, 404),
    ("POST", "/claims/{claim_ok}/approve", None, {"anonymous": 401, "staff": 200}, 403),
    ("POST", "/claims/{claim_no}/reject", {"reason": "Wrong amount"}, {"anonymous": 401, "staff": 200}, 403),
    ("GET", "/agencies/{A}/payouts", None, {"anonymous": 401, "staff": 200, "admin_a": 200}, 404),
    # A Consultant Agent's workspace is for the platform's staff.
    ("GET", "/agents/{staff_id}/workspace", None, {"anonymous": 401, "staff": 200}, 403),
    # ... and so is starting a proposal from the consultant's side (this consultant may not be matched: 404,
    # as for their fitting assignments above).
    ("POST", "/consultants/{sl_consultant}/fitting-assignments/{sl_assignment}/candidacy", {}, {"anonymous": 401, "staff": 404}, 403),
]

# Evaluations: the engagement's parties read them (each their share); the client's users rate, the consultant
# assesses themself, staff (the agent) check in, set the cadence and handle escalations.
RATING = {c: {"score": 4, "comment": "Good"} for c in ("quality", "communication", "expertise", "reliability")}
MATRIX += [
    ("GET", "/engagements/{eng_e}/evaluations", None, PARTIES_OF_ENGAGEMENT, 404),
    ("GET", "/evaluations/{ev}", None, PARTIES_OF_ENGAGEMENT, 404),
    ("POST", "/evaluations/{ev}/client-rating", RATING, {"anonymous": 401, "client_c": 200}, 403),
    ("POST", "/evaluations/{ev}/self-assessment", {"text": "A good start."}, THE_CONSULTANT, 403),
    ("POST", "/evaluations/{ev}/check-in", {"feedback": "Well done.", "notes": "Met on Monday."}, {"anonymous": 401, "staff": 200}, 403),
    ("PUT", "/engagements/{eng}/evaluation-schedule", {"first_after_days": 14, "every_days": 21}, {"anonymous": 401, "staff": 200}, 403),
    ("GET", "/evaluations?due_before=2100-01-01", None, {"anonymous": 401, "staff": 200}, 403),
    ("GET", "/escalations?status=open", None, {"anonymous": 401, "staff": 200}, 403),
    ("POST", "/escalations/{esc}/resolve", {"note": "Agreed a plan with the client."}, {"anonymous": 401, "staff": 200}, 403),
]

# Changes of an engagement: its parties propose and answer (staff may not: 403), everyone who sees the
# engagement reads them; each row's change is in the state that lets exactly one actor succeed. eng_ch has
# a change open, so no party may propose another (409); ch_decline was proposed by the client and agreed
# by the consultant, so only the agency may still decline; one addendum of ch_signed is signed, so only
# staff may withdraw it.
CHANGE_IN = {"end_date": "2028-06-30", "reason": "More work"}
PARTIES_ANSWER = {"anonymous": 401, "staff": 403}
MATRIX += [
    ("POST", "/engagements/{eng_ch}/changes", CHANGE_IN, {**PARTIES_ANSWER, "admin_a": 409, "consultant_a": 409, "client_c": 409}, 404),
    ("GET", "/engagements/{eng_ch}/changes", None, PARTIES_OF_ENGAGEMENT, 404),
    ("GET", "/engagements/{eng_ch}/changes/{ch}", None, PARTIES_OF_ENGAGEMENT, 404),
    (
        "POST",
        "/engagements/{eng_ch}/changes/{ch}/agree",
        None,
        {**PARTIES_ANSWER, "admin_a": 200, "consultant_a": 200, "client_c": 200},
        404,
    ),
    (
        "POST",
        "/engagements/{eng_fixed}/changes/{ch_decline}/decline",
        {"reason": "Not now"},
        {**PARTIES_ANSWER, "admin_a": 200, "consultant_a": 409, "client_c": 409},
        404,
    ),
    ("POST", "/engagements/{eng_ch_signed}/changes/{ch_signed}/addenda/send", {}, {"anonymous": 401, "staff": 200}, 403),
    (
        "POST",
        "/engagements/{eng_ch_signed}/changes/{ch_signed}/withdraw",
        {"reason": "The client will not sign"},
        {"anonymous": 401, "staff": 200, "admin_a": 403, "consultant_a": 403, "client_c": 409},
        404,
    ),
]

# Reviews: the client's users and the consultant write them once the engagement ended; staff and the agency,
# who see the engagement, may not (403). A revealed review is read by staff, both sides and the agency; a
# blind one by staff and its author's side only; staff hide.
REVIEW = {"rating": 4, "text": "Good work"}
MATRIX += [
    (
        "POST",
        "/engagements/{eng_r_new}/reviews",
        REVIEW,
        {"anonymous": 401, "staff": 403, "admin_a": 403, "consultant_a": 201, "client_c": 201},
        404,
    ),
    ("GET", "/engagements/{eng_r}/reviews", None, PARTIES_OF_ENGAGEMENT, 404),
    ("GET", "/engagements/{eng_r_blind}/reviews", None, PARTIES_OF_ENGAGEMENT, 404),
    ("GET", "/reviews/{rev_c}", None, {"anonymous": 401, "staff": 200, "admin_a": 200, "consultant_a": 200, "client_c": 200}, 404),
    ("GET", "/reviews/{rev_blind}", None, {"anonymous": 401, "staff": 200, "client_c": 200}, 404),
    ("PUT", "/reviews/{rev_blind}", {"rating": 3, "text": "Edited"}, {"anonymous": 401, "staff": 403, "client_c": 200}, 404),
    # Revealed: locked for its author too.
    ("PUT", "/reviews/{rev_c}", REVIEW, {"anonymous": 401, "staff": 403, "admin_a": 403, "consultant_a": 403, "client_c": 409}, 404),
    ("POST", "/reviews/{rev_k}/hide", {"reason": "Off topic"}, {"anonymous": 401, "staff": 200}, 403),  # rev_k: this row's own
    ("GET", "/consultants/{consultant}/reviews", None, {"anonymous": 401, "staff": 200, "admin_a": 200, "consultant_a": 200}, 404),
]


def test_the_matrix_covers_every_protected_operation(api: Api) -> None:
    protected = {(op.method, op.path) for op in REGISTRY if op.roles is not None}
    covered = set()
    for method, path, *_ in MATRIX:
        for placeholder, name in _TEMPLATE.items():
            path = path.replace("{" + placeholder + "}", "{" + name + "}")
        path = path.split("?")[0].replace("/organisations/{agency_id}", "/organisations/{org_id}")
        covered.add((method, path))
    assert protected == covered


@pytest.mark.parametrize(("method", "path", "body", "expected", "default"), MATRIX, ids=[f"{m} {p}" for m, p, *_ in MATRIX])
def test_authorization(api: Api, tenants: Tenants, method: str, path: str, body: Any, expected: dict[str, int], default: int) -> None:
    url = path.format(**tenants.ids)
    body = _filled(body, tenants.ids)
    # Actors allowed to change state go last, so that every refusal is checked against the unchanged object.
    order = sorted(ACTORS, key=lambda a: expected.get(a, default) < 400)
    outcomes = {}
    for name in order:
        actor = tenants.actors[name]
        reply = api.request(method, url, json_body=body, token=actor.token if actor else None)
        outcomes[name] = reply.status
        if reply.status >= 400:
            assert reply.headers["Content-Type"] == "application/problem+json"
    assert outcomes == {name: expected.get(name, default) for name in ACTORS}


def _filled(body: Any, ids: dict[str, str]) -> Any:
    """A row's body with its "{placeholder}" strings replaced by the tenants' ids."""
    if isinstance(body, dict):
        return {k: _filled(v, ids) for k, v in body.items()}
    if isinstance(body, list):
        return [_filled(v, ids) for v in body]
    if isinstance(body, str) and body.startswith("{") and body.endswith("}"):
        return ids[body[1:-1]]
    return body


def test_another_tenants_object_is_indistinguishable_from_a_missing_one(api: Api, tenants: Tenants) -> None:
    admin_b = tenants.actors["admin_b"]
    assert admin_b is not None
    other = api.get(f"/consent-documents/{tenants.ids['doc']}", token=admin_b.token)
    missing = api.get("/consent-documents/01JZZZZZZZZZZZZZZZZZZZZZZZ", token=admin_b.token)
    assert (other.status, other.body["detail"]) == (missing.status, missing.body["detail"])
