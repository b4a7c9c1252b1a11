"""A small client of the HTTP API for the social demo: each call names the status codes it expects,
and anything else is a :class:`StepFailed` that quotes the answer's problem (``code``, ``detail``),
so a check reads ``POST /v1/posts answered 404 not_found: …`` instead of a traceback."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any, TypeVar

import httpx

__all__ = ["ApiClient", "StepFailed", "poll"]

T = TypeVar("T")

POLL_S = 0.5  # the edge allows 300 requests per 5 minutes per address: polls stay well below


class StepFailed(Exception):
    """A step of the scenario did not go as it should; the message says what happened instead."""


@dataclass
class ApiClient:
    """``base_url`` is ``http://host:port``; ``tokens`` holds each signed-in handle's bearer token."""

    base_url: str
    timeout_s: float = 30.0
    tokens: dict[str, str] = field(default_factory=dict)
    _http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        # An API client, not a browser: cookies (a login sets the session cookie) are never kept, so
        # every request is the bearer token's alone, and needs no CSRF token.
        no_cookies = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
        self._http = httpx.Client(base_url=self.base_url, timeout=self.timeout_s, cookies=no_cookies)

    def close(self) -> None:
        self._http.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        as_: str | None = None,
        expect: Collection[int] = (200,),
        json: object = None,
        headers: Mapping[str, str] | None = None,
        **options: Any,
    ) -> httpx.Response:
        """``method path`` as ``as_`` (a signed-in handle; None: anonymous); a status outside
        ``expect`` is :class:`StepFailed`."""
        sent = dict(headers or {})
        if as_ is not None:
            sent["Authorization"] = f"Bearer {self.tokens[as_]}"
        try:
            answer = self._http.request(method, path, json=json, headers=sent, **options)
        except httpx.HTTPError as exc:
            raise StepFailed(f"{method} {path}: {exc}") from None
        if answer.status_code not in expect:
            raise StepFailed(f"{method} {path} answered {answer.status_code}{_problem(answer)}")
        return answer

    def json(self, method: str, path: str, **options: Any) -> dict[str, Any]:
        """:meth:`call`, answering the body as a JSON object."""
        answer = self.call(method, path, **options)
        try:
            body = answer.json()
        except ValueError:
            raise StepFailed(f"{method} {path} answered {answer.status_code} without JSON") from None
        if not isinstance(body, dict):
            raise StepFailed(f"{method} {path} answered {type(body).__name__}, not a JSON object")
        return body


def _problem(answer: httpx.Response) -> str:
    """``: <code>: <detail>`` of a problem+json answer (or the start of any other body)."""
    try:
        body = answer.json()
    except ValueError:
        return f": {answer.text[:200]}" if answer.text else ""
    if isinstance(body, dict) and ("code" in body or "detail" in body):
        return f" {body.get('code', '')}: {body.get('detail', '')}"
    return f": {str(body)[:200]}"


def poll(what: str, probe: Callable[[], T | None], *, timeout_s: float, on_wait: Callable[[float], None]) -> T:
    """Call ``probe`` until it answers something other than None, or :class:`StepFailed` naming
    ``what`` after ``timeout_s``. ``on_wait`` gets the seconds waited so far (to show progress)."""
    started = time.monotonic()
    while True:
        found = probe()
        if found is not None:
            return found
        waited = time.monotonic() - started
        if waited >= timeout_s:
            raise StepFailed(f"{what}: not after {timeout_s:.0f}s")
        on_wait(waited)
        time.sleep(POLL_S)  # another process does the work (the platform's workers, its social runner)
