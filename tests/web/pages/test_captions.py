"""caption_parts: the domain's tags and mentions become links, nothing else does."""

from __future__ import annotations

from darkroom.social.captions import parse_caption
from darkroom.web.pages.captions import CaptionPart, caption_parts


def _parts(text: str) -> list[CaptionPart]:
    parsed = parse_caption(text)  # what the domain stored when the post was made
    return caption_parts(text, parsed.tags, parsed.mentions)


def test_tags_and_mentions_are_links_and_the_rest_is_text() -> None:
    assert _parts("Golden #Sunset with @Ana!") == [
        CaptionPart("Golden "),
        CaptionPart("#Sunset", "/tags/sunset"),
        CaptionPart(" with "),
        CaptionPart("@Ana", "/@ana"),
        CaptionPart("!"),
    ]


def test_what_the_domain_does_not_count_stays_text() -> None:
    text = "mail bob@example.com, see https://x.test/#anchor, a#b, &#38; ##double"
    assert _parts(text) == [CaptionPart(text)]
    assert caption_parts("#sun @ana", [], []) == [CaptionPart("#sun @ana")]  # not in the post's lists


def test_unicode_tags_and_markup() -> None:
    assert _parts("#café <b>#नमस्ते</b>") == [
        CaptionPart("#café", "/tags/caf%C3%A9"),
        CaptionPart(" <b>"),
        CaptionPart("#नमस्ते", "/tags/%E0%A4%A8%E0%A4%AE%E0%A4%B8%E0%A5%8D%E0%A4%A4%E0%A5%87"),
        CaptionPart("</b>"),
    ]
    assert _parts("") == []
