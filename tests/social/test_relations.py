"""``relations.among``'s list parameter: on PostgreSQL one array literal cast to an array (cheaper to
bind than a Python list), exact for any text, and the same rows on both backends."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from darkroom.social import relations
from darkroom.social.ids import new_id

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
