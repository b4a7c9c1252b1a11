"""Encoding service: a ladder from one decode, the audio rendition, and the chunked encode
(plan -> map over chunks -> lossless assemble). Request, functions, workflow ``encoding``.

A chunk item encodes every rung of its chunk from ONE decode and verifies each output at once
(:func:`~darkroom.media.assemble.verify_chunk`); a bad chunk raises :class:`ChunkFailed`, which is
retried, so a failure (or a lost worker) costs that one chunk. Not chunked is one chunk spanning
the title, so both paths share the same steps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pydantic import model_validator

from darkroom.media.assemble import ChunkInvalid, assemble, verify_chunk
from darkroom.media.encode import EncodeResult, encode_audio, encode_ladder
from darkroom.media.probe import probe
from darkroom.media.recipe import DEFAULT_AUDIO, AudioRecipe, Recipe
from darkroom.runtime.context import TaskContext
from darkroom.runtime.errors import PermanentError
from darkroom.runtime.workflow import Ref, Step, Workflow
from darkroom.services.chunking import ChunkPolicy, fitted_recipes
from darkroom.services.common import (
    ENCODE_S,
    PERMANENT,
    QUEUE_MEDIA,
    BlobRef,
    RecipeList,
    ServiceRequest,
    registry,
    reporter,
)  # fmt: skip
from darkroom.services.errors import ChunkFailed

__all__ = [
    "ENCODING",
    "EncodeRequest",
    "add_chunked_encode",
    "assemble_fn",
    "encode_audio_fn",
    "encode_chunk_fn",
    "encode_ladder_fn",
    "encoding",
]

ENCODING = "encoding"
_EXT = {"h264": "mp4", "hevc": "mp4", "vp9": "webm", "av1": "mp4"}


class EncodeRequest(ServiceRequest):
    """Encode a source into ``recipes`` (``Recipe`` dicts; ``None``: ``DEFAULT_LADDER``), fitted to
    the source, in chunks when ``policy`` says so."""

    workflow = ENCODING
    kind = "encode"

    source: BlobRef
    recipes: RecipeList = None
    policy: ChunkPolicy = ChunkPolicy()

    @model_validator(mode="after")
    def _names(self) -> EncodeRequest:
        names = [r.get("name") or "" for r in self.recipes or []]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"recipes: rendition name {repeated[0]!r} is used twice (names are folder names)")
        return self

    def with_hosts(self, hosts: Callable[[], int]) -> EncodeRequest:
        return self.model_copy(update={"policy": self.policy.with_hosts(hosts)})

    def inputs(self) -> dict[str, object]:
        return {"source": self.source.model_dump(), "recipes": self.recipes, "policy": self.policy.model_dump()}


def _count(ctx: TaskContext, ladder: Sequence[Recipe], results: Sequence[EncodeResult]) -> None:
    """Media throughput for the worker's metrics: one decode fed every rung, so its wall time is
    split evenly among them."""
    for recipe, res in zip(ladder, results, strict=True):
        ctx.encoded(recipe.codec, res.frames, res.elapsed_s / len(results))


def _rung_name(recipe: Recipe) -> str:
    return recipe.name or f"{recipe.width}x{recipe.height}"


@registry.function(
    "media.encode_ladder", queue=QUEUE_MEDIA, isolation="process", timeout_s=ENCODE_S + 60,
    permanent_errors=PERMANENT,
)  # fmt: skip
def encode_ladder_fn(
    ctx: TaskContext, source: Path, width: int | None = None, height: int | None = None,
    recipes: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Encode every recipe (``None``: the default ladder) fitted to the source from ONE decode."""
    if not (width and height):
        video = probe(source).primary_video
        width, height = video.display_size if video else (0, 0)
    ladder = fitted_recipes(recipes, width, height)
    outs = [(ctx.scratch / f"{_rung_name(r)}.{_EXT[r.codec]}", r) for r in ladder]
    results = encode_ladder(source, outs, progress=reporter(ctx, "encoding"), timeout_s=ENCODE_S)
    _count(ctx, ladder, results)
    return {
        "renditions": [
            {
                "name": out.stem,
                "recipe": recipe.to_dict(),
                "file": res.path,
                "bytes": res.bytes,
                "bitrate": res.bitrate,
                "video_bitrate": res.video_bitrate,
                "frames": res.frames,
                "duration_s": res.duration_s,
            }
            for (out, recipe), res in zip(outs, results, strict=True)
        ]
    }


@registry.function(
    "media.encode_audio", queue=QUEUE_MEDIA, isolation="process", timeout_s=ENCODE_S + 60,
    permanent_errors=PERMANENT,
)  # fmt: skip
def encode_audio_fn(ctx: TaskContext, source: Path, audio: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The separate audio rendition, or ``{"file": None}`` for a source without audio."""
    if not probe(source).audio:
        return {"file": None, "recipe": None}
    recipe = AudioRecipe(**audio) if audio else DEFAULT_AUDIO
    ext = "webm" if recipe.codec == "opus" else "m4a"
    out = encode_audio(source, ctx.scratch / f"audio.{ext}", recipe, progress=reporter(ctx, "audio"),
                       timeout_s=ENCODE_S)  # fmt: skip
    return {"file": out, "recipe": asdict(recipe)}


@registry.function(
    "media.encode_chunk", queue=QUEUE_MEDIA, isolation="process", timeout_s=ENCODE_S + 60,
    permanent_errors=PERMANENT,
)  # fmt: skip
def encode_chunk_fn(
    ctx: TaskContext, source: Path, chunk: Mapping[str, Any], recipes: Sequence[Mapping[str, Any]], fps: float
) -> dict[str, Any]:
    """Every rung of one chunk from ONE decode, each verified right after the encode."""
    ladder = [Recipe.from_dict(r) for r in recipes]
    index, frames = int(chunk["index"]), int(chunk["frames"])
    outs = [(ctx.scratch / f"c{index:05d}-{_rung_name(r)}.{_EXT[r.codec]}", r) for r in ladder]
    results = encode_ladder(
        source, outs, start_s=float(chunk["start_s"]) or None, duration_s=float(chunk["duration_s"]),
        progress=reporter(ctx, f"chunk {index}", 0.0, 0.9), timeout_s=ENCODE_S,
    )  # fmt: skip
    _count(ctx, ladder, results)
    for (out, recipe), _ in zip(outs, results, strict=True):
        try:
            verify_chunk(out, frames, recipe.keyint(fps), index=index)
        except ChunkInvalid as exc:
            raise ChunkFailed(f"{_rung_name(recipe)}: {exc} [{exc.code}]") from exc
    ctx.progress(1.0, f"chunk {index} verified")
    return {
        **{k: chunk[k] for k in ("index", "start_s", "duration_s", "start_frame", "frames")},
        "renditions": [
            {
                "name": _rung_name(recipe),
                "file": res.path,
                "bytes": res.bytes,
                "video_bytes": round(res.video_bitrate * res.duration_s / 8),
                "duration_s": res.duration_s,
            }
            for (_, recipe), res in zip(outs, results, strict=True)
        ],
    }


@registry.function(
    "media.assemble", queue=QUEUE_MEDIA, isolation="process", timeout_s=ENCODE_S + 60, permanent_errors=PERMANENT
)
def assemble_fn(
    ctx: TaskContext, results: Sequence[Mapping[str, Any]], recipes: Sequence[Mapping[str, Any]], frames: int,
    fps: float,
) -> dict[str, Any]:  # fmt: skip
    """Per rendition, the chunks in order, concatenated without re-encoding and checked."""
    chunks = sorted(results, key=lambda r: int(r["index"]))
    renditions = []
    for i, data in enumerate(recipes):
        recipe = Recipe.from_dict(data)
        name = _rung_name(recipe)
        parts = [r for c in chunks for r in c["renditions"] if r["name"] == name]
        if len(parts) != len(chunks):
            raise PermanentError(f"rendition {name}: {len(parts)} of {len(chunks)} chunks were encoded")
        made = assemble(
            [Path(p["file"]) for p in parts], ctx.scratch / f"{name}.{_EXT[recipe.codec]}", expected_frames=frames,
            chunk_frames=[int(c["frames"]) for c in chunks], timeout_s=ENCODE_S,
        )  # fmt: skip
        duration = made.duration_s or frames / fps
        video_bytes = sum(int(p["video_bytes"]) for p in parts)
        renditions.append({
            "name": name, "recipe": recipe.to_dict(), "file": made.path, "bytes": made.bytes,
            "bitrate": made.bytes * 8 / duration if duration else 0.0,
            "video_bitrate": video_bytes * 8 / duration if duration else 0.0,
            "frames": made.frames, "duration_s": duration,
        })  # fmt: skip
        ctx.progress((i + 1) / len(recipes), f"assembled {name}")
    return {"renditions": renditions}


def add_chunked_encode(
    wf: Workflow, source: Ref[object], plan: Step[object]
) -> tuple[Step[list[object]], Step[object]]:
    """encode (map over the plan's chunks) -> assemble (reduce); returns both steps."""
    encoded = wf.map("encode", "media.encode_chunk", over=plan["chunks"]["plan"], item_arg="chunk", source=source,
                     recipes=plan["recipes"], fps=plan["fps"])  # fmt: skip
    assembled = wf.reduce("assemble", "media.assemble", over=encoded, recipes=plan["recipes"],
                          frames=plan["frames"], fps=plan["fps"])  # fmt: skip
    return encoded, assembled


def encoding() -> Workflow:
    wf = Workflow(ENCODING, inputs=["source", "recipes", "policy"], priority="standard",
                  description="encode a ladder, in chunks on several workers when the policy says so")  # fmt: skip
    source = wf.input("source")
    facts = wf.task("probe", "media.probe", source=source)
    plan = wf.task("plan", "media.plan_chunks", video=facts.ref, recipes=wf.input("recipes"),
                   policy=wf.input("policy"))  # fmt: skip
    _, assembled = add_chunked_encode(wf, source, plan)
    wf.output("chunks", plan["chunks"])
    wf.output("renditions", assembled["renditions"])
    return wf


registry.add_workflow(encoding())
