"""The home directory (``DARKROOM_HOME``): private to the user who runs Darkroom.

Everything under it is private: the metadata database, the blobs, the queue's append-only file,
the generated Redis password and API key. So every part that creates or uses a home goes through
:func:`private_home` first, before it writes anything there:

- a missing home is created with mode 0700 (its missing parents get the umask, as ``mkdir -p``);
- an existing home with group or other bits is narrowed to 0700;
- a home owned by another user is refused (:class:`UnsafeHome`): whoever owns it could have put
  their own ``api.keys`` or ``redis.password`` there, or a symlink where a file will be written.
  So is a symlink owned by another user (in a world-writable ``/tmp``, anyone can point one at a
  directory of yours). ``root`` may own a home's symlink (a system-wide layout).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from darkroom.errors import DarkroomError

__all__ = ["HOME_MODE", "UnsafeHome", "private_home", "write_secret_once"]

HOME_MODE = 0o700


class UnsafeHome(DarkroomError, PermissionError):
    """The home belongs to another user, or is not a directory; the message names it and its owner."""


def private_home(home: Path) -> Path:
    """Create ``home`` (mode 0700) or check it is this user's and narrow it to 0700; returns ``home``.

    Raises :class:`UnsafeHome` for a home (or a symlink to it) owned by another user."""
    uid = os.geteuid()
    home.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.mkdir(home, HOME_MODE)  # created private: never readable by others, not even briefly
    link = os.lstat(home)
    if stat.S_ISLNK(link.st_mode) and link.st_uid not in (uid, 0):
        raise UnsafeHome(
            f"the home {home} is a symlink owned by uid {link.st_uid}, not by you (uid {uid}): "
            "another user could point it anywhere; use a home of your own (DARKROOM_HOME)"
        )
    info = os.stat(home)
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafeHome(f"the home {home} is not a directory")
    if info.st_uid != uid:
        raise UnsafeHome(
            f"the home {home} is owned by uid {info.st_uid}, not by you (uid {uid}): its keys and data "
            "could have been put there by that user; use a home of your own (DARKROOM_HOME)"
        )
    if stat.S_IMODE(info.st_mode) != HOME_MODE:
        os.chmod(home, HOME_MODE)
    return home


def write_secret_once(path: Path, text: str) -> None:
    """Create ``path`` (mode 0600) holding ``text`` unless it exists: written whole under a temporary
    name, then linked into place. ``link`` fails when another first start got there first, and then
    its file (complete, never half-written) is the one kept, so two first starts agree on one secret."""
    if not path.exists():
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            os.unlink(tmp)
    os.chmod(path, 0o600)
