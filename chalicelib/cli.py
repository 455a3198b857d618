"""Operator commands. Staff users are created here, never through a public endpoint.

    python -m chalicelib.cli [--env-file .local/app.env] create-staff --email E --name N [--password P]
    python -m chalicelib.cli [--env-file .local/app.env] token --email E [--password P]
    python -m chalicelib.cli [--env-file .local/app.env] privacy-jobs
    python -m chalicelib.cli [--env-file .local/app.env] proposal-jobs
    python -m chalicelib.cli [--env-file .local/app.env] reindex-matching
    python -m chalicelib.cli [--env-file .local/app.env] outbox [--to ADDRESS] [--endpoint URL]

``reindex-matching`` rebuilds the search index from the tables (``make run`` does that at every start and
holds the embedded index's one writer while it runs: use it against a stopped stack, or against AWS).

``outbox`` prints the mail the local stack's SES sent (``make run`` sends none out), attachments named;
it reads ``/moto-api/data.json`` of ``--endpoint`` (default: ``AWS_ENDPOINT_URL``, then
http://127.0.0.1:4566).

Without ``--password`` the password is asked for without echo. ``--env-file`` loads the environment
that ``make run`` writes for the local stack; against AWS, the deployed stage's variables are used.
"""

from __future__ import annotations

import argparse
import getpass
import os
import shlex
import sys
from pathlib import Path


def read_env_file(path: Path) -> dict[str, str]:
    """The ``export NAME=value`` lines (shell-quoted) that ``make run`` writes."""
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        name, sep, value = line.strip().partition("=")
        if sep and name and not name.startswith("#"):
            found[name.removeprefix("export ").strip()] = " ".join(shlex.split(value))
    return found


def _password(given: str | None) -> str:
    if given is not None:
        return given
    try:
        return getpass.getpass("Password: ")
    except EOFError:
        raise SystemExit("error: no password given (use --password, or run in a terminal)") from None


LOCAL_ENDPOINT = "http://127.0.0.1:4566"


def _print_outbox(endpoint: str, to: str | None) -> int:
    from chalicelib.local.mailbox import addressed_to, describe, fetch_sent_mails

    try:
        mails = addressed_to(fetch_sent_mails(endpoint), to)
    except OSError as exc:
        print(f"error: cannot read the local mail at {endpoint} ({exc}); is `make run` running?", file=sys.stderr)
        return 1
    for number, mail in enumerate(mails, 1):
        print(f"--- mail {number} of {len(mails)} ---")
        print(describe(mail))
    if not mails:
        print(f"no mail{' to ' + to if to else ''} was sent")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.cli", description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--env-file", type=Path, help="load environment variables from this file first (e.g. .local/app.env)")
    commands = parser.add_subparsers(dest="command", required=True)
    staff = commands.add_parser("create-staff", help="create a staff user (Cognito user in the staff group + user record)")
    staff.add_argument("--email", required=True)
    staff.add_argument("--name", required=True)
    staff.add_argument("--password")
    token = commands.add_parser("token", help="sign in and print an access token for the Authorization header")
    token.add_argument("--email", required=True)
    token.add_argument("--password")
    commands.add_parser("privacy-jobs", help="run the daily jobs now: pending erasures, retention, stale uploads")
    commands.add_parser("proposal-jobs", help="run the proposal jobs now: expire unanswered consent requests")
    commands.add_parser("reindex-matching", help="rebuild the search index of consultants from the tables")
    pay = commands.add_parser("pay-invoice", help="offline payments: the client pays an issued invoice's hosted page")
    pay.add_argument("--invoice-id", required=True)
    activate = commands.add_parser("activate-payouts", help="offline payments: the agency finishes its payout onboarding")
    activate.add_argument("--agency-id", required=True)
    outbox = commands.add_parser("outbox", help="print the mail the local stack sent (local SES)")
    outbox.add_argument("--to", help="only the mail to this address")
    outbox.add_argument("--endpoint", help="the local AWS endpoint (default: AWS_ENDPOINT_URL, then http://127.0.0.1:4566)")
    args = parser.parse_args(argv)

    if args.env_file:
        if not args.env_file.exists():
            parser.error(f"{args.env_file} does not exist (is `make run` running?)")
        os.environ.update(read_env_file(args.env_file))

    if args.command == "outbox":
        return _print_outbox(args.endpoint or os.environ.get("AWS_ENDPOINT_URL") or LOCAL_ENDPOINT, args.to)

    from chalicelib.container import get_container
    from chalicelib.errors import DomainError
    from chalicelib.services import registration

    ports = get_container().accounts
    try:
        if args.command == "reindex-matching":
            from chalicelib.services.matching import reindex_all

            print(f"{reindex_all(get_container().indexing)} consultant(s) findable")
        elif args.command == "privacy-jobs":
            from chalicelib.events.jobs import run_privacy_jobs

            print(run_privacy_jobs())
        elif args.command == "proposal-jobs":
            from chalicelib.events.jobs import run_proposal_jobs

            print(run_proposal_jobs())
        elif args.command in ("pay-invoice", "activate-payouts"):
            print(_offline_payment(args))
        elif args.command == "create-staff":
            user = registration.create_staff_user(ports, email=args.email, name=args.name, password=_password(args.password))
            print(f"created staff user {user.user_id} ({user.email})")
        else:
            print(registration.login(ports, args.email, _password(args.password)).access_token)
    except DomainError as exc:
        details = "; ".join(f"{i.field}: {i.message}" for i in exc.issues)
        print(f"error: {exc.detail}{' (' + details + ')' if details else ''}", file=sys.stderr)
        return 1
    return 0


def _offline_payment(args: argparse.Namespace) -> str:
    """What happens outside the API with the offline Stripe of `make run`: a client paying the hosted page,
    an agency finishing its onboarding. Stripe's webhooks follow to the running API, as Stripe sends them."""
    from chalicelib.container import get_container
    from chalicelib.errors import NotFound

    container = get_container()
    if container.settings.payments != "offline":
        raise NotFound("Only the offline Stripe is paid from here; real payments are made on Stripe's pages.")
    stripe, invoicing = container.offline_stripe, container.invoicing
    if args.command == "activate-payouts":
        account = invoicing.payments.get_payout_account(args.agency_id)
        if account is None:
            raise NotFound("The agency has not started its payout onboarding (POST /agencies/{id}/payouts/onboarding).")
        stripe.activate_transfers(account.account_id)
        return f"transfers active on {account.account_id}"
    invoice = invoicing.timesheets.timesheets.get_invoice(args.invoice_id)
    if invoice is None or invoice.provider_invoice_id is None:
        raise NotFound("No issued invoice has this id (an invoice waiting for the agency's payout account is not issued yet).")
    stripe.pay_invoice(invoice.provider_invoice_id)
    return f"paid {invoice.provider_invoice_id}"


if __name__ == "__main__":
    raise SystemExit(main())
