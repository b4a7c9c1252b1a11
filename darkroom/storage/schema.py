"""The metadata database's tables (SQLAlchemy Core), shared by SQLite and PostgreSQL.

Alembic migrations under ``storage/migrations`` create exactly these tables; a test compares the
two. Times are epoch seconds (floats); small structured values are JSON (JSONB on PostgreSQL).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

__all__ = [
    "accounts", "assets", "blocks", "comments", "credentials", "follows", "likes", "media_keys", "mentions",
    "metadata", "operations", "outbox", "post_media", "post_tags", "posts", "steps", "tasks", "uploads", "workflows",
]  # fmt: skip

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Json = sa.JSON().with_variant(JSONB(), "postgresql")
Id = sa.String(64)
Time = sa.Float(precision=53)

# One row per workflow run. ``version`` counts the engine's writes (a cheap change marker for pollers).
workflows = sa.Table(
    "workflows",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # pending running succeeded failed canceled
    sa.Column("inputs", Json, nullable=False),
    sa.Column("outputs", Json),
    sa.Column("error", sa.Text),
    sa.Column("priority", sa.String(32), nullable=False),
    sa.Column("deadline", Time, nullable=False),
    sa.Column("progress", sa.Float, nullable=False, default=0.0),
    sa.Column("version", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    sa.Column("started_at", Time),
    sa.Column("ended_at", Time),
    sa.Index(None, "state", "created_at"),
    sa.Index(None, "name", "created_at"),
)

# One row per step of a workflow (task, map or reduce).
steps = sa.Table(
    "steps",
    metadata,
    sa.Column("workflow_id", Id, sa.ForeignKey("workflows.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),  # task map reduce
    sa.Column("state", sa.String(16), nullable=False),  # waiting running succeeded failed canceled skipped
    sa.Column("items_total", sa.Integer),  # map: number of items once known
    sa.Column("items_done", sa.Integer, nullable=False, default=0),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("progress", sa.Float, nullable=False, default=0.0),
    sa.Column("message", sa.String(200)),
    sa.Column("output", Json),
    sa.Column("error", sa.Text),
    sa.Column("worker", sa.String(200)),
    sa.Column("started_at", Time),
    sa.Column("ended_at", Time),
)

# One row per function invocation: a task or reduce step has one (idx 0), a map one per item.
tasks = sa.Table(
    "tasks",
    metadata,
    sa.Column("workflow_id", Id, primary_key=True),
    sa.Column("step", sa.String(100), primary_key=True),
    sa.Column("idx", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("message_id", sa.String(200), nullable=False),
    sa.Column("queue", sa.String(100), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # pending running succeeded failed canceled
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("progress", sa.Float, nullable=False, default=0.0),
    sa.Column("message", sa.String(200)),
    sa.Column("output", Json),
    sa.Column("error", sa.Text),
    sa.Column("worker", sa.String(200)),
    sa.Column("started_at", Time),
    sa.Column("ended_at", Time),
    sa.ForeignKeyConstraint(["workflow_id", "step"], ["steps.workflow_id", "steps.name"], ondelete="CASCADE"),
)

# Long-running operations handed to API clients (google.longrunning shape).
operations = sa.Table(
    "operations",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("kind", sa.String(64), nullable=False),  # e.g. "workflow"
    sa.Column("target", Id),  # e.g. the workflow id
    sa.Column("state", sa.String(16), nullable=False),  # running succeeded failed canceled
    sa.Column("done", sa.Boolean, nullable=False, default=False),
    sa.Column("progress", sa.Float, nullable=False, default=0.0),
    sa.Column("message", sa.String(200)),
    sa.Column("result", Json),
    sa.Column("error_code", sa.String(64)),
    sa.Column("error_message", sa.Text),
    sa.Column("labels", Json, nullable=False),  # small string map, filterable
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    sa.Index(None, "state", "created_at"),
    sa.Index(None, "target"),
)

# Uploaded media: the source blob and what the pipeline learned about it.
assets = sa.Table(
    "assets",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),  # video photo
    sa.Column("owner", Id),
    sa.Column("state", sa.String(16), nullable=False),  # uploaded processing ready rejected failed
    sa.Column("source_key", sa.String(1024), nullable=False),
    sa.Column("content_type", sa.String(100)),
    sa.Column("size_bytes", sa.BigInteger),
    sa.Column("sha256", sa.String(64)),
    sa.Column("info", Json, nullable=False),
    sa.Column("workflow_id", Id),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    sa.Index(None, "owner", "created_at"),
    sa.Index(None, "sha256"),  # purging keeps content-addressed renditions another upload shares (0002)
)


# -- the social product (darkroom.social) ----------------------------------------------------------
# Ids are ULIDs (26 characters, time-ordered), so ``ORDER BY id`` is newest-last and cursors sort by
# them. Counters (``*_count``) are written only by the counter consumer, recomputed from the rows.
Ulid = sa.String(26)

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", Ulid, primary_key=True),
    sa.Column("handle", sa.String(30), nullable=False, unique=True),  # NFKC, lower case: [a-z0-9_]{1,30}
    sa.Column("email", sa.String(254), nullable=False, unique=True),  # lower case
    sa.Column("display_name", sa.String(64), nullable=False, default=""),
    sa.Column("bio", sa.String(500), nullable=False, default=""),
    sa.Column("avatar_upload_id", Ulid),  # an upload whose photo renditions are the avatar
    sa.Column("private", sa.Boolean, nullable=False, default=False),
    sa.Column("role", sa.String(16), nullable=False, default="user"),  # user admin
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    sa.Column("password_hash", sa.String(200), nullable=False),  # argon2id, PHC string
    sa.Column("follower_count", sa.Integer, nullable=False, default=0),
    sa.Column("following_count", sa.Integer, nullable=False, default=0),
    sa.Column("post_count", sa.Integer, nullable=False, default=0),
    sa.Column("version", sa.Integer, nullable=False, default=1),  # ETag; bumped by every write
    sa.Column("last_seen_at", Time),  # feeds are kept for accounts seen recently
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    sa.Column("deleted_at", Time),
    sa.Index(None, "avatar_upload_id"),  # the media route: is a rendition some live account's avatar
)

# Browser sessions and API tokens: only the SHA-256 of the secret is stored.
credentials = sa.Table(
    "credentials",
    metadata,
    sa.Column("id", Ulid, primary_key=True),
    sa.Column("account_id", Ulid, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # session token
    sa.Column("secret_sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("scopes", sa.String(100), nullable=False),  # space-separated: read write
    sa.Column("name", sa.String(100), nullable=False, default=""),
    sa.Column("csrf_token", sa.String(64)),  # sessions: the form posts' CSRF token
    sa.Column("created_at", Time, nullable=False),
    sa.Column("last_used_at", Time),
    sa.Column("expires_at", Time),
    sa.Column("revoked_at", Time),
    sa.Index(None, "account_id", "kind"),
)

# A follow is ``active`` or, towards a private account, ``requested`` until accepted.
follows = sa.Table(
    "follows",
    metadata,
    sa.Column("follower_id", Ulid, sa.ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("followee_id", Ulid, sa.ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),  # active requested
    sa.Column("created_at", Time, nullable=False),
    # follow lists page newest follow first (created_at, then the other id): keyset scans of these
    sa.Index(None, "followee_id", "state", "created_at", "follower_id"),
    sa.Index(None, "follower_id", "state", "created_at", "followee_id"),
)

blocks = sa.Table(
    "blocks",
    metadata,
    sa.Column("blocker_id", Ulid, sa.ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("blocked_id", Ulid, sa.ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("created_at", Time, nullable=False),
    sa.Index(None, "blocked_id"),
    sa.Index(None, "blocker_id", "created_at", "blocked_id"),  # one's block list, newest first (0003)
)

# One uploaded file: streamed to the blob store (or received in tus chunks), then an asset whose
# workflow makes its renditions.
uploads = sa.Table(
    "uploads",
    metadata,
    sa.Column("id", Ulid, primary_key=True),
    sa.Column("account_id", Ulid, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # receiving processing ready failed terminated purged
    sa.Column("kind", sa.String(16)),  # photo video (decided by content once received)
    sa.Column("filename", sa.String(255), nullable=False, default=""),
    sa.Column("length_bytes", sa.BigInteger),  # declared (tus Upload-Length) or received
    sa.Column("received_bytes", sa.BigInteger, nullable=False, default=0),
    sa.Column("asset_id", Id, sa.ForeignKey("assets.id", ondelete="SET NULL")),
    sa.Column("workflow_id", Id),
    sa.Column("error", sa.Text),
    sa.Column("info", Json, nullable=False),  # renditions and what the pipeline learned
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    sa.Index(None, "account_id", "created_at"),
    sa.Index(None, "workflow_id"),
    sa.Index(None, "state", "updated_at"),  # the processing loop reads only uploads in flight
)

posts = sa.Table(
    "posts",
    metadata,
    sa.Column("id", Ulid, primary_key=True),
    sa.Column("author_id", Ulid, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("caption", sa.String(2200), nullable=False, default=""),
    sa.Column("state", sa.String(16), nullable=False),  # processing ready failed
    sa.Column("error", sa.Text),  # why it failed, shown to its author only
    sa.Column("like_count", sa.Integer, nullable=False, default=0),
    sa.Column("comment_count", sa.Integer, nullable=False, default=0),
    sa.Column("version", sa.Integer, nullable=False, default=1),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    sa.Column("ready_at", Time),
    sa.Column("deleted_at", Time),  # soft delete; media purged afterwards
    sa.Index(None, "author_id", "state", "id"),
)

post_media = sa.Table(
    "post_media",
    metadata,
    sa.Column("post_id", Ulid, sa.ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("upload_id", Ulid, sa.ForeignKey("uploads.id"), nullable=False, unique=True),
)

# Which upload a served blob key belongs to (its renditions, written when it turns ready), so the
# media route decides public or signed-only in one indexed query (darkroom.social.media_access).
# Content-addressed keys are shared by uploads of the same bytes: one row per (key, upload).
media_keys = sa.Table(
    "media_keys",
    metadata,
    sa.Column("key", sa.String(1024), primary_key=True),
    sa.Column("upload_id", Ulid, sa.ForeignKey("uploads.id", ondelete="CASCADE"), primary_key=True),
    sa.Index(None, "upload_id"),
)

post_tags = sa.Table(
    "post_tags",
    metadata,
    sa.Column("tag", sa.String(100), primary_key=True),  # lower case, without '#'
    sa.Column("post_id", Ulid, sa.ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    sa.Index(None, "post_id"),
)

mentions = sa.Table(
    "mentions",
    metadata,
    sa.Column("post_id", Ulid, sa.ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("account_id", Ulid, sa.ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    sa.Index(None, "account_id"),
)

likes = sa.Table(
    "likes",
    metadata,
    sa.Column("post_id", Ulid, sa.ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("account_id", Ulid, sa.ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("created_at", Time, nullable=False),
    sa.Index(None, "account_id", "post_id"),
    sa.Index(None, "post_id", "created_at", "account_id"),  # a post's likes, newest first
)

comments = sa.Table(
    "comments",
    metadata,
    sa.Column("id", Ulid, primary_key=True),
    sa.Column("post_id", Ulid, sa.ForeignKey("posts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("author_id", Ulid, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("text", sa.String(1000), nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("deleted_at", Time),
    sa.Index(None, "post_id", "id"),
)

# The transactional outbox: every action writes its event here in the action's own transaction; the
# relay publishes unpublished rows to the events stream (darkroom.social.relay).
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("event_id", Ulid, nullable=False, unique=True),
    sa.Column("type", sa.String(40), nullable=False),
    sa.Column("payload", Json, nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("published_at", Time),
    sa.Index(None, "published_at", "seq"),
)
