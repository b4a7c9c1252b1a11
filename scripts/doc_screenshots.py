"""Make the screenshots of ``docs/web.md``: run the browser test that shoots them
(``tests/web/pages/test_doc_screenshots.py``, on Debian's Chromium as every browser test) into a
scratch folder, then write each as a WebP into ``docs/web/``, as small as it can be while it
looks right: quality 80, lowered until the file is under :data:`MAX_BYTES`. Refuses (exit 1) a
shot that will not fit, or a set over :data:`MAX_TOTAL_BYTES`. ``make doc-screenshots``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "web"
TEST = "tests/web/pages/test_doc_screenshots.py"
MAX_BYTES = 150_000  # each picture
MAX_TOTAL_BYTES = 1_500_000  # all of them: the page stays light to load
QUALITIES = (80, 72, 64, 56, 50)


def shoot(folder: Path) -> list[Path]:
    """Run the test with ``folder`` for its PNGs; the PNGs. Exits when the test fails or skips."""
    env = {**os.environ, "DARKROOM_DOC_SHOTS": str(folder)}
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", TEST]
    if subprocess.run(argv, cwd=ROOT, env=env, check=False).returncode != 0:
        sys.exit(f"{TEST} failed: no screenshots written")
    shots = sorted(folder.glob("*.png"))
    if not shots:
        sys.exit(f"{TEST} wrote no screenshot into {folder} (skipped? see above)")
    return shots


def to_webp(png: Path, target: Path) -> Path:
    """``png`` as ``target/<name>.webp`` at the best quality under :data:`MAX_BYTES`."""
    out = target / f"{png.stem}.webp"
    with Image.open(png) as image:
        rgb = image.convert("RGB")
        for quality in QUALITIES:
            rgb.save(out, format="WEBP", quality=quality, method=6)
            if out.stat().st_size <= MAX_BYTES:
                return out
    sys.exit(f"{out.name} is {out.stat().st_size:,} bytes at quality {QUALITIES[-1]}: over {MAX_BYTES:,}")


def main() -> None:
    TARGET.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="doc-shots-") as scratch:
        written = [to_webp(png, TARGET) for png in shoot(Path(scratch))]
    for stale in set(TARGET.glob("*.webp")) - set(written):
        stale.unlink()  # a shot the test no longer takes
    total = sum(path.stat().st_size for path in written)
    for path in written:
        print(f"{path.relative_to(ROOT)}  {path.stat().st_size / 1000:6.1f} kB")
    print(f"{len(written)} screenshots, {total / 1000:.1f} kB in all")
    if total > MAX_TOTAL_BYTES:
        sys.exit(f"the screenshots weigh {total:,} bytes: over {MAX_TOTAL_BYTES:,}")


if __name__ == "__main__":
    main()
