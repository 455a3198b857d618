"""The operator commands against the local stack."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib import cli
from tests.builders import PASSWORD
from tests.conftest import LocalStack, unique_email

pytestmark = pytest.mark.integration


def test_create_staff_then_get_a_token(local_aws: LocalStack, capsys: pytest.CaptureFixture[str], tmp_path) -> None:  # type: ignore[no-untyped-def]
    email = unique_email("staff")
    env_file = tmp_path / "app.env"
    env_file.write_text(f"COGNITO_CLIENT_ID={local_aws.container.settings.user_pool_client_id}\n")
    assert cli.main(["--env-file", str(env_file), "create-staff", "--email", email, "--name", "Stina Staff", "--password", PASSWORD]) == 0
    user_id = capsys.readouterr().out.split()[3]
    assert cli.main(["token", "--email", email, "--password", PASSWORD]) == 0
    token = capsys.readouterr().out.strip()
    verified = local_aws.container.token_verifier.verify(token)
    assert verified.subject == user_id and {g.value for g in verified.groups} == {"staff"}
    assert cli.main(["create-staff", "--email", email, "--name", "Again", "--password", PASSWORD]) == 1
    assert "already registered" in capsys.readouterr().err
    assert cli.main(["token", "--email", email, "--password", "wrong-password-1"]) == 1


def test_the_daily_privacy_jobs_run_on_demand(local_aws: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["privacy-jobs"]) == 0
    printed = capsys.readouterr().out
    for figure in ("erasures_finished", "retention_notified", "retention_erased", "stale_uploads_settled"):
        assert figure in printed


def test_the_proposal_jobs_expire_unanswered_consent_requests_on_demand(local_aws: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    from datetime import timedelta

    from chalicelib.domain.ids import new_id, utcnow
    from chalicelib.domain.money import HourlyRate
    from chalicelib.domain.proposals import Candidacy, CandidacyStatus
    from chalicelib.services.ports import Changes

    ports = local_aws.container.candidacies  # type: ignore[attr-defined]
    asked = utcnow() - timedelta(hours=80)
    overdue = Candidacy(
        candidacy_id=new_id(),
        assignment_id=new_id(),
        client_id=new_id(),
        consultant_id=new_id(),
        agency_id=new_id(),
        match_run_id=new_id(),
        created_at=asked,
        created_by="staff",
        updated_at=asked,
        rate=HourlyRate(100_000, "SEK"),
        commission_bps=1500,
        status=CandidacyStatus.CONSENT_REQUESTED,
        consent_requested_at=asked,
        expires_at=asked + timedelta(hours=72),
    )
    ports.commit(Changes().insert(overdue))
    assert cli.main(["proposal-jobs"]) == 0
    assert "consent_requests_expired" in capsys.readouterr().out
    expired = ports.proposals.get_candidacy(overdue.candidacy_id)
    assert expired is not None and expired.status is CandidacyStatus.EXPIRED


def test_one_failing_privacy_job_does_not_stop_the_others_but_fails_the_run(local_aws: LocalStack, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.events import jobs
    from chalicelib.services import files, retention

    swept = []

    def failing(*_: object) -> None:
        raise RuntimeError("retention is broken")

    monkeypatch.setattr(retention, "run_retention", failing)
    monkeypatch.setattr(files, "sweep_stale_uploads", lambda *_: swept.append(True) or 0)
    with pytest.raises(RuntimeError, match="retention"):
        jobs.run_privacy_jobs()
    assert swept == [True]  # the job after the failing one still ran


def test_the_invoice_reconciliation_failing_holds_up_none_of_the_other_proposal_jobs(
    local_aws: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.events import jobs
    from chalicelib.services import evaluations, payment_events

    ran = []

    def failing(*_: object) -> None:
        raise RuntimeError("Stripe is down")

    monkeypatch.setattr(payment_events, "reconcile_invoices", failing)
    monkeypatch.setattr(evaluations, "run_evaluation_jobs", lambda *_: ran.append(True) or {})
    with pytest.raises(RuntimeError, match="invoices"):
        jobs.run_proposal_jobs()
    assert ran == [True]  # the evaluations, after the failing reconciliation, still ran


def test_the_search_index_is_rebuilt_on_demand(local_aws: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["reindex-matching"]) == 0
    assert "findable" in capsys.readouterr().out


def test_the_local_outbox_is_printed_with_attachments_named(local_aws: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    from chalicelib.services.ports import Attachment

    to, other = unique_email("outbox"), unique_email("elsewhere")
    email: Any = local_aws.container.email  # type: ignore[attr-defined]
    email.send(to, "Bekräfta din e-postadress", "Hej!\nverification code: abc\n")
    email.send(
        to, "Intervju bokad", "Se bifogad inbjudan.\n", [Attachment("invite.ics", "text/calendar; method=REQUEST", "BEGIN:VCALENDAR\r\n")]
    )
    email.send(other, "Not for them", "x")

    assert cli.main(["outbox", "--to", to.upper()]) == 0
    printed = capsys.readouterr().out
    assert "--- mail 1 of 2 ---" in printed and "--- mail 2 of 2 ---" in printed and "Not for them" not in printed
    assert f"To: {to}" in printed and "Subject: Bekräfta din e-postadress" in printed and "verification code: abc" in printed
    assert "Subject: Intervju bokad" in printed and "Attachment: invite.ics (text/calendar" in printed and "Se bifogad inbjudan." in printed

    assert cli.main(["outbox", "--to", unique_email("nobody")]) == 0
    assert "no mail to" in capsys.readouterr().out
    assert cli.main(["outbox", "--endpoint", "http://127.0.0.1:9"]) == 1  # nothing listens there
    assert "make run" in capsys.readouterr().err


def test_offline_payments_say_what_is_missing(local_aws: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["pay-invoice", "--invoice-id", "01JZZZZZZZZZZZZZZZZZZZZZZZ"]) == 1
    assert "No issued invoice has this id" in capsys.readouterr().err
    assert cli.main(["activate-payouts", "--agency-id", "01JZZZZZZZZZZZZZZZZZZZZZZZ"]) == 1
    assert "payout onboarding" in capsys.readouterr().err
