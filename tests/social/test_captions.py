"""Captions: the length limit at its maximum, hashtags and mentions as the rules say."""

from __future__ import annotations

import pytest

from darkroom.social.captions import MAX_CAPTION_CHARS, MAX_TAG_CHARS, Caption, parse_caption
from darkroom.social.errors import InvalidInput


def test_a_caption_of_2200_characters_is_taken_and_2201_refused() -> None:
    assert parse_caption("é" * MAX_CAPTION_CHARS) == Caption((), ())  # characters, not bytes
    with pytest.raises(InvalidInput, match="2201 characters long; at most 2200") as caught:
        parse_caption("x" * (MAX_CAPTION_CHARS + 1))
    assert caught.value.field == "caption"


def test_hashtags_are_unicode_words_lower_cased_once_each_in_order() -> None:
    caption = parse_caption("#Sunset at the #été fête #SUNSET #नमस्ते #_raw #2024, #tag,#two!")
    assert caption.tags == ("sunset", "été", "नमस्ते", "_raw", "2024", "tag", "two")


def test_what_is_not_a_hashtag() -> None:
    text = "a#b x/#fragment &#38; ## # #-dash"
    assert parse_caption(text).tags == ()


def test_a_hashtag_of_100_characters_is_kept_and_101_refused_naming_it() -> None:
    assert parse_caption("#" + "a" * MAX_TAG_CHARS).tags == ("a" * MAX_TAG_CHARS,)
    with pytest.raises(InvalidInput, match=r"hashtag #bbbbbbbbbbbbbbbbbbbb… is 101 characters long"):
        parse_caption("ok #fine #" + "b" * (MAX_TAG_CHARS + 1))


def test_hashtags_compare_in_one_unicode_form() -> None:
    composed, decomposed = "#caf\u00e9", "#cafe\u0301"
    assert parse_caption(f"{composed} {decomposed}").tags == ("café",)


def test_mentions_are_handles_case_folded_once_each() -> None:
    caption = parse_caption("with @Alice and @bob_2, @ALICE again; mail bob@example.com; @" + "x" * 31)
    assert caption.mentions == ("alice", "bob_2")


def test_markup_is_only_text() -> None:
    """Nothing is interpreted or escaped here: tags end where word characters end."""
    assert parse_caption("<b>#bold</b> <script>alert('#x')</script> @<i>bob</i>") == Caption(("bold", "x"), ())


def test_a_caption_that_is_not_text_is_refused() -> None:
    with pytest.raises(InvalidInput, match="caption 42 is not text"):
        parse_caption(42)  # type: ignore[arg-type]
