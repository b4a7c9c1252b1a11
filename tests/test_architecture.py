"""Imports between darkroom's top-level packages run one way, down :data:`LAYERS` (DESIGN.md's
order, docs/architecture.md): a module may import its own package and any package below it, never
one above. Every module is read with ``ast`` (imports inside functions and ``TYPE_CHECKING`` count
too: they are dependencies all the same); nothing is imported.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "darkroom"

# Top to bottom; each name is a package (darkroom/<name>/) or a module (darkroom/<name>.py).
# DESIGN.md's order, with the names it does not list yet placed by what they import and who uses them:
LAYERS: tuple[str, ...] = (
    "cli",
    "web",
    # local (darkroom up, the private redis-server: one machine) is built on the composition root,
    # which any host's worker or engine uses without it; DESIGN.md lists them the other way round
    "local",
    "platform",
    # analytics reads social's event definitions (the stream's key and entry format)
    "analytics",
    "social",
    "observability",
    "services",
    "runtime",
    # reports renders a processed job's outputs (report.json, report.html) from media results; only
    # the demos and the CLI read it, so it sits above media and below everything that runs jobs.
    "reports",
    "media",
    "queue",
    "storage",
    "api",
    # generated protobuf code (built from proto/, imports only google.protobuf): every edge may use it.
    "_proto",
    "config",
    # home.py (the private DARKROOM_HOME) is read by config's users down to api and storage; it
    # imports only errors, so it belongs with config.py and errors.py at the bottom.
    "home",
    "errors",
    # unset.py: the one "leave this as it is" sentinel (UNSET) of every package; it imports nothing.
    "unset",
    # log_context.py: the ids every log line carries (request, workflow, step, task), set by the
    # edges and the worker, read by observability's formatter; it imports nothing.
    "log_context",
)

# Known upward imports, (importer, imported) -> why it is still there and what removes it. It must
# only shrink: an entry that no module needs any more fails the test, so it is deleted with the
# move that fixes it. Empty now: api no longer imports queue (status tables are passed in by each
# service), config no longer imports queue (the limit values live in config.QueueLimits).
ALLOWED: dict[tuple[str, str], str] = {}


@dataclass(frozen=True, slots=True)
class Import:
    """One ``import`` of another top-level package: where it is, and what it names."""

    module: str  # darkroom/queue/client.py
    line: int
    importer: str  # the importer's top-level package: queue
    imported: str  # the imported top-level package: api
    name: str  # the dotted name as written (resolved when relative)

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.name} ({self.importer} -> {self.imported})"


def _top(path: Path) -> str:
    """The top-level package (or module) a file of darkroom/ belongs to."""
    parts = path.relative_to(PACKAGE).parts
    return parts[0].removesuffix(".py") if len(parts) > 1 or parts[0] != "__init__.py" else "__init__"


def _module_name(path: Path) -> list[str]:
    parts = ["darkroom", *path.relative_to(PACKAGE).with_suffix("").parts]
    return parts[:-1] if parts[-1] == "__init__" else parts


def _imported_names(node: ast.Import | ast.ImportFrom, path: Path) -> list[str]:
    """Dotted names of what ``node`` imports, relative imports resolved against ``path``."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = _module_name(path)
        if path.name != "__init__.py":
            package = package[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, *([base] if base else [])])
    # ``from darkroom import queue`` names a package in the imported names
    return [f"{base}.{alias.name}" for alias in node.names] if base == "darkroom" else [base]


def _imports() -> list[Import]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "_proto" in path.relative_to(PACKAGE).parts:
            continue  # generated, and imports nothing of ours
        importer = _top(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for name in _imported_names(node, path):
                parts = name.split(".")
                if parts[0] != "darkroom" or len(parts) < 2 or parts[1] == importer:
                    continue
                module = str(path.relative_to(PACKAGE.parent))
                found.append(Import(module, node.lineno, importer, parts[1], name))
    return found


def _rank(name: str) -> int:
    return LAYERS.index(name)


def test_every_top_level_package_has_a_place() -> None:
    names = {p.name.removesuffix(".py") for p in PACKAGE.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()}
    names |= {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name == "_proto"}
    missing = sorted(names - set(LAYERS) - {"__init__"})
    assert not missing, f"place {missing} in LAYERS (tests/test_architecture.py) and docs/architecture.md"
    assert len(set(LAYERS)) == len(LAYERS)


def test_imports_run_down_the_layers() -> None:
    upward = [
        i
        for i in _imports()
        if i.importer != "__init__"
        and _rank(i.imported) < _rank(i.importer)
        and (i.importer, i.imported) not in ALLOWED
    ]
    assert not upward, "imports up the layers (see docs/architecture.md):\n" + "\n".join(map(str, upward))


def test_the_allow_list_only_shrinks() -> None:
    used = {(i.importer, i.imported) for i in _imports()}
    stale = sorted(set(ALLOWED) - used)
    assert not stale, f"{stale} no longer import upward: delete them from ALLOWED"


def test_the_package_root_imports_nothing() -> None:
    """``import darkroom`` stays free: importing one layer must not load the others."""
    assert [i for i in _imports() if i.importer == "__init__"] == []


@pytest.mark.parametrize(
    ("source", "path", "expected"),
    [
        ("from darkroom.queue.errors import QueueError", "api/auth.py", ["darkroom.queue.errors"]),
        ("import darkroom.queue as dq", "cli/queue.py", ["darkroom.queue"]),
        ("from darkroom import config, queue", "api/x.py", ["darkroom.config", "darkroom.queue"]),
        ("from ..queue import errors", "api/auth.py", ["darkroom.queue"]),
        ("from . import fieldmask", "api/__init__.py", ["darkroom.api"]),
    ],
)
def test_imports_are_read_as_written(source: str, path: str, expected: list[str]) -> None:
    node = ast.parse(source).body[0]
    assert isinstance(node, ast.Import | ast.ImportFrom)
    assert _imported_names(node, PACKAGE / path) == expected
