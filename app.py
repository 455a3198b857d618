"""Customersonly API: the Chalice app. Middleware, blueprints and event handlers only; no logic here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalice import Chalice

from chalicelib.api import (
    accounts,
    agents,
    assignments,
    consents,
    contracts,
    engagement_changes,
    erasure,
    evaluations,
    files,
    middleware,
    notifications,
    payments,
    privacy,
    profiles,
    proposals,
    resume,
    reviews,
    system,
    timesheets,
)

app = Chalice(app_name="customersonly")

for area in (
    system,
    accounts,
    consents,
    profiles,
    resume,
    files,
    privacy,
    erasure,
    assignments,
    proposals,
    agents,
    contracts,
    engagement_changes,
    timesheets,
    payments,
    evaluations,
    reviews,
    notifications,
):
    app.register_blueprint(area.bp)
middleware.install(app)


# Event handlers. Their triggers (S3 → SQS, the DynamoDB stream) are wired in infra/; locally the
# event pump (chalicelib.local.pump) calls the same functions.
@app.lambda_function(name="upload_handler")
def upload_handler(event: dict[str, Any], context: Any) -> Mapping[str, Any]:
    from chalicelib.events.uploads import handle_upload_queue

    return handle_upload_queue(event, context)


@app.lambda_function(name="stream_handler")
def stream_handler(event: dict[str, Any], context: Any) -> Mapping[str, Any]:
    from chalicelib.events.stream import handle_main_stream

    return handle_main_stream(event, context)


@app.lambda_function(name="privacy_worker")
def privacy_worker(event: dict[str, Any], context: Any) -> Mapping[str, Any]:
    from chalicelib.events.privacy import handle_privacy_stream

    return handle_privacy_stream(event, context)


@app.lambda_function(name="proposal_jobs")
def proposal_jobs(event: dict[str, Any], context: Any) -> Mapping[str, Any]:
    from chalicelib.events.jobs import run_proposal_jobs

    return run_proposal_jobs(event, context)


@app.lambda_function(name="privacy_jobs")
def privacy_jobs(event: dict[str, Any], context: Any) -> Mapping[str, Any]:
    from chalicelib.events.jobs import run_privacy_jobs

    return run_privacy_jobs(event, context)
