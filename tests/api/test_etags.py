"""darkroom.api.etags: RFC 9110 entity-tag parsing and the precondition order."""

from __future__ import annotations

import pytest

from darkroom.api.errors import InvalidPrecondition
from darkroom.api.etags import ETag, ETagList, Precondition, evaluate, parse

CURRENT = ETag("abc")


def test_tags_are_strong_hashes_of_their_inputs() -> None:
    assert ETag.for_version("p1", 3) == ETag.for_version("p1", 3)
    assert ETag.for_version("p1", 3) != ETag.for_version("p1", 4)
    assert ETag.for_version("p1", 3, "id") != ETag.for_version("p1", 3, "caption")
    assert ETag.for_content(b"x") != ETag.for_content(b"y")
    tag = ETag.for_version('a"b', "\u00e9")
    assert not tag.weak and str(tag) == f'"{tag.opaque}"' and '"' not in tag.opaque
    assert str(ETag("x", weak=True)) == 'W/"x"'


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("*", ETagList(any=True)),
        (" * ", ETagList(any=True)),
        ('"a"', ETagList((ETag("a"),))),
        ('W/"a", "b"', ETagList((ETag("a", weak=True), ETag("b")))),
        ('"a",,  "b" ,', ETagList((ETag("a"), ETag("b")))),  # empty list elements are allowed
        ('""', ETagList((ETag(""),))),
        ("", ETagList()),
        ('"caf\u00e9"', ETagList((ETag("caf\u00e9"),))),  # obs-text, as latin-1 decodes it
    ],
)
def test_parse(header: str, expected: ETagList) -> None:
    assert parse(header) == expected


@pytest.mark.parametrize("header", ["abc", '"a" "b"', 'w/"a"', '"a', '"a"b', '*, "a"', '"a b"', 'W/ "a"'])
def test_a_malformed_header_is_refused_naming_it(header: str) -> None:
    with pytest.raises(InvalidPrecondition) as info:
        parse(header, header="If-Match")
    assert repr(header) in str(info.value) and info.value.field == "If-Match"


@pytest.mark.parametrize(
    ("method", "if_match", "if_none_match", "current", "outcome"),
    [
        ("GET", None, None, CURRENT, Precondition.PROCEED),
        ("GET", None, '"abc"', CURRENT, Precondition.NOT_MODIFIED),
        ("GET", None, 'W/"abc"', CURRENT, Precondition.NOT_MODIFIED),  # weak comparison
        ("HEAD", None, '"x", "abc"', CURRENT, Precondition.NOT_MODIFIED),
        ("GET", None, '"x"', CURRENT, Precondition.PROCEED),
        ("GET", None, "*", CURRENT, Precondition.NOT_MODIFIED),
        ("GET", None, "*", None, Precondition.PROCEED),
        ("PUT", None, "*", CURRENT, Precondition.FAILED),  # create-only: exists already
        ("PUT", None, "*", None, Precondition.PROCEED),
        ("PATCH", '"abc"', None, CURRENT, Precondition.PROCEED),
        ("PATCH", 'W/"abc"', None, CURRENT, Precondition.FAILED),  # strong comparison
        ("PATCH", '"old"', None, CURRENT, Precondition.FAILED),
        ("PATCH", "*", None, CURRENT, Precondition.PROCEED),
        ("PATCH", "*", None, None, Precondition.FAILED),
        ("PATCH", '"abc"', None, ETag("abc", weak=True), Precondition.FAILED),
        # If-Match is evaluated first
        ("GET", '"old"', '"abc"', CURRENT, Precondition.FAILED),
        ("GET", '"abc"', '"abc"', CURRENT, Precondition.NOT_MODIFIED),
    ],
)
def test_evaluate(
    method: str, if_match: str | None, if_none_match: str | None, current: ETag | None, outcome: Precondition
) -> None:
    assert evaluate(method, current, if_match=if_match, if_none_match=if_none_match) is outcome
