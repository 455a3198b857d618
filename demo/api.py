"""The demo's HTTP client: the public API as a browser or a web form calls it, over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import requests

T = TypeVar("T")
TIMEOUT_SECONDS = 60


class DemoFailure(Exception):
    """A step did not get what a user would: the demo stops here."""


def check(condition: object, failure: str) -> None:
    if not condition:
        raise DemoFailure(failure)


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 60.0) -> T:
    """``probe``'s first truthy answer: what the event pump or a webhook does arrives a moment later, as it
    would for a user refreshing a page."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise DemoFailure(f"waited {timeout:.0f} s for {what}")
        time.sleep(0.3)


class Api:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = requests.Session()

    def call(self, method: str, path: str, body: Any = None, *, token: str | None = None, expect: int = 200) -> Any:
        """The answer's JSON (None when empty); any other status than ``expect`` fails the step with the
        problem document's detail and field errors."""
        response = self._session.request(method, self.base_url + path, json=body, headers=_bearer(token), timeout=TIMEOUT_SECONDS)
        answer = response.json() if response.content and "json" in response.headers.get("Content-Type", "") else None
        if response.status_code != expect:
            problem = answer if isinstance(answer, dict) else {}
            fields = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in problem.get("errors", []))
            detail = problem.get("detail") or response.text[:300]
            raise DemoFailure(
                f"{method} {path} answered {response.status_code} (expected {expect}): {detail}{f' ({fields})' if fields else ''}"
            )
        return answer

    def status(self, method: str, path: str, *, token: str | None = None) -> int:
        """Only the status: for waiting until something is gone."""
        return self._session.request(method, self.base_url + path, headers=_bearer(token), timeout=TIMEOUT_SECONDS).status_code

    def get(self, path: str, *, token: str | None = None, expect: int = 200) -> Any:
        return self.call("GET", path, token=token, expect=expect)

    def post(self, path: str, body: Any = None, *, token: str | None = None, expect: int = 200) -> Any:
        return self.call("POST", path, body, token=token, expect=expect)

    def put(self, path: str, body: Any, *, token: str | None = None, expect: int = 200) -> Any:
        return self.call("PUT", path, body, token=token, expect=expect)

    def upload(self, form: dict[str, Any], filename: str, content: bytes, content_type: str) -> None:
        """A file posted straight to storage with the presigned form the API gave, as a browser does."""
        response = self._session.post(
            form["url"], data=form["fields"], files={"file": (filename, content, content_type)}, timeout=TIMEOUT_SECONDS
        )
        check(response.status_code in (200, 201, 204), f"the upload of {filename} answered {response.status_code}: {response.text[:300]}")

    def download(self, url: str) -> bytes:
        response = self._session.get(url, timeout=TIMEOUT_SECONDS)
        check(response.status_code == 200, f"a download link answered {response.status_code}")
        return response.content


def _bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}
