"""Reading AWS error codes from botocore's ClientError without importing botocore at cold start."""

from __future__ import annotations


def aws_error_code(exc: BaseException) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
