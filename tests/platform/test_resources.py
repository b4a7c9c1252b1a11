"""The platform's task resources: the settings cross to a child process, the worker's own blob
store does not (the child builds one from the settings)."""

from __future__ import annotations

import pickle
from pathlib import Path

from darkroom.config import Settings
from darkroom.platform.resources import task_resources
from darkroom.runtime.resources import BLOBS, SETTINGS
from darkroom.storage.blobs import LocalBlobs


def test_a_child_gets_the_given_values_and_builds_the_rest(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", blobs_url=str(tmp_path / "blobs"))
    mine = LocalBlobs(tmp_path / "blobs")
    resources = task_resources(settings, mine)
    assert resources[BLOBS] is mine  # the worker's own store, not a second one
    child = pickle.loads(pickle.dumps(resources))
    assert child[SETTINGS] == settings
    assert child[BLOBS] is not mine and isinstance(child[BLOBS], LocalBlobs)  # built from the settings
    assert child[BLOBS].root == mine.root
