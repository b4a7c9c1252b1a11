"""The peers' interpreters: separate venvs and a Node folder under ``bench/.peers`` (git-ignored).

They are installed on first use from the pinned files beside this package and reinstalled when
a pin changes. Darkroom's own rows run on the project's venv, the code under test.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BENCH", "PEERS", "Env", "ensure"]

BENCH = Path(__file__).resolve().parent.parent
PEERS = BENCH / ".peers"


@dataclass(frozen=True)
class Env:
    """Paths of the interpreters; ``ensure()`` makes them exist."""

    project_python: Path
    peers_python: Path  # Celery, RQ, Dramatiq, py-spy (requirements-peers.txt)
    async_python: Path  # arq, SAQ (requirements-peers-async.txt)
    node: Path
    node_modules: Path

    @property
    def py_spy(self) -> Path:
        return self.peers_python.parent / "py-spy"


def _stamp(path: Path, *sources: Path) -> tuple[Path, str]:
    digest = hashlib.sha256(b"".join(s.read_bytes() for s in sources)).hexdigest()
    return path / ".installed", digest


def _fresh(stamp: Path, digest: str) -> bool:
    return stamp.exists() and stamp.read_text().strip() == digest


def _venv(folder: Path, requirements: Path, log: Path) -> Path:
    python = folder / "bin" / "python"
    stamp, digest = _stamp(folder, requirements)
    if _fresh(stamp, digest):
        return python
    print(f"installing {requirements.name} into {folder.relative_to(BENCH.parent)} …", flush=True)
    with log.open("a") as out:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True, stdout=out, stderr=out)
            subprocess.run(
                [str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True, stdout=out, stderr=out
            )
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "-r", str(requirements)], check=True, stdout=out, stderr=out
        )
    stamp.write_text(digest + "\n")
    return python


def _node(folder: Path, log: Path) -> Path:
    node = shutil.which("node")
    npm = shutil.which("npm")
    if node is None or npm is None:
        raise RuntimeError("node and npm are needed for the BullMQ row (apt-get install nodejs npm)")
    sources = (BENCH / "package.json", BENCH / "package-lock.json")
    folder.mkdir(parents=True, exist_ok=True)
    stamp, digest = _stamp(folder, *sources)
    if not _fresh(stamp, digest):
        print("installing bench/package.json into bench/.peers/node …", flush=True)
        for src in sources:
            shutil.copy(src, folder / src.name)
        with log.open("a") as out:
            subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=folder, check=True, stdout=out, stderr=out)
        stamp.write_text(digest + "\n")
    return Path(node)


def ensure() -> Env:
    """Install whatever is missing or stale; fast when everything is in place."""
    PEERS.mkdir(parents=True, exist_ok=True)
    log = PEERS / "install.log"
    return Env(
        project_python=Path(sys.executable),
        peers_python=_venv(PEERS / "venv", BENCH / "requirements-peers.txt", log),
        async_python=_venv(PEERS / "venv-async", BENCH / "requirements-peers-async.txt", log),
        node=_node(PEERS / "node", log),
        node_modules=PEERS / "node" / "node_modules",
    )
