"""Photos: orientation, metadata stripping, HEIC, renditions, blurhash, hostile inputs."""

from __future__ import annotations

import math
import resource
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageFile

from darkroom.media import blurhash
from darkroom.media.errors import InvalidMedia
from darkroom.media.image import DEFAULT, PhotoSpec, open_photo, render_photo

RED, BLUE = (255, 0, 0), (0, 0, 255)
GPS = {1: "N", 2: (52.0, 22.0, 12.5), 3: "E", 4: (4.0, 53.0, 0.0)}


def _photo(w: int, h: int, corner: tuple[int, int, int] = RED) -> Image.Image:
    """A grey gradient with a solid ``corner`` block at the top left (a quarter of each side)."""
    y, x = np.mgrid[0:h, 0:w]
    arr = np.stack([x * 200 // w + 20, y * 200 // h + 20, np.full_like(x, 90)], -1).astype(np.uint8)
    arr[: h // 4, : w // 4] = corner
    return Image.fromarray(arr)


def _exif(orientation: int = 1, gps: bool = False) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "ACME camera"
    if gps:
        exif[0x8825] = GPS
    return exif


def _near(pixel: object, colour: tuple[int, int, int], tol: int = 40) -> bool:
    assert isinstance(pixel, tuple)
    return all(abs(int(a) - b) <= tol for a, b in zip(pixel[:3], colour, strict=True))


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    src = tmp_path / "rotated.jpg"
    _photo(400, 300).save(src, quality=95, exif=_exif(orientation=6))  # 6: display rotated 90° clockwise
    result = render_photo(src, tmp_path / "out", PhotoSpec(widths=(320,), formats=("jpeg",)))
    assert (result.source_width, result.source_height, result.orientation) == (300, 400, 6)
    assert result.had_orientation
    r = next(r for r in result.renditions if r.name == "300w")  # 320 is wider than the source
    with Image.open(r.path) as im:
        assert im.size == (300, 400) == (r.width, r.height)
        assert _near(im.getpixel((290, 10)), RED)  # stored top-left lands top-right
        assert not _near(im.getpixel((10, 10)), RED)


@pytest.mark.parametrize("fmt", ["jpeg", "webp", "avif"])
def test_metadata_is_stripped(tmp_path: Path, fmt: str) -> None:
    src = tmp_path / "gps.jpg"
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><exif:GPSLatitude>52,22N</exif:GPSLatitude></x:xmpmeta>'
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    _photo(320, 240).save(src, exif=_exif(gps=True), xmp=xmp, icc_profile=icc)
    with Image.open(src) as im:  # the source really carries all three
        assert im.getexif().get_ifd(0x8825) and "xmp" in im.info and "icc_profile" in im.info
    result = render_photo(src, tmp_path / "out", PhotoSpec(formats=(fmt,)))  # type: ignore[arg-type]
    assert result.had_gps
    assert len(result.renditions) == 2  # 320w and thumb150
    for r in result.renditions:
        raw = r.path.read_bytes()
        assert b"Exif\x00\x00" not in raw and b"xmpmeta" not in raw and b"ACME" not in raw
        with Image.open(r.path) as im:
            assert not im.getexif(), r.path
            assert "xmp" not in im.info and "icc_profile" not in im.info and "exif" not in im.info


def test_heic_input(tmp_path: Path) -> None:
    import pillow_heif

    pillow_heif.register_heif_opener()
    src = tmp_path / "phone.heic"
    _photo(480, 360).save(src, format="HEIF", quality=90, exif=_exif(orientation=6, gps=True).tobytes())
    result = render_photo(src, tmp_path / "out", PhotoSpec(widths=(320,), formats=("jpeg", "webp")))
    assert (result.source_format, result.source_width, result.source_height) == ("HEIF", 360, 480)
    assert result.had_gps and result.orientation == 6
    r = next(r for r in result.renditions if r.name == "320w" and r.format == "jpeg")
    with Image.open(r.path) as im:
        assert im.size == (320, 427)
        assert _near(im.getpixel((310, 10)), RED)  # rotated exactly once
        assert not im.getexif()


def test_renditions_sizes_and_formats(tmp_path: Path) -> None:
    src = tmp_path / "landscape.png"
    _photo(1600, 1200).save(src)
    result = render_photo(src, tmp_path / "out")
    names = sorted(r.path.name for r in result.renditions)
    expected = [f"{n}.{e}" for n in ("1080w", "320w", "640w", "thumb150") for e in ("avif", "jpg", "webp")]
    assert names == expected
    want = {"1080w": (1080, 810), "640w": (640, 480), "320w": (320, 240), "thumb150": (150, 150)}
    pil_name = {"jpeg": "JPEG", "webp": "WEBP", "avif": "AVIF"}
    for r in result.renditions:
        with Image.open(r.path) as im:
            im.load()
            assert im.format == pil_name[r.format]
            assert im.size == (r.width, r.height) == want[r.name]
            assert r.size_bytes == r.path.stat().st_size > 0
            if r.format == "jpeg":
                assert im.info.get("progressive") or im.info.get("progression")
    assert (result.source_width, result.source_height, result.source_format) == (1600, 1200, "PNG")
    assert not result.had_gps and not result.had_orientation
    assert result.to_dict()["renditions"][0]["path"].endswith((".jpg", ".webp", ".avif"))


def test_small_source_is_never_upscaled(tmp_path: Path) -> None:
    src = tmp_path / "small.jpg"
    _photo(500, 400).save(src)
    result = render_photo(src, tmp_path / "out", PhotoSpec(formats=("jpeg",)))
    sizes = {r.name: (r.width, r.height) for r in result.renditions}
    assert sizes == {"500w": (500, 400), "320w": (320, 256), "thumb150": (150, 150)}

    tiny = tmp_path / "tiny.png"
    _photo(100, 80).save(tiny)
    result = render_photo(tiny, tmp_path / "tiny", PhotoSpec(formats=("webp",)))
    assert {r.name: (r.width, r.height) for r in result.renditions} == {"100w": (100, 80), "thumb150": (80, 80)}


def test_entropy_thumbnail_crops_towards_detail(tmp_path: Path) -> None:
    arr = np.full((200, 600, 3), 128, np.uint8)
    arr[:, 20:200] = np.random.default_rng(0).integers(0, 256, (200, 180, 3), dtype=np.uint8)
    src = tmp_path / "wide.png"
    Image.fromarray(arr).save(src)
    out = tmp_path / "out"
    result = render_photo(src, out, PhotoSpec(widths=(320,), formats=("webp",)))
    with Image.open(out / "thumb150.webp") as im:
        assert im.size == (150, 150)
        assert np.asarray(im).std() > 25  # mostly the noisy left part, not the flat centre
    centred = render_photo(src, tmp_path / "c", PhotoSpec(widths=(320,), formats=("webp",), thumb_crop="center"))
    with Image.open(tmp_path / "c" / "thumb150.webp") as im:
        assert np.asarray(im).std() < 10
    assert result.blurhash == centred.blurhash


def test_alpha_is_composited_on_white_for_jpeg_and_kept_for_webp(tmp_path: Path) -> None:
    arr = np.zeros((200, 300, 4), np.uint8)
    arr[:, :150] = (255, 0, 0, 0)  # transparent red: must not show through
    arr[:, 150:] = (0, 0, 255, 255)
    src = tmp_path / "alpha.png"
    Image.fromarray(arr).save(src)
    render_photo(src, tmp_path / "out", PhotoSpec(widths=(320,), formats=("jpeg", "webp")))
    with Image.open(tmp_path / "out" / "300w.jpg") as im:
        assert im.mode == "RGB"
        assert _near(im.getpixel((20, 100)), (255, 255, 255), 8)
        assert _near(im.getpixel((280, 100)), BLUE, 20)
    with Image.open(tmp_path / "out" / "300w.webp") as im:
        assert im.mode == "RGBA" and im.getchannel("A").getpixel((20, 100)) == 0


def test_cmyk_and_16_bit_grey_become_rgb(tmp_path: Path) -> None:
    cmyk = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (64, 48), (0, 255, 255, 0)).save(cmyk)  # pure red ink, no profile
    photo = open_photo(cmyk)
    assert photo.image.mode == "RGB" and _near(photo.image.getpixel((5, 5)), RED)
    grey = tmp_path / "grey16.png"
    Image.fromarray(np.full((48, 64), 32768, np.uint16)).save(grey)
    photo = open_photo(grey)
    assert photo.image.mode == "RGB" and _near(photo.image.getpixel((5, 5)), (128, 128, 128), 2)


def test_repeated_runs_give_the_same_files(tmp_path: Path) -> None:
    src = tmp_path / "p.jpg"
    _photo(700, 500).save(src, exif=_exif(gps=True))
    out = tmp_path / "out"
    first = render_photo(src, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    second = render_photo(src, out)
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    assert first == second and before == after  # same names, bytes, no leftover temp files
    assert len(after) == len(first.renditions) == 4 * len(DEFAULT.formats)  # 700w 640w 320w thumb


# --- blurhash ---------------------------------------------------------------------------------

# Hashes from the reference C encoder (woltapp/blurhash, C/encode.c) on these exact pixels.
_VECTORS = [
    ("black", 4, 4, lambda x, y: (0, 0, 0), 4, 3, "L00000fQfQfQfQfQfQfQfQfQfQfQ"),
    ("white", 4, 4, lambda x, y: (255, 255, 255), 4, 3, "L~TSUA~qfQ~q~q%MfQ%MfQfQfQfQ"),
    ("lime", 8, 8, lambda x, y: (200, 255, 60), 4, 3, "LfN39P?:fQ?:?:oxfQoxfQfQfQfQ"),
    ("gradient", 32, 32, lambda x, y: (x * 8, y * 8, 128), 4, 3, "LxH2cX2swxX8l}WDjte;gJfjfQfj"),
    ("checker", 16, 16, lambda x, y: RED if ((x >> 2) + (y >> 2)) % 2 else BLUE, 4, 3, "LLLjfL,efQ,e,eFPfQ2NfQfQfQfQ"),
    ("1x1", 5, 7, lambda x, y: (x * 50, y * 30, 200), 1, 1, "00Ee,D"),
]


@pytest.mark.parametrize(("name", "w", "h", "f", "cx", "cy", "expected"), _VECTORS, ids=[v[0] for v in _VECTORS])
def test_blurhash_matches_reference(name: str, w: int, h: int, f: object, cx: int, cy: int, expected: str) -> None:
    pixels = np.array([[f(x, y) for x in range(w)] for y in range(h)], dtype=np.uint8)  # type: ignore[operator]
    assert blurhash.encode(pixels, cx, cy) == expected


def _reference_blurhash(pixels: np.ndarray, cx: int, cy: int) -> str:
    """The reference algorithm transcribed literally: a loop per component and pixel."""
    h, w = pixels.shape[:2]

    def lin(v: int) -> float:
        s = v / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    def srgb(v: float) -> int:
        v = max(0.0, min(1.0, v))
        return int((v * 12.92 if v <= 0.0031308 else 1.055 * v ** (1 / 2.4) - 0.055) * 255 + 0.5)

    factors = []
    for j in range(cy):
        for i in range(cx):
            norm = 1 if i == j == 0 else 2
            acc = [0.0, 0.0, 0.0]
            for y in range(h):
                for x in range(w):
                    basis = math.cos(math.pi * i * x / w) * math.cos(math.pi * j * y / h)
                    for c in range(3):
                        acc[c] += basis * lin(int(pixels[y, x, c]))
            factors.append([a * norm / (w * h) for a in acc])
    dc, ac = factors[0], factors[1:]
    out = blurhash.encode_base83((cx - 1) + (cy - 1) * 9, 1)
    if ac:
        qmax = max(0, min(82, math.floor(max(abs(v) for f in ac for v in f) * 166 - 0.5)))
        maximum = (qmax + 1) / 166
    else:
        qmax, maximum = 0, 1.0
    out += blurhash.encode_base83(qmax, 1)
    out += blurhash.encode_base83((srgb(dc[0]) << 16) + (srgb(dc[1]) << 8) + srgb(dc[2]), 4)
    for f in ac:
        q = [max(0, min(18, math.floor(math.copysign(abs(v / maximum) ** 0.5, v) * 9 + 9.5))) for v in f]
        out += blurhash.encode_base83(q[0] * 361 + q[1] * 19 + q[2], 2)
    return out


def test_blurhash_equals_the_per_pixel_algorithm() -> None:
    rng = np.random.default_rng(7)
    for cx, cy, h, w in [(4, 3, 12, 16), (3, 4, 16, 9), (5, 5, 10, 10), (1, 2, 7, 3)]:
        pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        pixels[: h // 2] //= 3  # structure, so the AC terms are not all near zero
        assert blurhash.encode(pixels, cx, cy) == _reference_blurhash(pixels, cx, cy)


def test_blurhash_of_a_photo_is_stable(tmp_path: Path) -> None:
    src = tmp_path / "p.png"
    _photo(640, 480).save(src)
    first = render_photo(src, tmp_path / "a", PhotoSpec(widths=(320,), formats=("jpeg",))).blurhash
    assert len(first) == 28 and first[0] == "L"  # 4x3 components
    portrait = tmp_path / "q.png"
    _photo(480, 640).save(portrait)
    assert render_photo(portrait, tmp_path / "b", PhotoSpec(widths=(320,), formats=("jpeg",))).blurhash[0] == "T"  # 3x4


# --- hostile input ----------------------------------------------------------------------------


def _png_header_only(w: int, h: int) -> bytes:
    """A valid PNG declaring ``w``x``h`` with a few bytes of pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [12_000, 100_000])  # over our limit / over Pillow's own hard limit too
def test_decompression_bomb_is_refused_before_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, side: int
) -> None:
    src = tmp_path / "bomb.png"
    src.write_bytes(_png_header_only(side, side))
    assert src.stat().st_size < 200

    def no_decoding(self: object) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    with pytest.raises(InvalidMedia) as caught:
        render_photo(src, tmp_path / "out")
    assert time.monotonic() - started < 1.0
    assert caught.value.code == "decompression_bomb"
    assert f"{side * side / 1e6:.0f} MP" in str(caught.value)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 50_000  # KiB: nothing allocated
    assert not (tmp_path / "out").exists()


def test_pixel_limit_is_configurable(tmp_path: Path) -> None:
    src = tmp_path / "p.png"
    _photo(100, 100).save(src)
    with pytest.raises(InvalidMedia) as caught:
        open_photo(src, max_pixels=5_000)
    assert caught.value.code == "decompression_bomb" and "100x100" in str(caught.value)
    assert open_photo(src, max_pixels=10_000).image.size == (100, 100)


def test_broken_files_raise_typed_errors(tmp_path: Path) -> None:
    good = tmp_path / "good.jpg"
    _photo(300, 200).save(good, quality=95)
    cases = {
        "empty": b"",
        "truncated": good.read_bytes()[: good.stat().st_size // 2],
        "unreadable": b"this is not an image at all, just text" * 10,
    }
    for code, data in cases.items():
        path = tmp_path / f"{code}.jpg"
        path.write_bytes(data)
        with pytest.raises(InvalidMedia) as caught:
            render_photo(path, tmp_path / "out")
        assert caught.value.code == code, (code, caught.value)
        assert path.name in str(caught.value)
    assert not (tmp_path / "out").exists()
