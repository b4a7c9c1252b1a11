"""The app-wide errors as HTML pages (TestClient over the real app, real SQLite and Redis): to a
page request (a path outside ``/v1/`` asked for as ``text/html``) a 404 of an unknown path, a 403 of
a missing CSRF token, a 405, the edge's 429 and a 500 are the site's error page with the same
status and headers and the problem's text escaped; the ``/v1`` API and clients that do not ask for
HTML still get problem+json."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
import sqlalchemy as sa
from fastapi import APIRouter
from fastapi.testclient import TestClient

from darkroom.api.problems import PROBLEM_CONTENT_TYPE
from darkroom.api.ratelimit import Rate
from darkroom.web.api import ROUTERS
from darkroom.web.app import create_app
from darkroom.web.deps import HttpLimits
from darkroom.web.main import DatabaseAuthenticator
from tests.web.pages.site import PASSWORD, Site
from tests.web.real_app import SECRET, web_deps

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
HOUR = 3600.0  # nothing is re-admitted by the clock while a test runs


def is_page(answer: httpx.Response) -> bool:
    return answer.headers["content-type"].startswith("text/html")


def is_problem(answer: httpx.Response) -> bool:
    return answer.headers["content-type"] == PROBLEM_CONTENT_TYPE


def heading(html: str) -> str:
    return html.split("<h1>", 1)[1].split("</h1>", 1)[0]


def test_an_unknown_path_is_the_error_page_to_a_browser_with_the_path_escaped(client: TestClient) -> None:
    answer = client.get("/nowhere/<script>alert(1)</script>", headers={"Accept": BROWSER})
    assert answer.status_code == 404 and is_page(answer)
    assert heading(answer.text) == "Not Found"
    assert "no route GET /nowhere/&lt;script&gt;alert(1)&lt;/script&gt;" in answer.text
    assert "<script>alert" not in answer.text
    assert "script-src 'self'" in answer.headers["content-security-policy"]  # the pages' headers
    assert answer.headers["cache-control"] == "no-store"
    assert "Accept" in answer.headers["vary"]
    assert 'class="brand" href="/"' in answer.text  # in the base layout


def test_the_api_and_clients_not_asking_for_html_still_get_problem_json(client: TestClient) -> None:
    for accept in ("*/*", "application/json", "application/json, text/html;q=0.5", "text/html;q=0"):
        answer = client.get("/nowhere", headers={"Accept": accept})
        assert answer.status_code == 404 and is_problem(answer), accept
        assert answer.json()["detail"] == "no route GET /nowhere"
        assert "Accept" in answer.headers["vary"].split(", ")  # the same path answers a browser otherwise
    for path in ("/v1/nowhere", "/v1/posts/p_x"):  # the JSON API answers JSON whatever is asked
        answer = client.get(path, headers={"Accept": BROWSER})
        assert answer.status_code in (400, 404) and is_problem(answer), path  # p_x: a malformed id
    api_vary = client.get("/v1/nowhere").headers.get("vary", "")
    assert "Accept" not in [v.strip() for v in api_vary.split(",")]  # unchanged for the API


def test_a_missing_csrf_token_is_a_403_page_to_a_browser(site: Site, client: TestClient) -> None:
    site.join("ana")
    assert client.post("/login", data={"login": "ana", "password": PASSWORD}).status_code == 303
    form = {"display_name": "Ana", "bio": "", "private": "false"}
    answer = client.post("/settings", data=form, headers={"Accept": BROWSER})
    assert answer.status_code == 403 and is_page(answer)
    assert heading(answer.text) == "Forbidden"
    assert "needs its CSRF token" in answer.text
    assert 'href="/@ana"' in answer.text  # still signed in: the navigation of a signed-in person
    # the API's clients: problem+json, at /v1 whatever they ask
    assert is_problem(client.post("/settings", data=form))
    api = client.post("/v1/posts", json={"caption": "x"}, headers={"Accept": BROWSER})
    assert api.status_code == 403 and is_problem(api) and api.json()["code"] == "csrf_rejected"


def test_a_wrong_method_is_a_405_page_with_allow(client: TestClient) -> None:
    answer = client.put("/login", headers={"Accept": BROWSER})
    assert answer.status_code == 405 and is_page(answer)
    assert heading(answer.text) == "Method Not Allowed"
    assert answer.headers["allow"]  # what the path takes, as to the API
    assert is_problem(client.put("/login"))


@pytest.fixture
def tight(db_engine: sa.Engine, redis_client: redis.Redis, tmp_path: Path) -> Iterator[TestClient]:
    """The app with 2 requests an hour per address, and a route that fails (``/boom``)."""
    limits = HttpLimits(per_ip=Rate(2, HOUR), per_account=Rate(100, HOUR))
    deps = web_deps(
        db_engine, redis_client, tmp_path, authenticator=DatabaseAuthenticator(db_engine), secret=SECRET, limits=limits
    )
    boom = APIRouter()

    @boom.get("/boom")
    def fail() -> None:
        raise RuntimeError("<b>the database password is hunter2</b>")

    app = create_app(deps, routers=[*ROUTERS, boom], pages=True)
    with TestClient(app, base_url="http://testserver", raise_server_exceptions=False) as test_client:
        yield test_client


def test_the_edges_rate_limit_is_a_429_page_with_retry_after(tight: TestClient) -> None:
    assert tight.get("/login", headers={"Accept": BROWSER}).status_code == 200
    assert tight.get("/v1/nowhere").status_code == 404
    refused = tight.get("/login", headers={"Accept": BROWSER})
    assert refused.status_code == 429 and is_page(refused)
    assert heading(refused.text) == "Too Many Requests"
    assert int(refused.headers["retry-after"]) > 0 and refused.headers["ratelimit-remaining"] == "0"
    assert "too many requests for" in refused.text
    api = tight.get("/v1/posts/p_x", headers={"Accept": BROWSER})
    assert api.status_code == 429 and is_problem(api) and "retry-after" in api.headers


def test_an_unexpected_error_is_a_500_page_telling_nothing_internal(tight: TestClient) -> None:
    answer = tight.get("/boom", headers={"Accept": BROWSER})
    assert answer.status_code == 500 and is_page(answer)
    assert heading(answer.text) == "Internal Server Error"
    assert "internal error (incident " in answer.text and "hunter2" not in answer.text
    plain = tight.get("/boom")
    assert plain.status_code == 500 and is_problem(plain) and "hunter2" not in plain.text
