"""The HTTP edge's metrics and request ids on the real app (every router, the pages), real Redis
and SQLite: series by route template, never the raw path; the request id set, honoured when well
formed, echoed, and in the JSON log lines the request causes; a streamed body passes through."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from starlette.responses import StreamingResponse

from darkroom.observability.logs import configure_logging
from darkroom.social.feed import FanoutHandler, FeedDesign
from darkroom.social.metrics import FanoutMetrics
from tests.web.social_app import PostsApp, open_app


@pytest.fixture
def app(db_engine: sa.Engine, redis_client: redis.Redis, tmp_path: Path) -> Iterator[PostsApp]:
    with open_app(db_engine, redis_client, tmp_path) as opened:
        yield opened


def _registry(app: PostsApp) -> CollectorRegistry:
    registry: CollectorRegistry = app.client.app.state.deps.registry  # type: ignore[attr-defined]
    return registry


def samples(registry: CollectorRegistry, name: str) -> list[tuple[dict[str, str], float]]:
    """``(labels, value)`` of every sample called ``name`` in the registry's exposition."""
    text = generate_latest(registry).decode()
    return [
        (dict(s.labels), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    ]


def test_requests_are_counted_by_route_template_method_and_status(app: PostsApp) -> None:
    alice = app.member("alice")
    post = app.post(alice, "hello")
    assert app.client.get(f"/v1/posts/{post}", headers=alice.auth).status_code == 200
    assert app.client.get(f"/v1/posts/01J{0:023d}", headers=alice.auth).status_code == 404
    assert app.client.get("/no/such/page").status_code == 404
    refused = app.client.get(f"/v1/posts/{post}", headers={"Authorization": "Bearer drt_nosuchtoken"})
    assert refused.status_code == 401  # by the edge, before routing
    assert app.client.request("BREW", "/v1/posts").status_code in (404, 405)
    registry = _registry(app)
    counts = {(s["route"], s["method"], s["status"]): v for s, v in samples(registry, "darkroom_http_requests_total")}
    assert counts[("/v1/posts/{post_id}", "GET", "200")] == 1
    assert counts[("/v1/posts/{post_id}", "GET", "404")] == 1
    assert counts[("unmatched", "GET", "404")] == 1
    assert counts[("/v1/posts/{post_id}", "GET", "401")] == 1
    assert any(method == "other" for _, method, _ in counts)
    durations = {
        (s["route"], s["method"]): v for s, v in samples(registry, "darkroom_http_request_duration_seconds_count")
    }
    assert durations[("/v1/posts/{post_id}", "GET")] == 3
    buckets = {s["le"] for s, _ in samples(registry, "darkroom_http_request_duration_seconds_bucket")}
    assert {"0.001", "10.0", "+Inf"} <= buckets


def test_a_thousand_post_ids_are_one_route_label(app: PostsApp) -> None:
    alice = app.member("alice")
    for i in range(1000):
        app.client.get(f"/v1/posts/01J{i:023d}", headers=alice.auth)
    routes = {s["route"] for s, _ in samples(_registry(app), "darkroom_http_requests_total")}
    assert "/v1/posts/{post_id}" in routes
    assert not any("01J" in r for r in routes)
    counts = [
        v for s, v in samples(_registry(app), "darkroom_http_requests_total") if s["route"] == "/v1/posts/{post_id}"
    ]
    assert sum(counts) == 1000


def test_static_files_are_one_route_and_a_streamed_body_passes_through(app: PostsApp) -> None:
    page = app.client.get("/login")
    found = re.search(r'/static/[0-9a-f]{16}/[^"]+\.css', page.text)
    assert found is not None, page.text[:500]
    assert app.client.get(found.group(0)).status_code == 200

    @app.client.app.get("/v1/_stream_probe")  # type: ignore[attr-defined]
    def stream() -> StreamingResponse:
        return StreamingResponse(iter([b"one,", b"two,", b"three"]), media_type="text/plain")

    answer = app.client.get("/v1/_stream_probe")
    assert answer.content == b"one,two,three"
    assert len(answer.headers["x-request-id"]) == 32
    counts = {(s["route"], s["status"]): v for s, v in samples(_registry(app), "darkroom_http_requests_total")}
    assert counts[("/static/{digest}/{name:path}", "200")] == 1
    assert counts[("/v1/_stream_probe", "200")] == 1


def test_request_id_is_honoured_when_well_formed_and_made_otherwise(app: PostsApp) -> None:
    kept = app.client.get("/v1/accounts/nobody", headers={"X-Request-ID": "trace-0123.abc_DEF"})
    assert kept.headers["x-request-id"] == "trace-0123.abc_DEF"
    for bad in ("x" * 65, "a b", "<script>", "line\\nbreak"):
        made = app.client.get("/v1/accounts/nobody", headers={"X-Request-ID": bad})
        assert made.headers["x-request-id"] != bad
        assert len(made.headers["x-request-id"]) == 32
    fresh = [app.client.get("/v1/accounts/nobody").headers["x-request-id"] for _ in range(2)]
    assert fresh[0] != fresh[1]


def test_log_lines_of_a_request_are_json_and_carry_its_id(app: PostsApp) -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    configure_logging("json", stream=stream)
    try:
        log = logging.getLogger("darkroom.web.test")

        @app.client.app.get("/v1/_log_probe")  # type: ignore[attr-defined]
        def probe(text: str) -> dict[str, str]:
            log.warning("probe says %s", text)
            return {"ok": "yes"}

        evil = 'hi"}\n{"level": "CRITICAL", "message": "forged'
        answer = app.client.get("/v1/_log_probe", params={"text": evil}, headers={"X-Request-ID": "req-42"})
        assert answer.status_code == 200
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    probes = [line for line in lines if line["logger"] == "darkroom.web.test"]
    assert len(probes) == 1
    assert probes[0]["request_id"] == "req-42"
    assert probes[0]["message"] == f"probe says {evil}"
    assert probes[0]["level"] == "WARNING" and probes[0]["time"].endswith("+00:00")
    assert not any(line["level"] == "CRITICAL" for line in lines)


def test_feed_reads_are_timed_by_design(db_engine: sa.Engine, redis_client: redis.Redis, tmp_path: Path) -> None:
    with open_app(db_engine, redis_client, tmp_path, feed_design=FeedDesign.PULL) as app:
        alice, bob = app.member("alice"), app.member("bob")
        app.follow(alice, bob)
        app.post(bob, "one")
        assert app.client.get("/v1/feed", headers=alice.auth).status_code == 200
        reads = {s["design"]: v for s, v in samples(_registry(app), "darkroom_feed_read_seconds_count")}
    assert reads == {"pull": 1.0}


def test_fan_out_sizes_are_the_feeds_each_post_reached(app: PostsApp) -> None:
    author, readers = app.member("dave"), [app.member(h) for h in ("bob", "carol", "erin")]
    for reader in readers:
        app.follow(reader, author)
    for who in (*readers[:2], author):  # erin never reads: no feed of hers to push to
        assert app.client.get("/v1/feed", headers=who.auth).status_code == 200
    registry = CollectorRegistry()
    handler = FanoutHandler(app.engine, app.redis, metrics=FanoutMetrics(registry))
    handler.handle([app.ready(author, app.post(author, "one")), app.ready(author, app.post(author, "two"))])
    assert registry.get_sample_value("darkroom_fanout_followers_count") == 2
    assert registry.get_sample_value("darkroom_fanout_followers_sum") == 6  # 3 feeds each
    assert registry.get_sample_value("darkroom_fanout_followers_bucket", {"le": "1.0"}) == 0
    assert registry.get_sample_value("darkroom_fanout_seconds_count") == 2
