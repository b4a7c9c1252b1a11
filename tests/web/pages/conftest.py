"""Fixtures of the web pages' tests: the site (``site.py``) and, for the browser tests, Debian's
Chromium driven by pytest-playwright (Playwright's own browser download is not used)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from fastapi.testclient import TestClient

import darkroom.queue as dq
from tests.web.pages.site import Site, make_video, site_over

CHROMIUM = Path("/usr/bin/chromium")
ARTEFACTS = Path(__file__).resolve().parent / "artefacts"


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (required in CI)")
    pytest.skip(reason)


@pytest.fixture
def site(db_engine: sa.Engine, redis_client: redis.Redis, tmp_path: Path) -> Iterator[Site]:
    with site_over(db_engine, redis_client, tmp_path) as made:
        yield made


@pytest.fixture
def ops_site(db_engine: sa.Engine, redis_client: redis.Redis, rq: dq.RedisQueue, tmp_path: Path) -> Iterator[Site]:
    """The site with the platform's queue, which its operator pages read."""
    with site_over(db_engine, redis_client, tmp_path, queue=rq) as made:
        yield made


@pytest.fixture
def client(site: Site) -> Iterator[TestClient]:
    with TestClient(site.app, base_url="http://testserver", follow_redirects=False) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright's launch arguments with Debian's Chromium, headless (``--no-sandbox``
    only as root, where Chromium's sandbox refuses to start)."""
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} is not installed (make setup installs Debian's chromium as root)")
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "headless": True, "args": args}


@pytest.fixture(scope="session")
def artefacts() -> Path:
    """Where the browser tests write their screenshots (git-ignored)."""
    ARTEFACTS.mkdir(exist_ok=True)
    return ARTEFACTS


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The video workflow's outputs for a 3 s clip (180p and 90p, poster, storyboard), made once."""
    return make_video(tmp_path_factory.mktemp("video"))
