"""The analytics catalog: an Iceberg SQL catalog named ``darkroom`` (:data:`CATALOG_NAME`).

Where it lives comes from :class:`~darkroom.config.Settings`:

- ``iceberg_catalog_uri`` (``DARKROOM_ICEBERG_CATALOG_URI``): ``sqlite:///path`` or
  ``postgresql://…`` (driven by psycopg 3, the metadata database's driver); empty: SQLite at
  ``home/warehouse/catalog.db``.
- ``warehouse_url`` (``DARKROOM_WAREHOUSE_URL``): a directory or ``file://`` URL, or
  ``s3://bucket/prefix`` (reached through ``s3_endpoint_url``, credentials from the usual
  ``AWS_*`` variables); empty: the directory ``home/warehouse``.

The same catalog is readable by Spark, Trino and DuckDB (docs/analytics.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from pyiceberg.catalog.sql import SqlCatalog

from darkroom.analytics.errors import InvalidCatalogUrl
from darkroom.config import Settings
from darkroom.home import private_home
from darkroom.storage.db import redact_url

__all__ = ["CATALOG_NAME", "CatalogLocation", "catalog_location", "open_catalog"]

CATALOG_NAME = "darkroom"


@dataclass(frozen=True, slots=True)
class CatalogLocation:
    """A catalog database (a SQLAlchemy URL) and a warehouse (``file://`` or ``s3://``), with the
    FileIO properties the warehouse needs."""

    uri: str = field(repr=False)  # may carry a password
    warehouse: str
    properties: dict[str, str] = field(default_factory=dict, repr=False)


def catalog_location(settings: Settings) -> CatalogLocation:
    """Where ``settings`` put the catalog and the warehouse (the defaults under ``settings.home``)."""
    default_dir = settings.home / "warehouse"
    uri = settings.iceberg_catalog_uri or f"sqlite:///{(default_dir / 'catalog.db').absolute()}"
    warehouse = settings.warehouse_url or str(default_dir)
    properties: dict[str, str] = {}
    if warehouse.startswith("s3://"):
        if not urlsplit(warehouse).netloc:
            raise InvalidCatalogUrl(f"warehouse URL {warehouse!r} names no bucket (s3://bucket/prefix)")
        if settings.s3_endpoint_url:
            properties["s3.endpoint"] = settings.s3_endpoint_url
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if region:
            properties["s3.region"] = region
    else:
        warehouse = _local_warehouse(warehouse)
    return CatalogLocation(_sqlalchemy_uri(uri), warehouse.rstrip("/"), properties)


def open_catalog(location: CatalogLocation) -> SqlCatalog:
    """The ``darkroom`` catalog at ``location``: its tables are created when missing (safe when two
    processes race: the loser sees the winner's tables); a local warehouse and a SQLite file's
    directory are created private, as the home is."""
    url = urlsplit(location.uri)
    if url.scheme == "sqlite" and url.path not in ("", "/", "/:memory:"):
        Path(url.path).parent.mkdir(parents=True, exist_ok=True)
    if location.warehouse.startswith("file://"):
        private_home(Path(urlsplit(location.warehouse).path))
    try:
        return SqlCatalog(CATALOG_NAME, uri=location.uri, warehouse=location.warehouse, **location.properties)
    except Exception as exc:  # a racing creator made the tables between the check and CREATE
        if "already exists" not in str(exc):
            raise
        return SqlCatalog(CATALOG_NAME, uri=location.uri, warehouse=location.warehouse, **location.properties)


def _sqlalchemy_uri(uri: str) -> str:
    scheme = urlsplit(uri).scheme
    if scheme == "sqlite":
        return uri
    if scheme in ("postgresql", "postgres"):
        return "postgresql+psycopg" + uri[len(scheme) :]  # the project's driver (psycopg 3), not psycopg2
    if scheme == "postgresql+psycopg":
        return uri
    raise InvalidCatalogUrl(
        f"Iceberg catalog URI {redact_url(uri)!r} is not sqlite:///path or postgresql://… "
        "(DARKROOM_ICEBERG_CATALOG_URI)"
    )


def _local_warehouse(warehouse: str) -> str:
    url = urlsplit(warehouse)
    if url.scheme == "file":
        return f"file://{Path(url.path).absolute()}"
    if url.scheme:
        raise InvalidCatalogUrl(
            f"warehouse URL {warehouse!r} is not a directory, file:// or s3:// URL (DARKROOM_WAREHOUSE_URL)"
        )
    return f"file://{Path(warehouse).absolute()}"
