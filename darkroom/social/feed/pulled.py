"""Which celebrities a viewer pulls: the hybrid feed's list of followed accounts with more than
``FeedConfig.celebrity_followers`` followers, kept in Redis so a feed read needs no SQL for it.

- ``keys.pulled(viewer)``: a set of account ids and the marker ``~`` (built). Missing or without
  the marker, a read rebuilds it from SQL (``sources.celebrity_followees``); it lives
  :data:`PULLED_TTL_S` from its build (not refreshed by reads), which bounds any drift.
- Kept in step by the feed consumer (fanout.py): ``account.followed`` of a celebrity adds it,
  ``account.unfollowed`` and ``account.blocked`` take it out; and when a celebrity's post is fanned
  out for the first time since it crossed the threshold (``keys.pulled_told`` of it is not set
  yet), it is added to every active follower's set that exists, as a push adds a post to feeds. An
  author who falls back under the threshold is pushed again and stays in the sets it is in until
  they are rebuilt: reading its recent posts too only repeats what the feed holds (merged once).

The list only decides which authors' recent posts a page merges; what the viewer may see (blocks,
private accounts, deleted posts) is checked by the page's hydration as before.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa
from redis.client import Pipeline
from redis.cluster import RedisCluster
from redis.crc import key_slot

from darkroom.social import keys
from darkroom.social.feed import sources
from darkroom.social.feed.store import RedisClient

__all__ = ["PULLED_TTL_S", "TOLD_TTL_S", "add", "celebrities", "remove", "told", "untold", "write"]

PULLED_TTL_S = 3600
# A set lives PULLED_TTL_S from its build, so an hour after the telling every set was built with
# the celebrity in it: the marker may expire then; kept longer only to spare a follower scan
TOLD_TTL_S = 30 * 86400
_MARKER = keys.FEED_BUILT

# KEYS: viewers' pulled sets (one hash slot).  ARGV[1]: an account id.  Adds it to each set that
# exists (a missing set is rebuilt from SQL at its owner's next read); returns how many held it.
_ADD_EXISTING = """
local held = 0
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    redis.call('SADD', key, ARGV[1])
    held = held + 1
  end
end
return held
"""


def celebrities(conn: sa.Connection, redis: RedisClient, viewer_id: str, *, above: int) -> list[str]:
    """The accounts ``viewer_id`` follows that have more than ``above`` followers: one SMEMBERS, or
    (unbuilt) the SQL statement and the set written with its marker."""
    key = keys.pulled(viewer_id)
    members = {m.decode() if isinstance(m, bytes) else m for m in redis.smembers(key)}
    if _MARKER in members:
        members.discard(_MARKER)
        return sorted(members)
    ids = sources.celebrity_followees(conn, viewer_id, above=above)
    pipe = redis.pipeline(transaction=True)
    write(pipe, viewer_id, ids)
    pipe.execute()
    return sorted(ids)


def write(pipe: Pipeline, viewer_id: str, celebrity_ids: Sequence[str]) -> None:
    """Queue on ``pipe`` the commands that make ``viewer_id``'s set exactly ``celebrity_ids``, built
    (its marker) and living :data:`PULLED_TTL_S` (run it in a transaction: a read between them would
    see a set half made)."""
    key = keys.pulled(viewer_id)
    pipe.delete(key)
    pipe.sadd(key, _MARKER, *celebrity_ids)
    pipe.expire(key, PULLED_TTL_S)


def add(redis: RedisClient, viewer_ids: Sequence[str], account_id: str) -> int:
    """Add ``account_id`` to the pulled sets of ``viewer_ids`` that exist (one call per hash slot
    on a cluster, else one); how many held it."""
    if not viewer_ids:
        return 0
    script = redis.register_script(_ADD_EXISTING)
    groups: dict[int, list[str]] = defaultdict(list)
    cluster = isinstance(redis, RedisCluster)
    for v in viewer_ids:
        key = keys.pulled(v)
        groups[key_slot(key.encode()) if cluster else 0].append(key)
    return sum(int(script(keys=group, args=[account_id])) for group in groups.values())


def remove(redis: RedisClient, viewer_id: str, account_id: str) -> None:
    """Take ``account_id`` out of ``viewer_id``'s pulled set (an unfollow, a block)."""
    redis.srem(keys.pulled(viewer_id), account_id)


def untold(redis: RedisClient, author_id: str, *, celebrity: bool) -> bool:
    """Whether ``author_id``, a celebrity now, has followers' sets still to tell (then call
    :func:`told` once they are: a replay after a crash tells them again). A non-celebrity is
    forgotten, so crossing the threshold again tells them again."""
    if celebrity:
        return not redis.exists(keys.pulled_told(author_id))
    redis.delete(keys.pulled_told(author_id))
    return False


def told(redis: RedisClient, author_id: str) -> None:
    """Every active follower's pulled set that exists now holds ``author_id``."""
    redis.set(keys.pulled_told(author_id), b"1", ex=TOLD_TTL_S)
