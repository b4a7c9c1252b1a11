"""The *streaming* profile: a per-title ladder, a chunked encode checked chunk by chunk, quality,
validation, packaging. Workflow ``streaming.video`` (priority ``standard``).

```
inspect ─ complexity (stored by content) ─ ladder ─ plan ─ encode (map: chunks) ─ assemble (reduce) ─┐
   │                                                            └ quality (map: chunks) ─ quality-join ┤
   ├ anchor (the fixed ladder over the whole title) ─────────────────────────────────────────────────────┤
   │                                    ladder-check (correct the ladder on what is delivered) ────────┘
   │                                          └ validate (map) ─ package
   ├ audio ─────────────────────────────────────────────────────────┘
   ├ poster, storyboard
```

Outputs (the contract ``darkroom process`` and its report read, see ``docs/media.md``):
``verdict``, ``inspection``, ``complexity``, ``ladder``, ``chunks``, ``renditions``, ``quality``,
``validation``, ``package``, ``master``, ``mpd``, ``packaged``, ``poster``,
``storyboard``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import Field, model_validator

from darkroom.runtime.workflow import StepOptions, Workflow
from darkroom.services.chunking import ChunkPolicy
from darkroom.services.common import BlobRef, ProfileOverrides, ServiceRequest, registry
from darkroom.services.complexity import ComplexityOptions, add_complexity_steps
from darkroom.services.delivery import add_delivery
from darkroom.services.encoding import add_chunked_encode
from darkroom.services.ladder import LadderOptions
from darkroom.services.quality import QualityOptions
from darkroom.services.validation import ValidateOptions

__all__ = ["STREAMING_VIDEO", "StreamingRequest", "streaming_video"]

STREAMING_VIDEO = "streaming.video"


class StreamingRequest(ServiceRequest):
    """One video through the streaming profile.

    ``ladder``: ``per_title`` (trials on scenes picked from the complexity analysis, tuned by
    ``ladder_options``) or ``fixed`` (``DEFAULT_LADDER`` fitted). ``chunk``, ``workers_available``,
    ``latency_target_s``, ``est_encode_fps``, ``chunk_target_s``, ``chunk_min_s``: the chunking
    policy. ``validation.decode`` is off by default: every chunk was decoded when verified and the
    assembly decoded the whole.
    """

    workflow = STREAMING_VIDEO
    kind = "streaming"

    source: BlobRef
    profile: ProfileOverrides = Field(default_factory=dict)
    complexity: ComplexityOptions = ComplexityOptions()
    reuse_complexity: bool = True
    ladder: Literal["per_title", "fixed"] = "per_title"
    ladder_options: LadderOptions = LadderOptions()
    chunk: Literal["auto", "always", "never"] = "auto"
    workers_available: int | None = Field(default=None, ge=1, le=10_000)
    latency_target_s: float = Field(default=600.0, gt=0, le=7 * 86400)
    est_encode_fps: float | None = Field(default=None, gt=0, le=100_000)
    chunk_target_s: float = Field(default=30.0, ge=0.5, le=3600)
    chunk_min_s: float = Field(default=10.0, ge=0.5, le=3600)
    quality: QualityOptions = QualityOptions()
    validation: ValidateOptions = ValidateOptions(decode=False)

    @model_validator(mode="after")
    def _coherent(self) -> StreamingRequest:
        if "mode" in self.ladder_options.model_fields_set and self.ladder_options.mode != self.ladder:
            raise ValueError(f"ladder_options.mode={self.ladder_options.mode!r} contradicts ladder={self.ladder!r}")
        if self.chunk_min_s > self.chunk_target_s:
            raise ValueError(f"chunk_min_s={self.chunk_min_s!r} must not exceed chunk_target_s={self.chunk_target_s!r}")
        return self

    def policy(self) -> ChunkPolicy:
        return ChunkPolicy(
            chunk=self.chunk, workers_available=self.workers_available, latency_target_s=self.latency_target_s,
            est_encode_fps=self.est_encode_fps, target_s=self.chunk_target_s, min_s=self.chunk_min_s,
        )  # fmt: skip

    def with_hosts(self, hosts: Callable[[], int]) -> StreamingRequest:
        return self.model_copy(update={"workers_available": self.policy().with_hosts(hosts).workers_available})

    def inputs(self) -> dict[str, object]:
        return {
            "source": self.source.model_dump(),
            "profile": self.profile,
            "complexity": self.complexity.model_dump(),
            "reuse": self.reuse_complexity,
            "ladder": {**self.ladder_options.model_dump(), "mode": self.ladder},
            "policy": self.policy().model_dump(),
            "quality": self.quality.model_dump(),
            "validation": self.validation.model_dump(),
        }


def streaming_video() -> Workflow:
    wf = Workflow(
        STREAMING_VIDEO,
        inputs=["source", "profile", "complexity", "reuse", "ladder", "policy", "quality", "validation"],
        priority="standard",
        description="streaming profile: complexity, per-title ladder, chunked encode, quality, validation, package",
    )
    source = wf.input("source")
    inspected = wf.task("inspect", "media.inspect", source=source, profile=wf.input("profile"))
    analysed = add_complexity_steps(wf, source, wf.input("complexity"), wf.input("reuse"), after=[inspected])
    # the functions' argument ``options`` goes in the args mapping (``options=`` is the step's)
    ladder = wf.task(
        "ladder", "media.ladder", {"options": wf.input("ladder")}, source=source, complexity=analysed["complexity"],
        width=inspected["width"], height=inspected["height"],
    )  # fmt: skip
    plan = wf.task("plan", "media.plan_chunks", video=inspected.ref, policy=wf.input("policy"),
                   ladder=ladder["recipes"], complexity=analysed["complexity"])  # fmt: skip
    encoded, assembled = add_chunked_encode(wf, source, plan)
    audio = wf.task("audio", "media.encode_audio", source=source, options=StepOptions(after=[inspected]))
    scored = wf.map("quality", "media.quality_chunk", {"options": wf.input("quality")}, over=encoded.ref,
                    item_arg="encoded", source=source)  # fmt: skip
    joined = wf.reduce("quality-join", "media.quality_join", over=scored)
    anchor = wf.task("anchor", "media.anchor", {"options": wf.input("ladder")}, source=source,
                     width=inspected["width"], height=inspected["height"])  # fmt: skip
    delivered = wf.task(
        "ladder-check", "media.ladder_check", {"options": wf.input("ladder")}, ladder=ladder["ladder"],
        renditions=assembled["renditions"], quality=joined["quality"], anchor=anchor["points"],
    )  # fmt: skip
    checked = wf.map("validate", "media.validate", {"options": wf.input("validation")},
                     over=delivered["renditions"], item_arg="rendition", source=source)  # fmt: skip
    wf.output("verdict", inspected["verdict"])
    wf.output("inspection", inspected["inspection"])
    wf.output("complexity", analysed["complexity"])
    wf.output("ladder", delivered["ladder"])
    wf.output("chunks", plan["chunks"])
    wf.output("renditions", delivered["renditions"])
    wf.output("quality", delivered["quality"])
    wf.output("validation", checked.ref)
    add_delivery(wf, source, inspected, delivered["renditions"], audio["file"], after=[checked])
    return wf


registry.add_workflow(streaming_video())
