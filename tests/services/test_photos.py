"""photo.renditions through the real runtime: engine + worker over Redis and SQLite, blobs in/out."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from darkroom.services import PHOTO_RENDITIONS
from darkroom.storage.blobs import open_blobs
from tests.runtime.conftest import Platform

CORPUS = Path(__file__).parents[1] / "media" / "corpus"


@pytest.mark.slow
def test_a_photo_gets_its_renditions_and_a_blurhash(services: Platform, tmp_path: Path) -> None:
    src = tmp_path / "small.jpg"
    Image.new("RGB", (400, 300), (200, 120, 40)).save(src, quality=90)
    blobs = open_blobs(str(tmp_path / "blobs"))
    key = blobs.put_file("uploads/small.jpg", src).key
    services.start_engine()
    services.start_worker(blobs=blobs)
    run = services.workflows.start(PHOTO_RENDITIONS, {"source": {"$blob": key}, "spec": {"formats": ["jpeg", "webp"]}})
    done = services.wait(run.id, timeout_s=60)
    assert done.state == "succeeded", done.error
    out = done.outputs
    names = sorted(f"{r['name']}.{r['format']}" for r in out["renditions"])
    # 1080 is never upscaled: it becomes the source's own width
    expected = [f"{n}.{f}" for n in ("320w", "400w", "thumb150") for f in ("jpeg", "webp")]
    assert names == sorted(expected)
    # file names come from the function that wrote them: jpeg renditions are .jpg files
    assert sorted(r["file_name"] for r in out["renditions"]) == sorted(e.replace(".jpeg", ".jpg") for e in expected)
    for r in out["renditions"]:
        data = blobs.get_bytes(r["file"]["$blob"])
        assert len(data) == r["size_bytes"]
    assert isinstance(out["blurhash"], str) and len(out["blurhash"]) >= 6
    assert out["source"]["width"] == 400
    assert not [p for p in (tmp_path / "scratch").rglob("*") if p.is_file()]


def test_a_decompression_bomb_fails_the_run_with_its_reason(services: Platform, tmp_path: Path) -> None:
    blobs = open_blobs(str(tmp_path / "blobs"))
    key = blobs.put_file("uploads/bomb.png", CORPUS / "bomb.png").key
    services.start_engine()
    services.start_worker(blobs=blobs)
    done = services.wait(services.workflows.start(PHOTO_RENDITIONS, {"source": {"$blob": key}, "spec": {}}).id)
    assert done.state == "failed"
    assert done.steps["render"].attempts == 1
    assert "bomb.png" in (done.error or "") and "photo rejected [decompression_bomb]" in (done.error or "")
    assert not [p for p in (tmp_path / "scratch").rglob("*") if p.is_file()]
