"""The message templates: both languages everywhere, the same placeholders, loud when one is missing."""

from __future__ import annotations

import pytest

from chalicelib.notifications.templates import TEMPLATES, MissingParameter, render

DISCLOSURE = {
    "recipient_name",
    "client_name",
    "assignment_title",
    "assignment_summary",
    "start_date",
    "end_date",
    "extent",
    "rate",
    "commission",
    "agency_net",
    "expires_at",
    "link",
}
INTERVIEW = {"recipient_name", "assignment_title", "starts_at", "ends_at", "location", "link"}
ENGAGEMENT = {"recipient_name", "assignment_title", "client_name", "consultant_name", "start_date", "end_date", "price", "link"}
PERIOD = {"recipient_name", "assignment_title", "consultant_name", "period", "link"}
EVALUATION_CLIENT = {"recipient_name", "consultant_name", "assignment_title", "deadline", "link"}
EVALUATION_CONSULTANT = {"recipient_name", "client_name", "assignment_title", "deadline", "link"}
ESCALATION = {"recipient_name", "client_name", "consultant_name", "assignment_title", "due_date", "link"}
CHANGE = {
    "recipient_name",
    "assignment_title",
    "client_name",
    "consultant_name",
    "previous_end_date",
    "new_end_date",
    "extent",
    "rate",
    "link",
}
UNSIGNED = {"recipient_name", "assignment_title", "client_name", "consultant_name", "party", "status", "reason", "link"}
# The interface the features that send these code against.
PARAMS = {
    "disclosure_consent_requested": DISCLOSURE,
    "disclosure_rate_changed": DISCLOSURE,
    "disclosure_request_expired": {"recipient_name", "client_name", "assignment_title"},
    "proposal_received": {"recipient_name", "assignment_title", "candidate_count", "link"},
    "candidate_withdrawn": {"recipient_name", "assignment_title", "candidate_name", "link"},
    "candidate_declined": {"recipient_name", "assignment_title", "reason", "link"},
    "candidate_accepted": {"recipient_name", "assignment_title", "client_name", "link"},
    "interview_requested": {"recipient_name", "assignment_title", "client_name", "slots", "link"},
    "interview_scheduled": INTERVIEW,
    "interview_rescheduled": INTERVIEW,
    "interview_cancelled": {"recipient_name", "assignment_title", "starts_at", "reason"},
    "consultant_agent_assigned": {"recipient_name", "agent_name", "consultant_name"},
    "signature_requested": {"recipient_name", "document_name", "link", "expires_at"},
    "engagement_active": ENGAGEMENT,
    "contract_unsigned": UNSIGNED,
    "period_submitted": PERIOD,
    "transfer_reversed": {"recipient_name", "total", "amount", "breakdown", "link"},
    "transfer_reversed_dispute": {"recipient_name", "total", "amount", "breakdown", "link"},
    "transfer_restored": {"recipient_name", "total", "amount", "breakdown", "link"},
    "share_move_refused": {"recipient_name", "total", "amount", "why", "breakdown", "link"},
    "payout_failed": {"recipient_name", "link"},
    "next_assignments": {"recipient_name", "consultant_name", "end_date", "count", "assignments", "link"},
    "claim_submitted": {"recipient_name", "reference", "amount"},
    "claim_rejected": {"recipient_name", "reference", "reason"},
    "invoice_issued": {"recipient_name", "total", "due", "link", "breakdown"},
    "invoice_paid": {"recipient_name", "total", "agency_net", "breakdown", "link"},
    "period_confirmed": (PERIOD - {"consultant_name"}) | {"total"},
    "evaluation_due_client": EVALUATION_CLIENT,
    "evaluation_due_consultant": EVALUATION_CONSULTANT,
    "evaluation_reminder_client": EVALUATION_CLIENT,
    "evaluation_reminder_consultant": EVALUATION_CONSULTANT,
    "evaluation_feedback": {"recipient_name", "assignment_title", "feedback", "link"},
    "escalation_low_score": ESCALATION | {"scores"},
    "escalation_missed_evaluation": ESCALATION | {"deadline"},
    "period_returned": PERIOD | {"comment"},
    "engagement_cancelled": {"recipient_name", "assignment_title", "client_name", "consultant_name", "reason", "link"},
    "contract_unsigned_agent": UNSIGNED,
    "engagement_change_proposed": CHANGE | {"proposer_name", "reason"},
    "engagement_change_declined": CHANGE | {"reason"},
    "engagement_change_withdrawn": CHANGE | {"reason"},
    "engagement_change_lapsed": CHANGE,
    "engagement_changed": CHANGE,
    "engagement_ended": {"recipient_name", "assignment_title", "client_name", "consultant_name", "last_day", "reviews_close_at", "link"},
    "review_revealed": {"recipient_name", "assignment_title", "reviewer_name", "link"},
    "review_hidden": {"recipient_name", "assignment_title", "reason", "link"},
}

INVITATION = {"agency_name", "link", "code", "expires_on"}
ACCOUNT_PARAMS = {
    "email_verification": {"recipient_name", "link", "code"},
    "consultant_invitation": INVITATION,
    "consultant_invitation_on_behalf": INVITATION,
    "retention_notice": {"recipient_name", "months", "deadline", "login_link"},
}


def values(kind: str) -> dict[str, str]:
    return {name: f"<{name}>" for name in PARAMS[kind]}


def test_every_kind_has_swedish_and_english_with_the_documented_placeholders() -> None:
    assert set(TEMPLATES) == set(PARAMS) | set(ACCOUNT_PARAMS)
    for kind, languages in TEMPLATES.items():
        assert set(languages) == {"sv", "en"}, kind
        assert languages["sv"].placeholders == languages["en"].placeholders == {**PARAMS, **ACCOUNT_PARAMS}[kind], kind


@pytest.mark.parametrize("kind", sorted(PARAMS))
@pytest.mark.parametrize("language", ["sv", "en"])
def test_each_renders_every_value_and_leaves_no_placeholder(kind: str, language: str) -> None:
    subject, text = render(kind, language, values(kind))
    assert "$" not in subject + text
    assert "\n" not in subject and subject.strip() == subject
    assert "<recipient_name>" not in subject and text.startswith(("Hello <recipient_name>,", "Hej <recipient_name>,"))
    rendered = subject + text
    assert all(f"<{name}>" in rendered for name in PARAMS[kind])


def test_a_missing_value_is_an_error_not_a_blank() -> None:
    params = values("candidate_accepted")
    del params["client_name"]
    with pytest.raises(MissingParameter, match="client_name"):
        render("candidate_accepted", "sv", params)
    with pytest.raises(KeyError):
        render("no_such_kind", "en", values("candidate_accepted"))


def test_an_unknown_language_falls_back_to_english() -> None:
    assert render("candidate_accepted", "de", values("candidate_accepted")) == render(
        "candidate_accepted", "en", values("candidate_accepted")
    )


def test_swedish_texts_are_swedish_and_values_are_taken_literally() -> None:
    params = {**values("interview_cancelled"), "assignment_title": "Åtgärda $link\nnu", "reason": "Kunden är sjuk; 100 % $säkert"}
    subject, text = render("interview_cancelled", "sv", params)
    assert subject == "Intervjun är inställd: Åtgärda $link nu, <starts_at>"  # one header line, the value as given
    assert "Anledning: Kunden är sjuk; 100 % $säkert" in text and "Vänliga hälsningar" in text
