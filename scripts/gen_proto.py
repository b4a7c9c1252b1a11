"""Build Python modules (and mypy stubs) from proto/ into darkroom/_proto/.

Protos live under ``proto/darkroom/<area>/v1``; their generated modules land in
``darkroom/_proto/darkroom/<area>/v1`` and cross-file imports are rewritten to that package.
"""

from __future__ import annotations

import re
import shutil
import sys
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "proto"
OUT = ROOT / "darkroom" / "_proto"


def main() -> int:
    protos = sorted(str(p.relative_to(SRC)) for p in SRC.rglob("*.proto"))
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    if not protos:
        (OUT / "__init__.py").write_text("")
        return 0
    well_known = str(resources.files("grpc_tools") / "_proto")
    # the mypy plugins live beside this interpreter; the venv need not be on PATH
    bindir = Path(sys.executable).parent
    args = [
        "protoc",
        f"--plugin=protoc-gen-mypy={bindir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={bindir / 'protoc-gen-mypy_grpc'}",
        f"-I{SRC}",
        f"-I{well_known}",
        f"--python_out={OUT}",
        f"--grpc_python_out={OUT}",
        f"--mypy_out={OUT}",
        f"--mypy_grpc_out={OUT}",
        *protos,
    ]
    if protoc.main(args) != 0:
        print("protoc failed", file=sys.stderr)
        return 1
    for path in OUT.rglob("*"):
        if path.is_dir():
            (path / "__init__.py").touch()
        elif path.suffix in (".py", ".pyi"):
            text = path.read_text()
            text = re.sub(r"^(from|import) darkroom\.", r"\1 darkroom._proto.darkroom.", text, flags=re.M)
            path.write_text(text)
    (OUT / "__init__.py").touch()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
