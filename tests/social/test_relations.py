"""``relations.among``'s list parameter: on PostgreSQL one array literal cast to an array (cheaper to
bind than a Python list), exact for any text, and the same rows on both backends."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from darkroom.social import graph, posts, reactions, relations
from darkroom.social.ids import new_id
from tests.social import people
from tests.social.rows import make_upload
from tests.social.statements import statements

TRICKY = ["NULL", "null", "a,b", "{x}", 'say "hi"', "back\\slash", "", " space ", "ünï", "01HZZZZZZZZZZZZZZZZZZZZZZZ"]
_WORDS = sa.table("words", sa.column("word", sa.String))


def test_plain_ids_are_joined_and_anything_else_is_quoted() -> None:
    ids = [new_id() for _ in range(3)]
    assert relations.array_literal(ids) == "{" + ",".join(ids) + "}"
    assert relations.array_literal([]) == "{}"
    assert relations.array_literal(["NULL", 'a"b', "c\\d"]) == '{"NULL","a\\"b","c\\\\d"}'
    with pytest.raises(TypeError):
        relations.array_literal([1])  # type: ignore[list-item]


@pytest.mark.parametrize("values", [TRICKY, [new_id() for _ in range(100)], []], ids=["tricky", "ids", "none"])
def test_among_finds_exactly_the_listed_values(db_engine: sa.Engine, values: list[str]) -> None:
    with db_engine.begin() as conn:
        conn.execute(sa.text("CREATE TEMPORARY TABLE words (word VARCHAR)"))
        conn.execute(sa.insert(_WORDS), [{"word": w} for w in [*values, "other", "NULL?"]])
        statement = sa.select(_WORDS.c.word).where(relations.among(_WORDS.c.word, "wanted", conn.dialect.name))
        found = conn.execute(statement, {"wanted": values}).scalars().all()
    assert sorted(found) == sorted(values)


def test_a_viewers_edges_are_the_same_rows_as_sqlalchemy_reads_them(db_engine: sa.Engine) -> None:
    """On PostgreSQL ``run`` sends SQLAlchemy's compiled statement on psycopg's cursor: the rows are
    the ones SQLAlchemy's own execution of it finds, on both backends."""
    with db_engine.begin() as conn:
        alice, bob, carol, dan = (people.member_in(conn, h) for h in ("alice", "bob", "carol", "dan"))
        shy = people.member_in(conn, "shy", private=True)
        graph.follow(conn, alice.viewer, "bob")
        graph.follow(conn, bob.viewer, "alice")
        graph.follow(conn, alice.viewer, "shy")  # a request: shy is private
        graph.block(conn, carol.viewer, "alice")
        graph.block(conn, alice.viewer, "dan")
        post = posts.create_post(conn, bob.viewer, caption="hi", upload_ids=[make_upload(conn, bob.id)]).id
        reactions.like(conn, alice.viewer, post)
    lookup = relations.queries(alice.id, [bob.id, carol.id, dan.id, shy.id, new_id()], [post, new_id()])
    with db_engine.connect() as conn:
        ours = relations.run(conn, lookup)
    with statements(db_engine) as seen, db_engine.connect() as conn:  # observed: SQLAlchemy's way
        theirs = relations.run(conn, lookup)
    assert [s for s in seen if s.startswith("SELECT")] == seen[-1:] and sorted(ours) == sorted(theirs)
    assert relations.collect(ours) == relations.Relations(
        following=frozenset({bob.id}), requested=frozenset({shy.id}), followers=frozenset({bob.id}),
        blocking=frozenset({dan.id}), blocked_by=frozenset({carol.id}), liked=frozenset({post}),
    )  # fmt: skip


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_statement_postgresql_refuses_is_sqlalchemys_error(db_engine: sa.Engine) -> None:
    with db_engine.connect() as conn, pytest.raises(sa.exc.DBAPIError, match="0x00"):
        relations.run(conn, relations.queries("nul\x00here", [new_id()]))  # text holds no NUL
    with db_engine.connect() as conn:  # the connection went back to the pool usable
        assert relations.run(conn, relations.queries(new_id(), [new_id()])) == []
