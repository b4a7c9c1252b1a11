"""Handles and emails: canonical forms, the 30-character limit, look-alikes and reserved words."""

from __future__ import annotations

import pytest

from darkroom.social.errors import InvalidInput
from darkroom.social.handles import RESERVED_HANDLES, lookup_handle, normalize_email, normalize_handle


@pytest.mark.parametrize(
    ("raw", "handle"),
    [
        ("alice", "alice"),
        ("Alice_99", "alice_99"),
        ("  bob  ", "bob"),
        ("\uff21\uff2c\uff29\uff23\uff25", "alice"),  # fullwidth ALICE: NFKC folds it to ASCII
        ("\u212a", "k"),  # KELVIN SIGN
        ("_", "_"),
        ("a" * 30, "a" * 30),  # the maximum
    ],
)
def test_valid_handles_are_canonical(raw: str, handle: str) -> None:
    assert normalize_handle(raw) == handle
    assert lookup_handle(raw) == handle


def test_one_past_the_maximum_is_refused_with_its_length() -> None:
    with pytest.raises(InvalidInput, match="31 characters long: at most 30") as caught:
        normalize_handle("a" * 31)
    assert caught.value.field == "handle"
    assert lookup_handle("a" * 31) is None


@pytest.mark.parametrize(
    ("raw", "what"),
    [
        ("\u0430lice", "U+0430 CYRILLIC SMALL LETTER A"),
        ("b\u03bfb", "U+03BF GREEK SMALL LETTER OMICRON"),
        ("al\u200bice", "U+200B ZERO WIDTH SPACE"),
        ("ali\u00dfe", "U+00DF LATIN SMALL LETTER SHARP S"),
        ("caf\u00e9", "U+00E9 LATIN SMALL LETTER E WITH ACUTE"),
    ],
)
def test_look_alikes_are_refused_naming_the_character(raw: str, what: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalize_handle(raw)
    message = str(caught.value)
    assert repr(raw) in message and what in message and "looks like another character" in message
    assert lookup_handle(raw) is None


@pytest.mark.parametrize("raw", ["a-b", "a.b", "a b", "@alice", "al!ce", "tab\tbed"])
def test_punctuation_is_refused_naming_it(raw: str) -> None:
    with pytest.raises(InvalidInput, match="a-z, 0-9 and _") as caught:
        normalize_handle(raw)
    assert repr(raw) in str(caught.value)


@pytest.mark.parametrize("raw", ["", "   ", "\u3000"])
def test_empty_handles_are_refused(raw: str) -> None:
    with pytest.raises(InvalidInput, match="is empty"):
        normalize_handle(raw)


@pytest.mark.parametrize("raw", sorted(RESERVED_HANDLES) + ["ME", "Admin", "\uff41\uff50\uff49"])
def test_reserved_words_are_refused(raw: str) -> None:
    with pytest.raises(InvalidInput, match="is reserved"):
        normalize_handle(raw)


def test_reserved_list_stays_short_and_canonical() -> None:
    assert len(RESERVED_HANDLES) <= 30
    assert all(lookup_handle(word) == word for word in RESERVED_HANDLES)


def test_non_strings_are_refused() -> None:
    with pytest.raises(InvalidInput, match="must be a string, not int"):
        normalize_handle(42)
    assert lookup_handle(None) is None


@pytest.mark.parametrize(
    ("raw", "email"),
    [
        ("  Alice@Example.COM ", "alice@example.com"),
        ("a.b+tag@mail.example.org", "a.b+tag@mail.example.org"),
        ("x@" + "d" * 249 + ".io", "x@" + "d" * 249 + ".io"),  # 254 characters, the maximum
    ],
)
def test_valid_emails_are_trimmed_and_lower_cased(raw: str, email: str) -> None:
    assert normalize_email(raw) == email


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("x@" + "d" * 250 + ".io", "255 characters long: at most 254"),
        ("alice.example.com", "exactly one '@'"),
        ("a@b@example.com", "exactly one '@'"),
        ("@example.com", "exactly one '@'"),
        ("alice@localhost", "a dot"),
        ("alice@.com", "a dot"),
        ("alice@example.", "a dot"),
        ("al ice@example.com", "a space or control"),
        ("alice@exa\u0000mple.com", "a space or control"),
    ],
)
def test_bad_emails_are_refused_naming_them(raw: str, why: str) -> None:
    with pytest.raises(InvalidInput, match=why) as caught:
        normalize_email(raw)
    assert caught.value.field == "email" and repr(raw) in str(caught.value)
