"""gzip for JSON of 1 KB and more, never below, never for media (and never for a byte range)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from darkroom.web.app import GZIP_MINIMUM_BYTES

GZIP = {"Accept-Encoding": "gzip"}
# {"text":"…"} is 11 bytes around the text
_AROUND = len(b'{"text":""}')


@pytest.mark.parametrize(
    ("size", "compressed"), [(GZIP_MINIMUM_BYTES - 1, False), (GZIP_MINIMUM_BYTES, True), (200_000, True)]
)
def test_json_is_compressed_from_1_kb(client: TestClient, size: int, compressed: bool) -> None:
    response = client.get(f"/demo/big?n={size - _AROUND}", headers=GZIP)
    assert response.status_code == 200 and len(response.content) == size
    assert (response.headers.get("content-encoding") == "gzip") is compressed
    if compressed:
        assert int(response.headers["content-length"]) < size // 4
        assert "accept-encoding" in response.headers["vary"].lower()


def test_only_for_clients_that_ask(client: TestClient) -> None:
    response = client.get("/demo/big?n=5000", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in response.headers


@pytest.mark.parametrize(
    "content_type",
    [
        "image/jpeg",
        "image/png",
        "image/webp",
        "image/avif",
        "image/heic",
        "image/svg+xml",
        "image/tiff",
        "video/mp4",
        "video/webm",
        "audio/mp4",
    ],
)
def test_media_is_never_compressed(client: TestClient, content_type: str) -> None:
    response = client.get("/demo/media", params={"content_type": content_type, "n": 100_000}, headers=GZIP)
    assert response.status_code == 200 and response.headers["content-type"].startswith(content_type)
    assert "content-encoding" not in response.headers and len(response.content) == 100_000
