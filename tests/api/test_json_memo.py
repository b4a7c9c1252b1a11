"""JsonMemo: protojson's JSON remembered by the message's bytes and the mask, never stale."""

from __future__ import annotations

import orjson
import pytest

from darkroom._proto.darkroom.social.v1 import social_pb2 as spb
from darkroom.api import protojson
from darkroom.api.fieldmask import Mask
from darkroom.api.json_memo import JsonMemo

WHOLE = Mask.parse("", spb.Post.DESCRIPTOR)
SMALL = Mask.parse("id,like_count", spb.Post.DESCRIPTOR)


def _post(caption: str = "sun", likes: int = 0, *, liked: bool = False) -> spb.Post:
    post = spb.Post(id="01HZZZZZZZZZZZZZZZZZZZZZZZ", caption=caption, like_count=likes, liked_by_me=liked)
    post.author.handle = "alice"
    post.created_at.FromSeconds(1_700_000_000)
    return post


def _json(memo: JsonMemo, post: spb.Post, mask: Mask) -> bytes:
    return orjson.dumps(memo.fragment(post, mask))


def test_the_json_is_protojsons_and_a_repeat_is_remembered() -> None:
    memo = JsonMemo()
    for mask in (WHOLE, SMALL):
        assert _json(memo, _post(), mask) == protojson.to_json(_post(), mask)
    assert (memo.hits, memo.misses) == (0, 2)
    assert _json(memo, _post(), SMALL) == b'{"id":"01HZZZZZZZZZZZZZZZZZZZZZZZ","like_count":0}'
    assert memo.hits == 1
    page = orjson.dumps({"items": [memo.fragment(_post(), SMALL)], "next_cursor": None})
    assert orjson.loads(page) == {"items": [{"id": "01HZZZZZZZZZZZZZZZZZZZZZZZ", "like_count": 0}], "next_cursor": None}


@pytest.mark.parametrize(
    "changed", [_post("moon"), _post(likes=1), _post(liked=True)], ids=["caption", "count", "viewer"]
)
def test_any_change_to_the_message_is_another_entry(changed: spb.Post) -> None:
    memo = JsonMemo()
    before = _json(memo, _post(), WHOLE)
    after = _json(memo, changed, WHOLE)
    assert after == protojson.to_json(changed, WHOLE) != before
    assert memo.hits == 0 and len(memo) == 2


def test_the_oldest_entry_goes_first_at_the_limit() -> None:
    memo = JsonMemo(max_entries=2)
    for likes in (1, 2, 3):
        memo.fragment(_post(likes=likes), SMALL)
    assert len(memo) == 2
    memo.fragment(_post(likes=3), SMALL)
    memo.fragment(_post(likes=1), SMALL)  # forgotten: made again
    assert (memo.hits, memo.misses) == (1, 4)
    with pytest.raises(ValueError, match="not 0"):
        JsonMemo(max_entries=0)


def test_many_masks_stay_within_the_limit() -> None:
    memo = JsonMemo(max_entries=3)
    masks = [Mask.parse(f, spb.Post.DESCRIPTOR) for f in ("id", "caption", "like_count", "created_at", "author")]
    for mask in masks:
        assert _json(memo, _post(), mask) == protojson.to_json(_post(), mask)
    assert len(memo) == 3 and sum(len(e) for e in memo._by_mask.values()) == 3
    assert all(memo._by_mask.values())  # no empty table kept for a mask no longer remembered
