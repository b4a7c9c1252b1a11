"""``darkroom seed --sample`` on a real private platform (Redis, workers, the social runner): the
sample's accounts, follows, posts (processed by the real media workflows), likes and comments; a
second run adds nothing; a handle taken by someone else stops it before anything is written."""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from darkroom.cli import app
from darkroom.cli.demos.seeding import plant
from darkroom.cli.demos.social_sample import SampleAccount, SampleSet
from darkroom.config import Settings
from darkroom.local.platform import LocalPlatform, PlatformConfig
from darkroom.platform.wiring import Wiring
from darkroom.social import account_lifecycle, accounts, passwords
from darkroom.social.errors import AlreadyExists
from darkroom.social.uploads import UploadState
from darkroom.storage.schema import accounts as accounts_table
from darkroom.storage.schema import comments, follows, likes, mentions, post_tags, uploads

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")

runner = CliRunner()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Wiring, dict[str, str | None]]]:
    home = tmp_path_factory.mktemp("seed") / "home"
    settings = replace(Settings.from_env({}), home=home, grpc_addr="127.0.0.1:0", http_addr=f"127.0.0.1:{_free_port()}")
    p = LocalPlatform(settings, PlatformConfig(workers=2, concurrency=2, metrics=False, grace_s=5, social=True))
    wiring = p.start()
    env: dict[str, str | None] = {
        "DARKROOM_HOME": str(home),
        "DARKROOM_DATABASE_URL": None,  # SQLite under the home, as the platform's
        "DARKROOM_REDIS_URL": None,  # the private redis-server under the home
        "DARKROOM_DEBUG": None,
    }
    yield wiring, env
    p.stop()


def _seed(env: dict[str, str | None], *args: str, input: str | None = None) -> Any:
    return runner.invoke(app, ["seed", *args], env=env, input=input)


def test_the_sample_is_seeded_once_through_the_media_workflows(platform: tuple[Wiring, dict[str, str | None]]) -> None:
    wiring, env = platform
    first = _seed(env, "--sample", "--json")
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert report["added"] == {"accounts": 4, "follows": 8, "posts": 6, "likes": 10, "comments": 6}
    assert not report["nothing_added"] and report["skipped"] == 0
    assert [(a["handle"], a["private"], a["created"]) for a in report["accounts"]] == [
        ("ana", False, True), ("ben", False, True), ("cleo", True, True), ("dara", False, True),
    ]  # fmt: skip
    assert {p["state"] for p in report["posts"]} == {"ready"}
    assert sorted(p["media"] for p in report["posts"]) == [1, 1, 1, 1, 1, 2]

    with wiring.db.connect() as conn:
        # the password printed once signs each of them in
        hashes = conn.execute(sa.select(accounts_table.c.password_hash)).scalars().all()
        assert len(hashes) == 4 and all(passwords.verify_password(h, report["password"]) for h in hashes)
        assert accounts.get_account(conn, "ana").bio.startswith("Harbours")
        states = list(conn.execute(sa.select(follows.c.state)).scalars())
        assert sorted(states) == ["active"] * 7 + ["requested"]  # @dara's request to @cleo waits
        # the media went through the workflows: photos have their renditions, the clip its streams
        infos = [(kind, info) for kind, info, state in conn.execute(sa.select(uploads.c.kind, uploads.c.info,
                 uploads.c.state)) if state == UploadState.READY]  # fmt: skip
        assert sorted(kind for kind, _ in infos) == ["photo"] * 6 + ["video"]
        clip = next(info for kind, info in infos if kind == "video")
        assert {r["role"] for r in clip["renditions"]} == {"poster", "hls", "dash", "storyboard"}
        widths = {info["width"] for kind, info in infos if kind == "photo"}
        assert len(widths) > 3  # pictures of several sizes
        assert conn.execute(sa.select(sa.func.count()).select_from(post_tags)).scalar_one() == 11
        assert conn.execute(sa.select(sa.func.count()).select_from(mentions)).scalar_one() == 4
        assert conn.execute(sa.select(sa.func.count()).select_from(likes)).scalar_one() == 10
        assert conn.execute(sa.select(sa.func.count()).select_from(comments)).scalar_one() == 6

    again = _seed(env, "--sample", "--json")
    assert again.exit_code == 0, again.output
    second = json.loads(again.stdout)
    assert second["nothing_added"] and second["password"] is None
    assert [p["id"] for p in second["posts"]] == [p["id"] for p in report["posts"]]
    told = _seed(env, "--sample")
    assert told.exit_code == 0 and "the sample is there already" in told.stdout and "shown once" not in told.stdout


def test_a_handle_taken_by_someone_else_stops_the_seed_before_anything_is_written(
    platform: tuple[Wiring, dict[str, str | None]],
) -> None:
    wiring, _ = platform
    with wiring.db.begin() as conn:
        account_lifecycle.create_account(conn, handle="eve", email="eve@example.com", password="a real password")
    sample = SampleSet((SampleAccount("fay", "Fay", ""), SampleAccount("eve", "Eve", "")), (), (), (), ())
    with pytest.raises(AlreadyExists, match="@eve is taken"):
        plant(wiring, sample, password="sample password")
    with wiring.db.connect() as conn:
        found = conn.execute(sa.select(accounts_table.c.handle).where(accounts_table.c.handle == "fay")).first()
    assert found is None


def test_refusals_are_one_line(tmp_path: Path, platform: tuple[Wiring, dict[str, str | None]]) -> None:
    _, env = platform
    nothing = _seed(env)
    assert nothing.exit_code == 2 and "--sample" in nothing.stderr
    short = _seed(env, "--sample", "--password-stdin", input="short\n")
    assert short.exit_code == 1 and short.stderr.startswith("error: ") and "password" in short.stderr
    elsewhere = _seed({**env, "DARKROOM_HOME": str(tmp_path / "no platform")}, "--sample")
    assert elsewhere.exit_code == 1, elsewhere.output
    assert elsewhere.stderr.startswith("error: no Redis") and "darkroom up" in elsewhere.stderr
