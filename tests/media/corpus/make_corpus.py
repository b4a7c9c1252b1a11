"""Generate the hostile media corpus next to this script (the outputs are committed).

Run from the repository root: ``python -m tests.media.corpus.make_corpus``. Every file is tiny and
each one exercises one way an upload can be broken; ``docs/media.md`` (Inspection) lists them.
Re-running rewrites the files (byte-identical output is not guaranteed across ffmpeg versions).
"""

from __future__ import annotations

import random
import struct
import tempfile
import zlib
from pathlib import Path

from PIL import Image

from darkroom.media.ffmpeg import run

HERE = Path(__file__).resolve().parent

# Small sources keep every file well under 100 KB.
_VIDEO = "testsrc2=size=160x90:rate=25:duration={s}"
_AUDIO = "sine=frequency=440:sample_rate=48000:duration={s}"


def _encode(out: Path, seconds: float, *extra: str, audio: bool = True, video: bool = True) -> Path:
    args: list[str] = []
    if video:
        args += ["-f", "lavfi", "-i", _VIDEO.format(s=seconds)]
    if audio:
        args += ["-f", "lavfi", "-i", _AUDIO.format(s=seconds)]
    if video:
        args += ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "40", "-g", "25", "-pix_fmt", "yuv420p"]
    if audio:
        args += ["-c:a", "aac", "-b:a", "32k", "-ac", "2"]
    run([*args, "-map_metadata", "-1", *extra, str(out)], timeout_s=60, what=f"making {out.name}")
    return out


def _patch_all(data: bytearray, old: bytes, new: bytes, start: int = 0) -> None:
    at = data.find(old, start)
    while at >= 0:
        data[at : at + len(old)] = new
        at = data.find(old, at + len(new))


def _box(data: bytes | bytearray, tag: bytes) -> int:
    """Offset of the first box ``tag`` (its type field); good enough for files we just wrote."""
    at = data.find(tag)
    if at < 4:
        raise SystemExit(f"no {tag!r} box")
    return at


def make_empty() -> None:
    (HERE / "empty.mp4").write_bytes(b"")


def make_truncated(tmp: Path) -> None:
    # moov first (+faststart) so the index still promises 4 s while the payload stops early.
    data = _encode(tmp / "t.mp4", 4, "-movflags", "+faststart").read_bytes()
    mdat = _box(data, b"mdat") - 4
    (mdat_size,) = struct.unpack(">I", data[mdat : mdat + 4])
    (HERE / "truncated.mp4").write_bytes(data[: mdat + int(mdat_size * 0.3)])
    # moov last (ffmpeg's default): cutting the payload also loses the index.
    data = _encode(tmp / "t2.mp4", 2).read_bytes()
    (HERE / "truncated_no_index.mp4").write_bytes(data[: len(data) // 2])


def make_wrong_extensions(tmp: Path) -> None:
    (HERE / "video_named.jpg").write_bytes(_encode(tmp / "v.mp4", 1).read_bytes())
    Image.linear_gradient("L").resize((160, 90)).convert("RGB").save(HERE / "photo_named.mp4", format="JPEG")


def make_audio_only() -> None:
    _encode(HERE / "audio_only.m4a", 1, video=False)


def make_bomb() -> None:
    # A 100000x100000 RGB PNG header (30 GB decoded) with a small valid zlib stream of zeros.
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 2_000_000, 9)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    (HERE / "bomb.png").write_bytes(png)


def make_corrupt_packets(tmp: Path) -> None:
    data = bytearray(_encode(tmp / "c.ts", 2, "-f", "mpegts").read_bytes())
    rng = random.Random(4)  # fixed: the committed file must not change on regeneration
    for frac in (0.35, 0.5, 0.65):
        at = int(len(data) * frac)
        data[at : at + 1500] = bytes(rng.randrange(256) for _ in range(1500))
    (HERE / "corrupt_packets.ts").write_bytes(bytes(data))


def make_unsupported_codec(tmp: Path) -> None:
    # An H.264 track relabelled as MPEG-5 EVC: mov demuxes it, but neither PyAV nor the ffmpeg
    # binary has an EVC decoder (it needs libxevd), so the platform cannot read a frame of it.
    data = bytearray(_encode(tmp / "u.mp4", 1, "-movflags", "+faststart", audio=False).read_bytes())
    moov = _box(data, b"moov")
    _patch_all(data, b"avc1", b"evc1", moov)
    _patch_all(data, b"avcC", b"evcC", moov)
    (HERE / "unsupported_codec.mp4").write_bytes(bytes(data))


def make_zero_fps(tmp: Path) -> None:
    # Every sample lasts 0 ticks and every duration field says 0: all timestamps are equal and
    # the demuxer reports neither an average nor a real frame rate.
    data = bytearray(_encode(tmp / "z.mp4", 1, "-movflags", "+faststart", "-bf", "0", audio=False).read_bytes())
    stts = _box(data, b"stts")
    (entries,) = struct.unpack(">I", data[stts + 8 : stts + 12])
    for i in range(entries):
        delta = stts + 12 + 8 * i + 4
        data[delta : delta + 4] = bytes(4)
    # (box, offset of its 32-bit duration from the type field) for version-0 boxes
    for tag, offset in ((b"mvhd", 20), (b"tkhd", 24), (b"mdhd", 20), (b"elst", 12)):
        at = _box(data, tag) + offset
        data[at : at + 4] = bytes(4)
    (HERE / "zero_fps.mp4").write_bytes(bytes(data))


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="corpus-") as tmp_name:
        tmp = Path(tmp_name)
        make_empty()
        make_truncated(tmp)
        make_wrong_extensions(tmp)
        make_audio_only()
        make_bomb()
        make_corrupt_packets(tmp)
        make_unsupported_codec(tmp)
        make_zero_fps(tmp)
    for path in sorted(HERE.iterdir()):
        if path.suffix != ".py":
            print(f"{path.name:28} {path.stat().st_size:>7} bytes")


if __name__ == "__main__":
    main()
