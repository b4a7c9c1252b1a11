"""schemathesis against the app's ``/openapi.json``, in process (its ASGI transport, no network),
signed in as a seeded account: no answer may be a server error, break the documented schema, or
carry a status the operation does not document (docs/social.md, "Security tests").

Path parameters are drawn half the time from the seeded world (real handles, post, comment,
upload and token ids, tags, media keys), so the fuzzing reaches the 200 answers and not only the
404s. Writes that would end the signed-in account or its session (``DELETE /v1/accounts/me``,
``DELETE /v1/sessions/current``) are sent with a throwaway account's token.

Bounded: ``DARKROOM_SCHEMATHESIS_EXAMPLES`` examples per operation (default 6);
``make bench-schemathesis`` runs it with many more and writes a tally of the answers (per
operation and status) to ``DARKROOM_SCHEMATHESIS_REPORT``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
import redis
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from darkroom.api.ratelimit import Rate
from darkroom.config import Settings
from darkroom.social import graph, media_access, passwords, posts, reactions, tokens
from darkroom.social.intake import UploadLimits
from darkroom.social.resumable import create_resumable
from darkroom.social.viewer import Scope
from darkroom.storage.blobs import LocalBlobs
from darkroom.storage.db import open_database
from darkroom.web.app import create_app
from darkroom.web.deps import HttpLimits, WebDeps
from darkroom.web.main import DatabaseAuthenticator
from tests.social import people
from tests.social.media_helpers import jpeg_bytes
from tests.social.rows import make_upload, photo_info
from tests.web.media_app import RecordedStarts
from tests.web.real_app import social_app

EXAMPLES = int(os.environ.get("DARKROOM_SCHEMATHESIS_EXAMPLES", "6"))
REPORT = os.environ.get("DARKROOM_SCHEMATHESIS_REPORT")
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]
# every request of a long run fits the quotas (the rate limits have their own tests)
_UNLIMITED = HttpLimits(per_account=Rate(10**9, 3600.0), per_ip=Rate(10**9, 3600.0))
# what would end the signed-in account or its credential: sent with a throwaway's
_SELF_ENDING = {("DELETE", "/v1/accounts/me"), ("DELETE", "/v1/sessions/current")}


@dataclass
class Seeded:
    app: Any
    engine: Any
    token: str
    values: dict[str, list[str]]  # path parameter -> real values

    def throwaway_token(self) -> str:
        with self.engine.begin() as conn:
            n = conn.exec_driver_sql("select count(*) from accounts").scalar_one()
            person = people.signup_in(conn, f"gone{n}")
            return tokens.create_token(conn, person.viewer, name="gone", scopes=[Scope.READ, Scope.WRITE]).secret


def _seed(engine: Any, blobs: LocalBlobs) -> tuple[str, dict[str, list[str]]]:
    with engine.begin() as conn:
        me = people.signup_in(conn, "fuzzer")
        friend = people.signup_in(conn, "friend")
        hidden = people.signup_in(conn, "hidden", private=True)
        token = tokens.create_token(conn, me.viewer, name="fuzz", scopes=[Scope.READ, Scope.WRITE]).secret
        spare = tokens.create_token(conn, me.viewer, name="spare", scopes=[Scope.READ]).credential_id
        graph.follow(conn, me.viewer, friend.handle)
        graph.follow(conn, me.viewer, hidden.handle)
        graph.accept_request(conn, hidden.viewer, me.handle)
        graph.follow(conn, friend.viewer, me.handle)
        post_ids, comment_ids, keys = [], [], []
        for author in (me, friend, hidden):
            info = photo_info(f"seed/{author.handle}")
            upload = make_upload(conn, author.id, info=info)
            media_access.record_keys(conn, upload, info)
            post = posts.create_post(conn, author.viewer, caption=f"#sun by @{author.handle}", upload_ids=[upload])
            reactions.like(conn, me.viewer, post.id)
            comment_ids.append(reactions.add_comment(conn, me.viewer, post.id, "<b>nice</b>").id)
            post_ids.append(post.id)
            keys += media_access.rendition_keys(info)
        # ready: an upload still processing would hold its event stream open until it settles
        uploads = [make_upload(conn, me.id)]
        # tus routes get their own uploads, still receiving: a DELETE there terminates one
        resumables = [
            create_resumable(conn, me.viewer, length_bytes=4096, filename="p.jpg", limits=UploadLimits()).id
            for _ in range(3)
        ]
    for key in keys:
        blobs.put_bytes(key, jpeg_bytes())
    values = {
        "handle": [me.handle, friend.handle, hidden.handle],
        "post_id": post_ids,
        "comment_id": comment_ids,
        "upload_id": uploads,
        "tus:upload_id": resumables,
        "token_id": [spare],
        "tag": ["sun"],
        "key": keys,
    }
    return token, values


@pytest.fixture(scope="module")
def seeded(redis_url: str, tmp_path_factory: pytest.TempPathFactory, _sqlite_template: Path) -> Iterator[Seeded]:
    previous = passwords.configure(passwords.FAST_FOR_TESTS)  # module fixtures start before the autouse one
    tmp = tmp_path_factory.mktemp("schemathesis")
    shutil.copyfile(_sqlite_template, tmp / "darkroom.db")
    engine = open_database(f"sqlite:///{tmp / 'darkroom.db'}")
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    blobs = LocalBlobs(tmp / "blobs")
    try:
        token, values = _seed(engine, blobs)
        with social_app(engine, client, tmp, starts=lambda: RecordedStarts([]), blobs=blobs, limits=_UNLIMITED) as app:
            _REAL.update(values)
            started = time.monotonic()
            yield Seeded(app.client.app, engine, token, values)
            if REPORT:
                _write_report(Path(REPORT), time.monotonic() - started)
    finally:
        _REAL.clear()
        client.close()
        engine.dispose()
        passwords.configure(previous)


def _document() -> dict[str, Any]:
    """The app's OpenAPI document (it does not depend on what the app runs on: nothing here connects)."""
    nowhere = Path("/nonexistent/darkroom")
    deps = WebDeps(
        engine=sa.create_engine("sqlite://"),
        redis=redis.Redis(),
        blobs=LocalBlobs(nowhere),
        settings=Settings(home=nowhere),
        authenticator=DatabaseAuthenticator(sa.create_engine("sqlite://")),
    )
    return create_app(deps).openapi()


# Loaded at import for pytest's parametrization (schemathesis.pytest.from_fixture needs a pytest
# older than this one); the requests go to the seeded app (``app=`` in the call).
schema = schemathesis.openapi.from_dict(_document())
_REAL: dict[str, list[str]] = {}  # filled by the seeded fixture, read by the hook
_TALLY: Counter[tuple[str, int]] = Counter()  # (operation, status) -> answers


# tus chunks: the start of a real photo (so a chunk can pass the sniffing), or any bytes
schemathesis.openapi.media_type(
    "application/offset+octet-stream", st.one_of(st.just(jpeg_bytes()[:600]), st.binary(max_size=2048))
)


@schema.hook("flatmap_path_parameters")
def real_values(context: Any, path_parameters: dict[str, Any] | None) -> Any:
    """Half the time a real value, so the answers are not all 404s."""
    if not path_parameters:
        return st.just(path_parameters)
    tus = "tus:" if context.operation.path.startswith("/v1/uploads/tus") else ""
    return st.fixed_dictionaries(
        {name: st.sampled_from([value, *_REAL.get(tus + name, [])]) for name, value in path_parameters.items()}
    )


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same cases every run: a failure here is reproducible
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_the_api_keeps_its_openapi_promises(case: Any, seeded: Seeded) -> None:
    token = seeded.throwaway_token() if (case.method.upper(), case.path) in _SELF_ENDING else seeded.token
    response = case.call(app=seeded.app, headers={"Authorization": f"Bearer {token}"})
    _TALLY[(f"{case.method.upper()} {case.path}", response.status_code)] += 1
    case.validate_response(response, checks=CHECKS, headers={"Authorization": f"Bearer {token}"})


def _write_report(path: Path, seconds: float) -> None:
    """The tally as JSON: requests, seconds, and per operation its answers by status."""
    operations: dict[str, dict[str, int]] = {}
    for (operation, status), n in sorted(_TALLY.items()):
        operations.setdefault(operation, {})[str(status)] = n
    total = sum(_TALLY.values())
    summary = {"examples_per_operation": EXAMPLES, "requests": total, "seconds": round(seconds, 1),
               "server_errors": sum(n for (_, status), n in _TALLY.items() if status >= 500),
               "operations": operations}  # fmt: skip
    path.write_text(json.dumps(summary, indent=1) + "\n")


def test_every_answer_with_a_body_has_a_schema() -> None:
    """A route whose OpenAPI says only "some JSON" would pass schemathesis by promising nothing."""
    vague = []
    for path, operations in _document()["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                for media, content in response.get("content", {}).items():
                    if content.get("schema") in (None, {}):
                        vague.append(f"{method.upper()} {path} {status} {media}")
    assert vague == []
