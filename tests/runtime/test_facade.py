"""``darkroom.runtime`` exports the names most programs need, imported lazily."""

from __future__ import annotations

import subprocess
import sys

import darkroom.queue
import darkroom.runtime
from darkroom.runtime.context import TaskContext
from darkroom.runtime.functions import Registry
from darkroom.runtime.worker import Worker
from darkroom.runtime.workflow.dag import StepOptions, Workflow
from darkroom.runtime.workflow.engine import Engine


def test_the_facade_exports_the_runtime_s_main_names() -> None:
    homes = {
        "Engine": Engine,
        "Registry": Registry,
        "StepOptions": StepOptions,
        "TaskContext": TaskContext,
        "Worker": Worker,
        "Workflow": Workflow,
        "connect": darkroom.queue.connect,
    }
    assert sorted(darkroom.runtime.__all__) == sorted(homes)
    for name, value in homes.items():
        assert getattr(darkroom.runtime, name) is value
    assert set(homes) <= set(dir(darkroom.runtime))


def test_importing_the_package_imports_none_of_them() -> None:
    code = (
        "import sys, darkroom.runtime as r\n"
        "heavy = [m for m in ('darkroom.runtime.worker', 'darkroom.runtime.workflow.engine', 'sqlalchemy') "
        "if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "from darkroom.runtime import *\n"
        "assert Worker.__module__ == 'darkroom.runtime.worker'\n"
        "try:\n"
        "    r.nothing\n"
        "except AttributeError as e:\n"
        "    assert 'nothing' in str(e)\n"
        "else:\n"
        "    raise AssertionError\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
