"""``darkroom demo`` (``make demo``): a generated clip and photo processed end to end on the local
platform, in one platform start: the clip through both video profiles (``studio.video`` and
``streaming.video``), the photo through ``photo.renditions``. Then every output is checked
(playlists and manifests reference existing files and play, validation passed, photo renditions
present without GPS) and a summary table printed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from darkroom.cli.demos.checks import Check, check_result
from darkroom.cli.demos.samples import make_clip, make_photo
from darkroom.local.process import Job, JobResult, process

__all__ = ["STREAMING_OPTIONS", "MediaDemoResult", "run_media_demo"]

# Few trials keep the per-title ladder quick on two cores: two 2 s samples (one per scene: a single
# sample saw only the test pattern and mispredicted the fractal half), 2 heights x 3 CRFs, and
# VMAF only. Chunks are forced (2 s target) so the plan, split at the clip's scene cut, shows.
STREAMING_OPTIONS: dict[str, Any] = {
    "ladder_options": {"heights": [360, 180], "crfs": [24, 30, 36], "samples": 2, "sample_s": 2.0, "rungs": 3,
                       "gop_s": 1.0, "segment_s": 2.0, "subsample": 2},
    "chunk": "always",
    "chunk_target_s": 2.0,
    "chunk_min_s": 1.0,
    "quality": {"metrics": ["vmaf"], "subsample": 1},
}  # fmt: skip


@dataclass
class MediaDemoResult:
    results: list[JobResult]
    checks: dict[str, list[Check]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for checks in self.checks.values() for c in checks)


def run_media_demo(
    home: Path, *, out: Path | None = None, workers: int = 1, console: Console | None = None
) -> MediaDemoResult:
    """Generate the samples, process them (studio, streaming, photo) on one platform, check it all."""
    console = console or Console()
    out = out or home / "demo"
    inputs = out / "inputs"
    console.print(f"[bold]generating samples[/] in {escape(str(inputs))} …")
    clip = make_clip(inputs / "clip.mp4")
    photo = make_photo(inputs / "photo.jpg")
    jobs = {
        "studio": Job(clip, out / "studio", profile="studio"),  # the default ladder, fitted to the clip
        "streaming": Job(clip, out / "streaming", profile="streaming", options=dict(STREAMING_OPTIONS)),
        "photo": Job(photo, out / "photo"),
    }
    results = process(list(jobs.values()), home=home, workers=workers, console=console, keep_going=True)
    demo = MediaDemoResult(results)
    for label, result in zip(jobs, results, strict=True):
        state = result.run.state if result.run is not None else None
        checks = check_result(result.job.out, result.report, result.files, state=state)
        if result.error and result.run is None:
            checks[0] = Check("run succeeded", False, result.error)
        demo.checks[label] = checks
    _render(console, jobs, demo)
    return demo


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it is below it (shorter in the table)."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _render(console: Console, jobs: dict[str, Job], demo: MediaDemoResult) -> None:
    table = Table("job", "workflow", "state", "took", "outputs", "checks", title="darkroom demo")
    for (label, job), result in zip(jobs.items(), demo.results, strict=True):
        checks = demo.checks[label]
        passed = sum(c.ok for c in checks)
        run = result.run
        took = f"{run.ended_at - run.created_at:.1f}s" if run is not None and run.ended_at else ""
        table.add_row(
            label,
            Text(result.workflow),
            Text(run.state if run else "not started", style="green" if result.ok else "red"),
            took,
            Text(_shown(job.out)),
            Text(f"{passed}/{len(checks)}", style="green" if passed == len(checks) else "red"),
        )
    console.print(table)
    for label, checks in demo.checks.items():
        for c in checks:
            mark = "[green]✓[/]" if c.ok else "[red]✗[/]"
            console.print(f"  {mark} {escape(label)}: {escape(c.name)} [dim]{escape(c.detail)}[/]")
    if demo.ok:
        console.print("[green]OK[/]: every output is present and checks out (open report.html in each folder)")
    else:
        console.print("[red]FAILED[/]: see the checks marked ✗ above")
