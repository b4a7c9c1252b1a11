"""Accounts for the social tests: sign one up and get its row and the viewer its session would be,
and, for tests over a transport (HTTP, gRPC), a member with an API token."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from darkroom.social import account_lifecycle, tokens
from darkroom.social.accounts import AccountRow
from darkroom.social.events import EventType
from darkroom.social.viewer import Role, Scope, Viewer
from darkroom.storage.schema import outbox

PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class Person:
    account: AccountRow
    viewer: Viewer

    @property
    def id(self) -> str:
        return self.account.id

    @property
    def handle(self) -> str:
        return self.account.handle


def signup(engine: sa.Engine, handle: str, *, private: bool = False, role: Role = Role.USER) -> Person:
    with engine.begin() as conn:
        return signup_in(conn, handle, private=private, role=role)


def signup_in(conn: sa.Connection, handle: str, *, private: bool = False, role: Role = Role.USER) -> Person:
    account = account_lifecycle.create_account(
        conn, handle=handle, email=f"{handle}@example.com", password=PASSWORD, private=private, role=role
    )
    return Person(account, Viewer(account.id, account.handle, frozenset(Scope), role))


@dataclass(frozen=True)
class User:
    """A signed-up account and its API token (read and write scopes)."""

    person: Person
    token: str

    @property
    def id(self) -> str:
        return self.person.id

    @property
    def handle(self) -> str:
        return self.person.handle

    @property
    def viewer(self) -> Viewer:
        return self.person.viewer

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def member_in(conn: sa.Connection, handle: str, *, private: bool = False, role: Role = Role.USER) -> User:
    """``handle`` signed up, with an API token that reads and writes."""
    person = signup_in(conn, handle, private=private, role=role)
    token = tokens.create_token(conn, person.viewer, name="tests", scopes=[Scope.READ, Scope.WRITE])
    return User(person, token.secret)


def read_only(person: Person) -> Viewer:
    return Viewer(person.id, person.handle, frozenset({Scope.READ}), person.viewer.role)


def events(engine: sa.Engine, kind: EventType | None = None) -> list[dict[str, object]]:
    """The outbox's events (payload fields, ``data`` decoded), oldest first, of one type if given."""
    import orjson

    with engine.connect() as conn:
        rows = conn.execute(sa.select(outbox.c.payload).order_by(outbox.c.seq)).scalars().all()
    found = [dict(p) | {"data": orjson.loads(p["data"])} for p in rows]
    return [e for e in found if kind is None or e["type"] == kind.value]


def count(engine: sa.Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
