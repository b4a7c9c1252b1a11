"""The social product's Redis key schema, written down once.

Every key of one account shares the hash tag ``{a:<account id>}`` and every key of one post
``{p:<post id>}``, so the feeds and caches can move to Redis Cluster unchanged. Multi-key scripts
touch keys of one tag only.

=====================================  ============  ==========================================
key                                    type          holds
=====================================  ============  ==========================================
``social:{a:ID}:feed``                 sorted set    the home feed: post ids, all score 0 (lex
                                                     order = ULID = time), capped at 800; the
                                                     member ``~`` marks a built feed; expires
                                                     after the active window (refreshed on read)
``social:{a:ID}:posts``                sorted set    the account's recent ready posts (same
                                                     shape), read by followers at read time
                                                     when the account is a celebrity (pull)
``social:{a:ID}:pulled``               set           the celebrities the account follows, whose
                                                     recent posts its feed pulls (feed/pulled.py),
                                                     and ``~`` when built (1 h from its build)
``social:{a:ID}:pulled-told``          string        set when the celebrity ID's followers'
                                                     ``pulled`` sets were told of it (a post fanned
                                                     out since it crossed the threshold); expires
                                                     (30 days: sets live an hour, so later ones
                                                     were built with it; re-telling is idempotent)
``social:{a:ID}:seen``                 string        set when the account's ``last_seen_at`` was
                                                     last written (expires after an hour: the
                                                     write is done at most once an hour)
``social:{p:ID}:post``                 string        the post cache (postcache.py): ``P`` + the
                                                     hydrated Post's proto bytes, without viewer
                                                     fields or ``error`` (10 min), or ``T`` + a
                                                     token: a tombstone left by an invalidation
                                                     (1 h), so a late write-back cannot land
``social:{c:SHA}:cred``                 string        the credential cache (credential_cache.py):
                                                     ``C`` + who the credential whose secret has
                                                     SHA-256 ``SHA`` belongs to (5 min), or a
                                                     tombstone left by a revocation (1 h)
``social:{a:ID}:login``                string        failed logins of the account (throttle;
                                                     expires a window after the first); for a
                                                     login naming no account, ID is
                                                     ``unknown-`` + a digest of the login
``social:ip:ADDR:login``               string        failed logins from an address (an IPv4
                                                     address or an IPv6 /64), same shape
``{social:events}``                    stream        the events (darkroom.social.events)
``{social:events}:seen:EVENT_ID``      string        the relay's publish-once marker (24 h)
``{social:events}:dead``               stream        dead letters: outbox rows the relay could not
                                                     read, entries a consumer group gave up on
``{social:events}:relay``              string        the relay lease: the fencing token of the
                                                     one relay that may publish (expires)
``{social:events}:relay:fence``        string        the fencing counter (a new token per lease)
=====================================  ============  ==========================================
"""

from __future__ import annotations

__all__ = [
    "EVENTS",
    "EVENTS_DEAD",
    "STREAM_ID_LUA",
    "FEED_BUILT",
    "author_posts",
    "credential",
    "event_seen",
    "feed",
    "login_fails_account",
    "login_fails_ip",
    "post_cache",
    "pulled",
    "pulled_told",
    "RELAY_FENCE",
    "RELAY_LEASE",
    "seen",
]

EVENTS = "{social:events}"
# The relay's and the consumers' keys share the stream's hash tag: each script call stays in one slot.
EVENTS_DEAD = "{social:events}:dead"
RELAY_LEASE = "{social:events}:relay"
RELAY_FENCE = "{social:events}:relay:fence"
FEED_BUILT = "~"  # sorts after every ULID character, so it is always the feed's last member
# Lua for the scripts over the events stream: stream entry ids ("ms-seq") compared as numbers
STREAM_ID_LUA = """
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function less(a, b)
  local am, as = parse(a)
  local bm, bs = parse(b)
  return am < bm or (am == bm and as < bs)
end
"""


def feed(account_id: str) -> str:
    return f"social:{{a:{account_id}}}:feed"


def author_posts(account_id: str) -> str:
    return f"social:{{a:{account_id}}}:posts"


def seen(account_id: str) -> str:
    return f"social:{{a:{account_id}}}:seen"


def post_cache(post_id: str) -> str:
    return f"social:{{p:{post_id}}}:post"


def login_fails_account(account_id: str) -> str:
    return f"social:{{a:{account_id}}}:login"


def login_fails_ip(address: str) -> str:
    return f"social:ip:{address}:login"


def event_seen(event_id: str) -> str:
    return f"{EVENTS}:seen:{event_id}"


def credential(secret_sha256: str) -> str:
    return f"social:{{c:{secret_sha256}}}:cred"


def pulled(account_id: str) -> str:
    return f"social:{{a:{account_id}}}:pulled"


def pulled_told(account_id: str) -> str:
    return f"social:{{a:{account_id}}}:pulled-told"
