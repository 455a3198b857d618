"""Structured JSON logs with a correlation id (aws-lambda-powertools Logger).

No personal data in logs: log ids, routes, statuses and durations, never bodies, names or e-mails."""

from __future__ import annotations

from aws_lambda_powertools import Logger

logger = Logger(service="customersonly")


def log_failure(message: str, exc: BaseException, **extra: object) -> None:
    """An error with its type and stack but not its message: messages (and chained vendor errors) may quote
    stored personal data or a payment provider's answer about a person."""
    import traceback

    logger.error(message, extra={**extra, "error": type(exc).__name__, "stack": traceback.format_tb(exc.__traceback__)})
