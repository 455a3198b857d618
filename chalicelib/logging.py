"""Structured JSON logs with a correlation id (aws-lambda-powertools Logger).

No personal data in logs: log ids, routes, statuses and durations, never bodies, names or e-mails."""

from __future__ import annotations

from aws_lambda_powertools import Logger

logger = Logger(service="customersonly")
