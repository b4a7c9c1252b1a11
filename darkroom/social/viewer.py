"""Who is asking: the account behind a session or token, what it may do, and anonymous readers."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from darkroom.social.errors import Forbidden, Unauthorized

__all__ = ["Role", "Scope", "Viewer", "require", "require_write"]


class Scope(StrEnum):
    READ = "read"
    WRITE = "write"


class Role(StrEnum):
    USER = "user"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Viewer:
    """A signed-in account. Anonymous readers are ``None`` wherever a ``Viewer | None`` is taken."""

    account_id: str
    handle: str
    scopes: frozenset[Scope] = frozenset({Scope.READ, Scope.WRITE})
    role: Role = Role.USER
    # the session or token it was identified by (None: the operator, a test's viewer); a write that
    # mints a credential checks that one is still live, so nothing minted outlives a revocation
    credential_id: str | None = field(default=None, compare=False)

    @property
    def admin(self) -> bool:
        return self.role is Role.ADMIN


def require(viewer: Viewer | None) -> Viewer:
    """``viewer``, or :class:`Unauthorized` for an anonymous caller."""
    if viewer is None:
        raise Unauthorized("sign in first: send a session cookie or 'Authorization: Bearer <token>'")
    return viewer


def require_write(viewer: Viewer | None) -> Viewer:
    """A signed-in viewer whose credentials carry the ``write`` scope."""
    who = require(viewer)
    if Scope.WRITE not in who.scopes:
        raise Forbidden("this token has only the 'read' scope; create one with 'write' to change things")
    return who
