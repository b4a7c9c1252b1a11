"""Copy the web pages' pinned third-party files out of ``node_modules`` into ``static/vendor/``.

``darkroom/web/pages/package.json`` lists them under ``darkroom.vendor`` (file name in
``static/vendor/`` -> path inside ``node_modules``); ``npm ci`` has installed the versions of
``package-lock.json`` first. Run by ``make setup``; the copies are not committed (docs/web.md).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path


def vendor(pages: Path) -> list[Path]:
    """Copy every listed file; the copies. Exits naming a file npm did not install."""
    manifest = json.loads((pages / "package.json").read_text())
    lock = json.loads((pages / "package-lock.json").read_text())["packages"]
    target = pages / "static" / "vendor"
    shutil.rmtree(target, ignore_errors=True)  # nothing left over from an older pin
    target.mkdir(parents=True)
    copied = []
    for name, source in manifest["darkroom"]["vendor"].items():
        package = source.split("/dist/")[0]
        installed = pages / "node_modules" / package / "package.json"
        want = lock[f"node_modules/{package}"]["version"]
        if not installed.is_file() or json.loads(installed.read_text())["version"] != want:
            sys.exit(f"{package} {want} is not installed in {pages / 'node_modules'}: run npm ci there")
        copied.append(Path(shutil.copyfile(pages / "node_modules" / source, target / name)))
    return copied


if __name__ == "__main__":
    for path in vendor(Path(sys.argv[1] if len(sys.argv) > 1 else "darkroom/web/pages")):
        print(f"vendored {path}")
