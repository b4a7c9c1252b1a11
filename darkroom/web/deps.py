"""What the HTTP app's routes need, handed to :func:`darkroom.web.app.create_app` by the composition
root: the database, Redis, the blob store, the settings, who a credential belongs to, a server
secret, the edge's limits, how uploads start their processing, and the platform's queue (the
operator pages). Routes reach it with the :data:`Deps` dependency."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Protocol

import anyio
import redis
import sqlalchemy as sa
from fastapi import Depends, Request
from prometheus_client import CollectorRegistry

from darkroom.api.cursors import CursorCodec
from darkroom.api.json_memo import JsonMemo
from darkroom.api.ratelimit import Rate
from darkroom.config import ConfigError, Settings
from darkroom.observability.registries import metrics_for
from darkroom.social.feed import FeedConfig, FeedDesign
from darkroom.social.impressions import ImpressionBuffer
from darkroom.social.intake import UploadLimits
from darkroom.social.metrics import FeedMetrics
from darkroom.social.processing import WorkStarter
from darkroom.social.viewer import Viewer
from darkroom.storage.blobs import BlobStore
from darkroom.web.media_urls import SignedMediaUrls
from darkroom.web.packages import PackageIndex

if TYPE_CHECKING:
    import darkroom.queue as dq
    from darkroom.analytics.reads import StatsReader
    from darkroom.runtime.directory import WorkerDirectory
    from darkroom.runtime.workflow.store import WorkflowStore

__all__ = ["Authenticator", "Deps", "HttpLimits", "ProgressStream", "WebDeps", "WorkStarts", "get_deps"]


class Authenticator(Protocol):
    """Who a presented credential (a bearer token or a session cookie's value) belongs to."""

    def authenticate(self, secret: str) -> Viewer | None:
        """The viewer behind ``secret``; None when it is unknown, expired or revoked."""
        ...


_MASTODON_RATE = Rate(300, 300.0)
_ASSETS_RATE = Rate(6000, 300.0)  # 20 a second: images as a feed scrolls, a video's segments


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """The edge's limits: requests per account (signed in) and per address (always, Mastodon's
    300 per 5 minutes each); static files' and media's requests per address apart (a page shows
    tens of images, a playing video fetches a segment every few seconds); how long idempotency
    keys are kept and held while running, and the largest request body outside the uploads."""

    per_account: Rate = _MASTODON_RATE
    per_ip: Rate = _MASTODON_RATE
    per_ip_assets: Rate = _ASSETS_RATE
    idempotency_ttl_s: float = 86400.0
    idempotency_running_ttl_s: float = 300.0
    # a POST answer larger than this is not kept for replay (the claim is released instead)
    idempotency_max_body_bytes: int = 1 << 20
    # every request body but the uploads' (web/body_limit.py)
    max_body_bytes: int = 64 << 10

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpLimits:
        """The defaults with ``DARKROOM_HTTP_RATE_PER_ACCOUNT``, ``DARKROOM_HTTP_RATE_PER_IP`` and
        ``DARKROOM_HTTP_RATE_ASSETS_PER_IP`` (``LIMIT/PERIOD_S``, e.g. ``300/300``) where set: a
        deployment behind one proxy address, or a load test from one machine, needs a larger quota
        per address."""
        defaults = cls()
        account, ip = settings.http_rate_per_account.strip(), settings.http_rate_per_ip.strip()
        assets = settings.http_rate_assets_per_ip.strip()
        return replace(
            defaults,
            per_account=_rate("DARKROOM_HTTP_RATE_PER_ACCOUNT", account) if account else defaults.per_account,
            per_ip=_rate("DARKROOM_HTTP_RATE_PER_IP", ip) if ip else defaults.per_ip,
            per_ip_assets=_rate("DARKROOM_HTTP_RATE_ASSETS_PER_IP", assets) if assets else defaults.per_ip_assets,
        )


def _rate(var: str, raw: str) -> Rate:
    limit, _, period = raw.strip().partition("/")
    try:
        return Rate(int(limit), float(period))
    except ValueError:
        raise ConfigError(
            f"{var}={raw!r} must be LIMIT/PERIOD_S with LIMIT >= 1 and PERIOD_S > 0 (e.g. 300/300)"
        ) from None


class WorkStarts(WorkStarter, Protocol):
    """One request's :class:`~darkroom.social.processing.WorkStarter` that starts its runs at
    :meth:`flush`, called once the request's transaction has committed
    (:class:`~darkroom.social.processing.AfterCommit` is the real one)."""

    def flush(self) -> list[str]:
        """Start what was asked; the run ids started."""
        ...


@dataclass(frozen=True, slots=True)
class ProgressStream:
    """``GET /v1/uploads/{id}/events``: how often the upload is read (``poll_s``), a comment line
    when nothing changed for ``heartbeat_s`` (so proxies keep the stream and a gone client is
    noticed), and at most ``max_s`` per stream (the browser's EventSource reconnects)."""

    poll_s: float = 0.5
    heartbeat_s: float = 15.0
    max_s: float = 900.0

    def __post_init__(self) -> None:
        if not 0 < self.poll_s <= self.heartbeat_s <= self.max_s:
            raise ValueError(f"need 0 < poll_s <= heartbeat_s <= max_s, got {self}")


def _new_secret() -> bytes:
    return secrets.token_bytes(32)


@dataclass(frozen=True)
class WebDeps:
    """``secret`` signs cursors and derives CSRF tokens: give every process of one deployment the
    same one (``darkroom.api.secret.load_secret``); the default, random per process, suits tests
    and a single process that may forget its cursors on restart."""

    engine: sa.Engine
    redis: redis.Redis
    blobs: BlobStore
    settings: Settings
    authenticator: Authenticator
    secret: bytes = field(default_factory=_new_secret, repr=False)
    limits: HttpLimits = field(default_factory=HttpLimits)
    # a fresh starter per upload request (``lambda: AfterCommit(workflows)``); None: this server
    # takes no uploads (503)
    starts: Callable[[], WorkStarts] | None = None
    media_url_ttl_s: int = 3600  # signed media URLs are valid for 1 to 2 times this
    progress: ProgressStream = field(default_factory=ProgressStream)
    # the platform's queue (the wiring's), read by the operator pages; None: they show no queues
    # and no workers (an app of the API alone, or tests of other pages)
    queue: dq.RedisQueue | None = None
    # this process's metrics (HTTP requests, feed reads): served on a /metrics port of their own
    # (``darkroom http --metrics-port``), never on the app's
    registry: CollectorRegistry = field(default_factory=lambda: CollectorRegistry(auto_describe=True), repr=False)

    def __post_init__(self) -> None:
        if len(self.secret) < 16:
            raise ValueError("the web app's secret needs at least 16 bytes")

    @functools.cached_property
    def cursors(self) -> CursorCodec:
        """Page cursors signed with ``secret``."""
        return CursorCodec(self.secret)

    @functools.cached_property
    def impressions(self) -> ImpressionBuffer:
        """The ``post.viewed`` events of the pages answered, published in the background (closed
        when the app shuts down)."""
        return ImpressionBuffer(self.redis)

    @functools.cached_property
    def post_json(self) -> JsonMemo:
        """Posts' JSON by their bytes and mask, this process's (``api/json_memo.py``: never stale,
        the bytes are the content)."""
        return JsonMemo()

    @functools.cached_property
    def feed_config(self) -> FeedConfig:
        """The home feed's numbers from the settings (celebrity threshold, active window)."""
        return FeedConfig.from_settings(self.settings)

    @functools.cached_property
    def feed_design(self) -> FeedDesign:
        """How ``GET /v1/feed`` reads (``DARKROOM_FEED_DESIGN``; a design other than the fan-out's,
        hybrid, is for ``make bench-social``, which builds the feeds it reads)."""
        return FeedDesign.from_settings(self.settings)

    @functools.cached_property
    def feed_metrics(self) -> FeedMetrics:
        """``darkroom_feed_read_seconds{design}`` on :attr:`registry`."""
        return metrics_for(self.registry, FeedMetrics)

    @functools.cached_property
    def media_urls(self) -> SignedMediaUrls:
        """Rendition URLs, signed with ``secret`` for private media."""
        return SignedMediaUrls(self.secret, self.media_url_ttl_s)

    @functools.cached_property
    def packages(self) -> PackageIndex:
        """The files of stored packages (HLS/DASH, storyboards) by path, for the media route."""
        return PackageIndex(self.blobs)

    @functools.cached_property
    def upload_limits(self) -> UploadLimits:
        """The size limit of each kind (``DARKROOM_MAX_PHOTO_BYTES``, ``DARKROOM_MAX_VIDEO_BYTES``)."""
        return UploadLimits.from_settings(self.settings)

    @functools.cached_property
    def workflow_store(self) -> WorkflowStore:
        """The workflow runs and their steps, in the metadata database (read by the operator pages)."""
        from darkroom.runtime.workflow.store import WorkflowStore

        return WorkflowStore(self.engine)

    @functools.cached_property
    def stats(self) -> StatsReader:
        """The analytics tables' reads (a post's stats, the pipeline's SLA), through the catalog
        the settings name (``DARKROOM_ICEBERG_CATALOG_URI``), opened at the first read: pyiceberg
        is imported only by a process that shows them."""
        from darkroom.analytics.catalog import catalog_location, open_catalog
        from darkroom.analytics.reads import StatsReader

        return StatsReader(open_catalog(catalog_location(self.settings)))

    @functools.cached_property
    def workers(self) -> WorkerDirectory | None:
        """The live workers beside :attr:`queue`'s keys (None without a queue)."""
        from darkroom.runtime.directory import WorkerDirectory

        return None if self.queue is None else WorkerDirectory.of(self.queue)

    @property
    def spool_dir(self) -> Path:
        """Where uploads wait while they arrive (``<home>/uploads``; per host, see docs/social.md)."""
        return self.settings.home / "uploads"


def get_deps(request: Request) -> WebDeps:
    """The app's :class:`WebDeps`."""
    deps: WebDeps = request.app.state.deps
    return deps


def upload_threads(request: Request) -> anyio.CapacityLimiter | None:
    """The threads uploads stream their bodies on, apart from the few that serve every other
    request (made when the app starts; None before that: anyio's default threads)."""
    limiter = getattr(request.app.state, "upload_threads", None)
    return limiter if isinstance(limiter, anyio.CapacityLimiter) else None


async def _deps(request: Request) -> WebDeps:
    return get_deps(request)


# ``async``: FastAPI runs a plain ``def`` dependency on a worker thread, a hand-off per request
Deps = Annotated[WebDeps, Depends(_deps)]
