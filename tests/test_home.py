"""The home is private: created 0700 by whichever part touches it first, narrowed when too open,
refused when another user owns it (or a symlink to it), and the private redis-server's files are
the user's alone."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from darkroom.api.auth import ensure_home_key
from darkroom.cli import app
from darkroom.config import Settings
from darkroom.home import HOME_MODE, UnsafeHome, private_home
from darkroom.local.home_lock import HomeLock
from darkroom.local.redis_server import RedisServer
from darkroom.storage import db
from darkroom.storage.blobs import open_blobs

OTHER_UID = 65534  # nobody
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most permissive umask a user could have: nothing Darkroom creates may depend on it."""
    old = os.umask(0)
    yield
    os.umask(old)


@pytest.mark.usefixtures("open_umask")
@pytest.mark.parametrize(
    "first_touch",
    [
        pytest.param(lambda home: db.connect("", home=home).dispose(), id="database"),
        pytest.param(lambda home: open_blobs("", home=home).put_bytes("k", b"private"), id="blobs"),
        pytest.param(lambda home: HomeLock(home).acquire().release(), id="platform-lock"),
        pytest.param(lambda home: ensure_home_key(Settings(home=home)), id="api-key"),
    ],
)
def test_a_new_home_is_private_whoever_creates_it(tmp_path: Path, first_touch: object) -> None:
    home = tmp_path / "a" / "home"
    first_touch(home)  # type: ignore[operator]
    assert _mode(home) == HOME_MODE


def test_an_open_home_is_narrowed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o777)
    os.chmod(home, 0o777)
    private_home(home)
    assert _mode(home) == HOME_MODE


def test_a_symlink_of_mine_to_a_home_of_mine_is_fine(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert private_home(tmp_path / "link") == tmp_path / "link"
    assert _mode(tmp_path / "real") == HOME_MODE


def test_a_file_is_not_a_home(tmp_path: Path) -> None:
    (tmp_path / "home").write_text("")
    with pytest.raises(UnsafeHome, match="not a directory"):
        private_home(tmp_path / "home")


@as_root
def test_a_home_of_another_user_is_refused_untouched(tmp_path: Path) -> None:
    home = tmp_path / "planted"
    home.mkdir()
    (home / "api.keys").write_text("local:the-other-users-key\n")  # would be accepted as ours
    os.chown(home, OTHER_UID, OTHER_UID)
    os.chmod(home, 0o777)
    for touch in (
        lambda: ensure_home_key(Settings(home=home)),
        lambda: HomeLock(home).acquire(),
        lambda: RedisServer(root=home).start(),
        lambda: db.connect("", home=home),
        lambda: open_blobs("", home=home),
    ):
        with pytest.raises(UnsafeHome, match=rf"{home}.*uid {OTHER_UID}"):
            touch()
    assert _mode(home) == 0o777  # not "fixed" behind the owner's back
    assert sorted(p.name for p in home.iterdir()) == ["api.keys"]


@as_root
def test_a_symlink_planted_by_another_user_is_refused(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    link = tmp_path / "shared-home"
    link.symlink_to(mine)
    os.lchown(link, OTHER_UID, OTHER_UID)
    with pytest.raises(UnsafeHome, match=f"symlink owned by uid {OTHER_UID}"):
        private_home(link)


@as_root
def test_darkroom_up_on_another_users_home_says_so(tmp_path: Path) -> None:
    home = tmp_path / "planted"
    home.mkdir()
    os.chown(home, OTHER_UID, OTHER_UID)
    result = CliRunner().invoke(app, ["up", "--workers", "0"], env={"DARKROOM_HOME": str(home)})
    assert result.exit_code == 1, result.output
    assert f"the home {home} is owned by uid {OTHER_UID}" in " ".join(result.output.split())


@pytest.mark.usefixtures("open_umask")
def test_the_private_redis_servers_files_are_the_users_alone(tmp_path: Path) -> None:
    server = RedisServer(root=tmp_path / "home").start()
    try:
        client = server._control_client()
        client.set("k", "private")
        client.close()
    finally:
        server.stop()
    home = tmp_path / "home"
    assert _mode(home) == HOME_MODE
    written = [p for p in home.rglob("*") if p.is_file() and p.name != "redis.sock"]
    assert any(p.name.endswith(".aof") for p in written)
    for path in [*written, home / "redis-data"]:
        assert _mode(path) & 0o077 == 0, path


@pytest.mark.parametrize("name", ["a b", "[bold]x", "glob*?", 'quote"and\\slash', "new\nline", "ünï"])
def test_the_private_redis_server_keeps_its_config_in_any_home(tmp_path: Path, name: str) -> None:
    # A home with [, * or ? made redis-server read its config path as a glob, match nothing and
    # start on its defaults: no password, port 6379 on every interface.
    server = RedisServer(root=tmp_path / name).start()
    try:
        client = server._control_client()
        assert client.config_get("port") == {"port": "0"}
        assert client.config_get("requirepass")["requirepass"] == server.password
        assert client.config_get("unixsocket")["unixsocket"] == str(server.socket_path)
        assert client.config_get("dir")["dir"] == str((tmp_path / name / "redis-data").resolve())
        client.close()
    finally:
        server.stop()
