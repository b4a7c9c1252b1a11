"""feed.count_newer: how many posts a pushed feed holds above a given one, on real Redis."""

from __future__ import annotations

import pytest
import redis

from darkroom.social.errors import InvalidInput
from darkroom.social.feed import FeedStore, count_newer
from darkroom.social.ids import new_id


def test_counts_the_posts_above_since_and_never_the_marker(redis_client: redis.Redis) -> None:
    owner = new_id()
    older, since, *newer = sorted(new_id() for _ in range(5))
    assert count_newer(redis_client, owner, since) == 0  # no feed yet
    store = FeedStore(redis_client)
    store.build(owner, [older, since])  # built: the marker "~" is in the set, above every id
    assert count_newer(redis_client, owner, since) == 0
    assert count_newer(redis_client, owner, None) == 2  # a page that showed nothing: every post
    store.push(newer[0], [owner])
    store.push(newer[1], [owner])
    assert count_newer(redis_client, owner, since) == 2
    assert count_newer(redis_client, owner, newer[1]) == 0
    store.push(newer[2], [owner])
    store.remove(owner, [newer[0]])  # an unfollowed author's post leaves the count
    assert count_newer(redis_client, owner, since) == 2


def test_a_malformed_since_or_viewer_is_named(redis_client: redis.Redis) -> None:
    with pytest.raises(InvalidInput, match=r"since '\(\+inf' is not a Darkroom id"):
        count_newer(redis_client, new_id(), "(+inf")
    with pytest.raises(InvalidInput, match=r"viewer_id 'me' is not a Darkroom id"):
        count_newer(redis_client, "me", None)
