"""Warm API latency: requests through the Chalice app in process, against the local moto server (``make bench-api``).

The stack is the tests' (``tests.conftest.local_stack``: moto in this process with the resources ``make run``
creates, the embedded search engine in memory, the offline Stripe); requests go through ``chalice.test.Client``
with real Cognito access tokens, and the scenes are built with the functional tests' own helpers. Each
operation is a valid request answered with its success status, sent ``--warmup`` times untimed, then
``--iterations`` times timed; those that change state get an object of their own each time:

* ``get_own_profile``     GET  /me/profile, as the consultant
* ``update_resume``       PUT  /me/resume/experience/{item_id}, as the consultant
* ``run_match``           POST /assignments/{id}/matches, as staff, over ``--profiles`` synthetic consultants
                          indexed in bulk through the index port (and the scene's real one)
* ``send_proposal``       POST /assignments/{id}/proposals, as staff: a candidacy consented by both parties each time
* ``submit_time_period``  POST /engagements/{id}/periods/submit, as the consultant: a reported week each time
* ``stripe_webhook``      POST /webhooks/stripe: ``invoice.paid`` for an issued invoice of its own each time
                          (the confirmed weeks'), signed as Stripe signs it just before it is sent

Each request is timed right after a bare boto3 ``GetItem`` of the consultant's profile item against the same
moto server, the floor: one DynamoDB round trip here, interleaved so that both see the same load. Prints p50
and p95 per operation and the ratio of its p50 to the floor's, then one JSON line per figure.

    python -m bench.api [--iterations 200] [--warmup 20] [--profiles 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import repeat
from typing import Any

from bench.matching import synthetic_candidate
from chalicelib.adapters.dynamo.repositories import user_pk
from chalicelib.container import Container
from chalicelib.domain.invoicing import InvoiceStatus
from chalicelib.matching.index import Indexed
from chalicelib.taxonomy import default_taxonomy
from tests.conftest import LocalStack, local_stack
from tests.functional.conftest import Actor, Api, Pump, api_on
from tests.functional.test_invoicing_flow import _active
from tests.functional.test_proposal_flow import RATE, _published, _shortlist

# The matched assignment requires these (builders' "k8s" is Kubernetes); a share of the synthetic consultants has each.
MATCHED_SKILLS = ("Terraform", "Kubernetes")
MATCHED_SHARE = 0.2
TITLES = ("Platform engineer", "Backend developer", "Data engineer", "Consultant", "Cloud architect", "Project manager")
EXPERIENCE = {"organisation": "Nordbanken", "role": "Platform engineer", "start": "2019-01-01", "skills_used": ["k8s", "Terraform"]}
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Call:
    """One request as the app receives it, and the status that says it succeeded."""

    method: str
    path: str
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def as_user(actor: Actor, method: str, path: str, status: int, body: Any = None) -> Call:
    headers = {"Authorization": f"Bearer {actor.token}"}
    if body is None:
        return Call(method, path, status, headers=headers)
    return Call(method, path, status, json.dumps(body).encode(), {**headers, "Content-Type": "application/json"})


class Floor:
    """A bare boto3 GetItem against the moto server: what one DynamoDB round trip costs in this run."""

    def __init__(self, stack: LocalStack, container: Container, key: dict[str, str]) -> None:
        import boto3

        self._dynamodb = boto3.client("dynamodb", region_name=container.settings.aws_region, endpoint_url=stack.endpoint)
        self._table = container.settings.table_main
        self._key = {name: {"S": value} for name, value in key.items()}
        assert "Item" in self._read(), f"no item {key} to read"

    def _read(self) -> dict[str, Any]:
        return dict(self._dynamodb.get_item(TableName=self._table, Key=self._key, ConsistentRead=True))

    def once(self) -> float:
        started = time.perf_counter()
        self._read()
        return (time.perf_counter() - started) * 1000

    def items(self) -> int:
        """moto counts the table's items live (DynamoDB every few hours): its queries on an index read them all."""
        return int(self._dynamodb.describe_table(TableName=self._table)["Table"]["ItemCount"])


class Timer:
    """Sends each operation's calls through the app, each right after a floor read; keeps the timed ones."""

    def __init__(self, api: Api, floor: Floor, warmup: int, iterations: int) -> None:
        self._http = api.http
        self._floor = floor
        self._warmup = warmup
        self._iterations = iterations
        self.floor_ms: list[float] = []

    def measure(self, calls: Iterable[Call]) -> list[float]:
        timings = []
        for n, call in zip(range(self._warmup + self._iterations), calls, strict=False):
            floor_ms = self._floor.once()
            started = time.perf_counter()
            response = self._http.request(call.method, call.path, headers=call.headers, body=call.body)
            elapsed_ms = (time.perf_counter() - started) * 1000
            if response.status_code != call.status:
                raise RuntimeError(f"{call.method} {call.path} answered {response.status_code}: {response.body[:500]!r}")
            if n >= self._warmup:
                timings.append(elapsed_ms)
                self.floor_ms.append(floor_ms)
        if len(timings) != self._iterations:
            raise RuntimeError(f"{self._warmup + self._iterations} calls wanted, {self._warmup + len(timings)} prepared")
        return timings


@dataclass(frozen=True)
class Figure:
    operation: str
    p50_ms: float
    p95_ms: float
    floor_p50_ms: float

    @property
    def ratio(self) -> float:
        return self.p50_ms / self.floor_p50_ms

    def json_line(self, iterations: int) -> str:
        return json.dumps(
            {
                "benchmark": "api",
                "operation": self.operation,
                "p50_ms": round(self.p50_ms, 2),
                "p95_ms": round(self.p95_ms, 2),
                "floor_p50_ms": round(self.floor_p50_ms, 3),
                "ratio": round(self.ratio, 1),
                "iterations": iterations,
            }
        )


@dataclass(frozen=True)
class Report:
    figures: list[Figure]
    floor_p50_ms: float
    floor_p95_ms: float
    table_items: int  # when the timing began


def percentiles(timings: list[float]) -> tuple[float, float]:
    return statistics.median(timings), statistics.quantiles(timings, n=20)[18]


def run(api: Api, pump: Pump, stack: LocalStack, *, iterations: int, warmup: int, profiles: int, seed: int, progress: Progress) -> Report:
    """Prepares every operation's objects, then times the operations in turn (the webhooks last: their invoices
    come from the weeks whose submission was timed)."""
    container = stack.container
    assert isinstance(container, Container)
    count = warmup + iterations
    progress(f"indexing {profiles} synthetic consultants through the index port")
    container.indexing.index.rebuild(synthetic_consultants(profiles, seed))
    progress("an active hourly engagement, reported by the week (staff, client, agency, consultant; contracts signed)")
    today = datetime.now(UTC).date()
    this_monday = today - timedelta(days=today.weekday())
    first_monday = this_monday - timedelta(weeks=count + 1)
    scene = _active(
        api,
        pump,
        stack,
        start_date=first_monday.isoformat(),
        end_date=(this_monday + timedelta(weeks=26)).isoformat(),
        reporting_period="week",
    )
    staff, person, engagement_id = scene["staff"], scene["person"], scene["engagement_id"]
    added = api.post("/me/resume/experience", EXPERIENCE, token=person.token)
    assert added.status == 201, added.body
    matched = _published(api, scene["client"], MATCHED_SKILLS[0])
    ranked = api.post(f"/assignments/{matched}/matches", token=staff.token)
    assert ranked.status == 201, ranked.body
    progress(f"the matched assignment ranks {ranked.body['total']} candidates; {count} consented candidacies to send")
    candidacies = []
    for n in range(count):
        candidacies.append(consented_candidacy(api, scene))
        if (n + 1) % 50 == 0:
            progress(f"  {n + 1}/{count}")
    progress(f"{count} reported weeks to submit")
    weeks = [reported_week(api, person, engagement_id, first_monday + timedelta(weeks=n)) for n in range(count)]
    pump.drain()

    floor = Floor(stack, container, {"pk": user_pk(person.user_id), "sk": "PROFILE"})
    table_items = floor.items()
    timer = Timer(api, floor, warmup, iterations)
    timings: dict[str, list[float]] = {}
    progress(f"timing (main table: {table_items} items)")
    timings["get_own_profile"] = timer.measure(repeat(as_user(person, "GET", "/me/profile", 200)))
    experience = f"/me/resume/experience/{added.body['item_id']}"
    timings["update_resume"] = timer.measure(
        as_user(person, "PUT", experience, 200, {**EXPERIENCE, "role": f"Platform engineer ({n})"}) for n in range(count)
    )
    timings["run_match"] = timer.measure(repeat(as_user(staff, "POST", f"/assignments/{matched}/matches", 201)))
    timings["send_proposal"] = timer.measure(
        as_user(staff, "POST", f"/assignments/{assignment_id}/proposals", 201, {"candidacy_ids": [candidacy_id]})
        for assignment_id, candidacy_id in candidacies
    )
    timings["submit_time_period"] = timer.measure(
        as_user(person, "POST", f"/engagements/{engagement_id}/periods/submit", 200, {"period": week}) for week in weeks
    )
    progress(f"{count} invoices confirmed, issued and paid on the offline Stripe, their webhooks held back")
    invoice_ids, payloads = paid_invoice_events(api, pump, container, scene, weeks)
    timings["stripe_webhook"] = timer.measure(signed_webhooks(container, payloads))
    invoices = [container.timesheets.timesheets.get_invoice(i) for i in invoice_ids]
    unpaid = [i for i in invoices if i is None or i.status is not InvoiceStatus.PAID]
    assert not unpaid, f"{len(unpaid)} invoices not paid by their webhooks"

    floor_p50, floor_p95 = percentiles(timer.floor_ms)
    figures = [Figure(operation, *percentiles(samples), floor_p50) for operation, samples in timings.items()]
    return Report(figures, floor_p50, floor_p95, table_items)


def synthetic_consultants(count: int, seed: int) -> Iterator[Indexed]:
    """Consultants with 6-15 of the taxonomy's skills, each of ``MATCHED_SKILLS`` added to a share of them."""
    taxonomy = default_taxonomy()
    names = [skill.name for skill in taxonomy.all()]
    rng = random.Random(seed)
    for n in range(count):
        skills = rng.sample(names, rng.randint(6, 15))
        skills += [s for s in MATCHED_SKILLS if s not in skills and rng.random() < MATCHED_SHARE]
        yield synthetic_candidate(taxonomy, rng, f"bench-{n}", rng.choice(TITLES), "", skills), None


def consented_candidacy(api: Api, scene: dict[str, Any]) -> tuple[str, str]:
    """The scene's consultant shortlisted for a new assignment of the client's and consented to by both parties."""
    staff, agency, person = scene["staff"], scene["agency"], scene["person"]
    assignment_id = _published(api, scene["client"], scene["skill"])
    run = api.post(f"/assignments/{assignment_id}/matches?limit=10", token=staff.token)
    assert run.status == 201, run.body
    candidacy_id = _shortlist(api, staff, assignment_id, run.body["run_id"], person)
    asked = api.post(f"/candidacies/{candidacy_id}/consent-requests", {"hourly_rate": RATE}, token=staff.token)
    assert asked.status == 200, asked.body
    for who in (person, agency):
        consented = api.post(f"/candidacies/{candidacy_id}/consent", {"hourly_rate": RATE}, token=who.token)
        assert consented.status == 200, consented.body
    return assignment_id, candidacy_id


def reported_week(api: Api, person: Actor, engagement_id: str, monday: date) -> str:
    """A day reported in the week; the week's period key."""
    body = {"day": monday.isoformat(), "minutes": 480, "description": "Platform migration"}
    reported = api.request("PUT", f"/engagements/{engagement_id}/time", json_body=body, token=person.token)
    assert reported.status == 200, reported.body
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def paid_invoice_events(
    api: Api, pump: Pump, container: Container, scene: dict[str, Any], weeks: list[str]
) -> tuple[list[str], list[bytes]]:
    """The submitted weeks confirmed by the agency (once it can be paid), issued by the stream handler and paid
    on the offline Stripe, whose ``invoice.paid`` events are held back instead of posted: our invoices' ids
    and those events' payloads."""
    agency, engagement_id = scene["agency"], scene["engagement_id"]
    assert api.post(f"/agencies/{agency.org_id}/payouts/onboarding", token=agency.token).status == 200
    stripe = container.offline_stripe
    account = container.invoicing.payments.get_payout_account(agency.org_id)
    assert account is not None
    stripe.activate_transfers(account.account_id)
    invoice_ids = []
    for week in weeks:
        confirmed = api.post(f"/engagements/{engagement_id}/periods/confirm", {"period": week}, token=agency.token)
        assert confirmed.status == 200, confirmed.body
        invoice_ids.append(confirmed.body["invoice"]["invoice_id"])
    pump.drain()
    ours = set(invoice_ids)
    issued = [i["id"] for i in stripe.objects("invoice") if i["metadata"].get("invoice_id") in ours and i["status"] == "open"]
    assert len(issued) == len(invoice_ids), f"{len(issued)} of {len(invoice_ids)} invoices issued"
    held: list[bytes] = []
    sink = stripe.webhook_sink

    def hold(payload: bytes, signature: str, connect: bool) -> None:
        if json.loads(payload)["type"] == "invoice.paid":
            held.append(payload)

    stripe.webhook_sink = hold
    try:
        for stripe_invoice_id in issued:
            stripe.pay_invoice(stripe_invoice_id)
    finally:
        stripe.webhook_sink = sink
    return invoice_ids, held


def signed_webhooks(container: Container, payloads: list[bytes]) -> Iterator[Call]:
    """Each payload with a Stripe-Signature made as it is sent: Stripe's 300 s tolerance outlasts no long run."""
    from chalicelib.adapters.payments.offline import sign_payload

    secret = container.stripe_settings.stripe_webhook_secret
    for payload in payloads:
        signature = sign_payload(payload, secret, int(time.time()))
        yield Call("POST", "/webhooks/stripe", 200, payload, {"Content-Type": "application/json", "Stripe-Signature": signature})


def _discard_app_logs() -> None:
    """The app logs a line per request (to stdout, as Lambda wants): still formatted, as in Lambda, but not shown."""
    import logging

    from chalicelib.logging import logger

    handler = logger.registered_handler
    if isinstance(handler, logging.StreamHandler):
        handler.setStream(open(os.devnull, "w"))  # noqa: SIM115 - for the whole process
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--profiles", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if args.iterations < 2:
        parser.error("--iterations must be at least 2 (for a p95)")
    _discard_app_logs()
    started = time.perf_counter()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {message}", file=sys.stderr, flush=True)

    with local_stack() as stack, api_on(stack) as api:
        report = run(
            api,
            Pump(stack),
            stack,
            iterations=args.iterations,
            warmup=args.warmup,
            profiles=args.profiles,
            seed=args.seed,
            progress=progress,
        )
    print(
        f"warm API latency through the Chalice app in process, against moto in process: {args.iterations} timed requests per"
        f" operation after {args.warmup} untimed; {args.profiles} consultants indexed; main table {report.table_items} items"
    )
    print(f"  {'operation':<22} {'p50 ms':>8} {'p95 ms':>8} {'p50 / floor':>12}")
    print(f"  {'floor: GetItem':<22} {report.floor_p50_ms:8.2f} {report.floor_p95_ms:8.2f} {1:12.1f}")
    for figure in report.figures:
        print(f"  {figure.operation:<22} {figure.p50_ms:8.2f} {figure.p95_ms:8.2f} {figure.ratio:12.1f}")
    for figure in report.figures:
        print(figure.json_line(args.iterations))
    return 0


if __name__ == "__main__":
    sys.exit(main())
