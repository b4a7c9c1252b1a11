"""Complexity service: scene cuts and per-scene complexity, analysed once per source content.

Results are kept in the blob store under the source's content hash
(:func:`darkroom.media.complexity.cache_key`) and the analysis options,
``derived/complexity/<sha256>/crf<crf>-h<height>-t<threshold>.json``, so a later request for the
same bytes (whatever the upload's name) skips the analysis. The workflow has three steps because
the runtime has no conditional steps: ``lookup`` (hash + read, a thread), ``analyse`` (returns
the stored result at once, else runs ffmpeg in a child process), ``store`` (writes a new result).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import Field

from darkroom.media.complexity import Complexity, analyse, cache_key
from darkroom.runtime.context import TaskContext
from darkroom.runtime.files import blob_ref
from darkroom.runtime.resources import BLOBS, ResourceKey, Resources
from darkroom.runtime.workflow import Ref, Step, StepOptions, Workflow
from darkroom.services.common import (
    INSPECT_S,
    PERMANENT,
    QUEUE_MEDIA,
    BlobRef,
    ServiceRequest,
    StrictModel,
    registry,
    reporter,
)  # fmt: skip
from darkroom.storage.blobs import BlobNotFound, BlobStore

__all__ = [
    "COMPLEXITY",
    "COMPLEXITY_STORE",
    "ComplexityOptions",
    "ComplexityRequest",
    "ComplexityStore",
    "add_complexity_steps",
    "analyse_complexity",
    "complexity",
    "lookup_complexity",
    "store_complexity",
]

COMPLEXITY = "complexity"


class ComplexityOptions(StrictModel):
    """The pre-encode's CRF and height and scdet's threshold: each changes the result, so each is
    part of the stored key."""

    crf: int = Field(default=30, ge=0, le=51)
    height: int = Field(default=144, ge=36, le=1080)
    threshold: float = Field(default=10.0, ge=1.0, le=100.0)


class ComplexityRequest(ServiceRequest):
    """Analyse one source; ``reuse=False`` forces a new analysis (its result replaces the stored one)."""

    workflow = COMPLEXITY
    kind = "complexity"

    source: BlobRef
    options: ComplexityOptions = ComplexityOptions()
    reuse: bool = True

    def inputs(self) -> dict[str, object]:
        return {"source": self.source.model_dump(), "options": self.options.model_dump(), "reuse": self.reuse}


class ComplexityStore:
    """Analyses by content hash and options, as JSON blobs."""

    def __init__(self, blobs: BlobStore) -> None:
        self.blobs = blobs

    @staticmethod
    def key(content_key: str, options: ComplexityOptions) -> str:
        digest = content_key.removeprefix("sha256:")
        return f"derived/complexity/{digest}/crf{options.crf}-h{options.height}-t{options.threshold:g}.json"

    def get(self, content_key: str, options: ComplexityOptions) -> Complexity | None:
        try:
            data = json.loads(self.blobs.get_bytes(self.key(content_key, options)))
            return Complexity.from_dict(data)
        except BlobNotFound:
            return None
        except (ValueError, KeyError, TypeError):
            return None  # an unreadable entry is a miss; the new analysis overwrites it

    def put(self, content_key: str, options: ComplexityOptions, result: Complexity) -> str:
        key = self.key(content_key, options)
        data = json.dumps(result.to_dict(), sort_keys=True).encode()
        self.blobs.put_bytes(key, data, content_type="application/json")
        return key


def _complexity_store(resources: Resources) -> ComplexityStore:
    return ComplexityStore(resources[BLOBS])


COMPLEXITY_STORE: ResourceKey[ComplexityStore] = ResourceKey("complexity.store", _complexity_store)
"""The store of analyses, on the worker's blob store (``ctx.resources[COMPLEXITY_STORE]``)."""


def _options(options: Mapping[str, object] | None) -> ComplexityOptions:
    return ComplexityOptions.model_validate(dict(options or {}))


# Lookup and store are blob reads/writes: threads of the worker, on the store its resources hold.
# The analysis travels between steps as a JSON file (a blob): a long title has thousands of scenes,
# more than a task result holds.
@registry.function("media.complexity_lookup", queue=QUEUE_MEDIA, timeout_s=600)
def lookup_complexity(
    ctx: TaskContext, source: Path, options: Mapping[str, Any] | None = None, reuse: bool | None = True
) -> dict[str, Any]:
    """The source's content key and a reference to its stored analysis (``None`` when absent or
    ``reuse`` is false; ``None`` means the default, reuse)."""
    key = cache_key(source)
    opts = _options(options)
    store = ctx.resources[COMPLEXITY_STORE]
    found = store.get(key, opts) is not None if reuse is not False else False
    ctx.progress(1.0, "found a stored analysis" if found else "no stored analysis")
    return {"key": key, "stored": blob_ref(store.key(key, opts)) if found else None}


@registry.function(
    "media.complexity", queue=QUEUE_MEDIA, isolation="process", timeout_s=INSPECT_S + 60, permanent_errors=PERMANENT
)
def analyse_complexity(
    ctx: TaskContext, source: Path, options: Mapping[str, Any] | None = None, stored: Path | None = None
) -> dict[str, Any]:
    """``stored`` when given (no analysis), else scene cuts + per-scene bits of one pre-encode;
    ``complexity`` is the analysis' JSON file."""
    if stored is not None:
        ctx.progress(1.0, "reused the stored analysis")
        return {"complexity": stored, "reused": True}
    opts = _options(options)
    result = analyse(
        source, crf=opts.crf, height=opts.height, threshold=opts.threshold, timeout_s=INSPECT_S,
        progress=reporter(ctx, "analysing complexity"), cancel=ctx.cancel_event,
    )  # fmt: skip
    ctx.progress(1.0, f"{len(result.scenes)} scenes")
    return {"complexity": result.save(ctx.scratch_path / "complexity.json"), "reused": False}


@registry.function("media.complexity_store", queue=QUEUE_MEDIA, timeout_s=120)
def store_complexity(
    ctx: TaskContext, key: str, complexity: Path, reused: bool, options: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Keep a new analysis under ``key``; a reused one is already there."""
    if reused:
        return {"stored": None}
    return {"stored": ctx.resources[COMPLEXITY_STORE].put(key, _options(options), Complexity.load(complexity))}


def add_complexity_steps(
    wf: Workflow, source: Ref[object], options: Ref[object], reuse: Ref[object], after: Sequence[Step[object]] = ()
) -> Step[object]:
    """lookup -> analyse -> store on ``wf``; returns the ``analyse`` step (``["complexity"]``: a
    reference to the analysis' JSON file)."""
    # the functions' argument ``options`` goes in the args mapping (``options=`` is the step's)
    found = wf.task("complexity-lookup", "media.complexity_lookup", {"options": options}, source=source,
                    reuse=reuse, options=StepOptions(after=after))  # fmt: skip
    made = wf.task("complexity", "media.complexity", {"options": options}, source=source, stored=found["stored"])
    wf.task("complexity-store", "media.complexity_store", {"options": options}, key=found["key"],
            complexity=made["complexity"], reused=made["reused"])  # fmt: skip
    return made


def complexity() -> Workflow:
    wf = Workflow(COMPLEXITY, inputs=["source", "options", "reuse"], priority="standard",
                  description="scene cuts and per-scene complexity, stored by content hash")  # fmt: skip
    made = add_complexity_steps(wf, wf.input("source"), wf.input("options"), wf.input("reuse"))
    wf.output("complexity", made["complexity"])
    wf.output("reused", made["reused"])
    wf.output("key", wf.steps["complexity-lookup"]["key"])
    return wf


registry.add_workflow(complexity())
