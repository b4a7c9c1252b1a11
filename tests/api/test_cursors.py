"""darkroom.api.cursors: round trips, and every way a cursor can be wrong is InvalidCursor naming it."""

from __future__ import annotations

import base64

import pytest

from darkroom.api.cursors import MAX_CURSOR_CHARS, CursorCodec
from darkroom.api.errors import InvalidCursor

KEY = b"k" * 32


def test_a_cursor_round_trips_its_position() -> None:
    codec = CursorCodec(KEY)
    position = {"id": "01J0000000000000000000000", "score": 1.5, "n": 3}
    cursor = codec.encode(position, list_name="feed")
    assert codec.decode(cursor, list_name="feed") == position
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _flip(cursor: str, index: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    raw[index] ^= 0x01
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


def _forged(position: dict[str, str]) -> str:
    """A cursor built by a client who knows the format but not the key."""
    return CursorCodec(b"x" * 32).encode(position, list_name="feed")


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda c: _forged({"id": "9"}), "bad signature"),
        (lambda c: _flip(c, 5), "bad signature"),  # one bit of the JSON
        (lambda c: _flip(c, -1), "bad signature"),  # one bit of the tag
        (lambda c: c[:-3], "bad signature"),  # truncated
        (lambda c: _flip(c, 0), "unknown version"),
        (lambda c: c + "!", "not url-safe base64"),
        (lambda c: "é" + c, "not url-safe base64"),
        (lambda c: "x" * (MAX_CURSOR_CHARS + 1), f"1-{MAX_CURSOR_CHARS} characters"),
        (lambda c: "", f"1-{MAX_CURSOR_CHARS} characters"),
        (lambda c: CursorCodec(KEY).encode({"id": "1"}, list_name="followers:01A"), "another list"),
    ],
)
def test_a_wrong_cursor_is_refused_naming_it(make: object, why: str) -> None:
    codec = CursorCodec(KEY)
    bad = make(codec.encode({"id": "1"}, list_name="feed"))  # type: ignore[operator]
    with pytest.raises(InvalidCursor) as info:
        codec.decode(bad, list_name="feed")
    assert why in str(info.value)
    assert repr(bad[:20]).rstrip("'") in str(info.value)  # the message shows the cursor
    assert info.value.field == "cursor"


def test_an_unsigned_codec_still_checks_shape_and_list() -> None:
    codec = CursorCodec()
    cursor = codec.encode({"after": "5"}, list_name="items")
    assert codec.decode(cursor, list_name="items") == {"after": "5"}
    for bad in (
        base64.urlsafe_b64encode(b"\x01[1,2]").decode().rstrip("="),
        base64.urlsafe_b64encode(b"\x01{").decode(),
    ):
        with pytest.raises(InvalidCursor, match=r"holds no position|base64"):
            codec.decode(bad, list_name="items")
    # a signed server refuses an unsigned cursor: it has no tag
    with pytest.raises(InvalidCursor, match="bad signature"):
        CursorCodec(KEY).decode(cursor, list_name="items")


def test_a_short_secret_and_a_huge_position_are_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        CursorCodec(b"short")
    with pytest.raises(ValueError, match="too large"):
        CursorCodec(KEY).encode({"id": "x" * MAX_CURSOR_CHARS}, list_name="feed")
