"""The ``darkroom`` catalog: where Settings put it, the events table created once, and the same
code on PostgreSQL (the suite's real server) and on an S3 warehouse (moto's standalone server)."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from darkroom.analytics import (
    CATALOG_NAME,
    BatchLimits,
    Ingester,
    InvalidCatalogUrl,
    catalog_location,
    events_table,
    open_catalog,
)
from darkroom.analytics.tables import EVENTS_PROPERTIES
from darkroom.config import Settings
from tests.analytics.conftest import Publish, make_event


def test_the_default_catalog_is_sqlite_under_the_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    location = catalog_location(Settings(home=home))
    assert location.uri == f"sqlite:///{home.absolute()}/warehouse/catalog.db"
    assert location.warehouse == f"file://{home.absolute()}/warehouse"
    catalog = open_catalog(location)
    assert catalog.name == CATALOG_NAME
    table = events_table(catalog)
    assert table.metadata.format_version == 2
    assert table.metadata_location.startswith(f"file://{home.absolute()}/warehouse/darkroom")
    assert (home / "warehouse" / "catalog.db").is_file()
    assert (home / "warehouse").stat().st_mode & 0o777 == 0o700


def test_the_environment_overrides_both(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "DARKROOM_HOME": str(tmp_path),
            "DARKROOM_ICEBERG_CATALOG_URI": "postgresql://u:secret@db:5432/analytics",
            "DARKROOM_WAREHOUSE_URL": "s3://lake/warehouse/",
            "DARKROOM_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
        }
    )
    assert "secret" not in repr(settings)
    location = catalog_location(settings)
    assert location.uri == "postgresql+psycopg://u:secret@db:5432/analytics"
    assert location.warehouse == "s3://lake/warehouse"
    assert location.properties["s3.endpoint"] == "http://127.0.0.1:9000"
    assert "secret" not in repr(location)


@pytest.mark.parametrize(
    ("uri", "warehouse", "named"),
    [
        ("mysql://u:pw@h/db", "", "'mysql://u:***@h/db'"),
        ("", "gs://bucket/x", "'gs://bucket/x'"),
        ("", "s3:///prefix", "'s3:///prefix'"),
    ],
)
def test_a_catalog_url_of_another_kind_is_refused_by_name(tmp_path: Path, uri: str, warehouse: str, named: str) -> None:
    settings = Settings(home=tmp_path, iceberg_catalog_uri=uri, warehouse_url=warehouse)
    with pytest.raises(InvalidCatalogUrl, match=re.escape(named)) as caught:
        catalog_location(settings)
    assert "pw" not in str(caught.value)


def test_the_events_table_is_created_once_when_processes_race(settings: Settings) -> None:
    location = catalog_location(settings)
    barrier = threading.Barrier(4)
    uuids: list[str] = []
    errors: list[BaseException] = []

    def create() -> None:
        try:
            catalog = open_catalog(location)  # each its own catalog and engine, as a process has
            barrier.wait()
            uuids.append(str(events_table(catalog).metadata.table_uuid))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(uuids) == 4 and len(set(uuids)) == 1
    table = events_table(open_catalog(location))
    assert {k: table.properties.get(k) for k in EVENTS_PROPERTIES if k != "format-version"} == {
        k: v for k, v in EVENTS_PROPERTIES.items() if k != "format-version"
    }
    assert [f.name for f in table.spec().fields] == ["occurred_day"]
    assert table.schema().identifier_field_names() == {"event_id"}


def test_a_postgresql_catalog(
    postgres_databases: Callable[[], str],
    tmp_path: Path,
    redis_client: redis.Redis,
    publish: Publish,
) -> None:
    settings = Settings(home=tmp_path, iceberg_catalog_uri=postgres_databases())
    catalog = open_catalog(catalog_location(settings))
    events = [make_event() for _ in range(3)]
    publish(*events)
    assert Ingester(redis_client, catalog, BatchLimits(max_batch_s=0.05, block_ms=1)).ingest_once().rows == 3
    again = open_catalog(catalog_location(settings))
    rows = events_table(again).scan(selected_fields=("event_id",)).to_arrow().column(0).to_pylist()
    assert sorted(rows) == sorted(e.event_id for e in events)


def test_an_s3_warehouse(
    aws_env: None,
    moto_url: str,
    s3_client: Any,
    bucket: str,
    tmp_path: Path,
    redis_client: redis.Redis,
    publish: Publish,
) -> None:
    settings = Settings(home=tmp_path, warehouse_url=f"s3://{bucket}/lake", s3_endpoint_url=moto_url)
    catalog = open_catalog(catalog_location(settings))
    events = [make_event() for _ in range(3)]
    publish(*events)
    assert Ingester(redis_client, catalog, BatchLimits(max_batch_s=0.05, block_ms=1)).ingest_once().rows == 3
    table = events_table(catalog)
    assert table.metadata_location.startswith(f"s3://{bucket}/lake/darkroom")
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert any(k.endswith(".parquet") for k in keys)
    rows = table.scan(selected_fields=("event_id",)).to_arrow().column(0).to_pylist()
    assert sorted(rows) == sorted(e.event_id for e in events)
