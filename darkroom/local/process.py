"""``darkroom process``: one video or photo through its workflow on the local platform, written out
as a playable package, images and a report.

The kind of input is judged from its content (:func:`sniff`). :func:`process` starts the local
platform (``darkroom up``'s :class:`~darkroom.local.platform.LocalPlatform`), runs every job on it
and stops it; :func:`run_job` does one job on a platform already up: it stores the source as a
blob, starts the profile's workflow, draws a progress bar per step, then fetches the outputs into
the job's folder and writes ``report.json`` and ``report.html`` (see ``docs/process.md``).
"""

from __future__ import annotations

import json
import mimetypes
import tarfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Column

from darkroom.config import Settings
from darkroom.local.errors import NotMedia, ProcessFailed, UnknownProfile, UnsafeOutputPath, WorkflowUnavailable
from darkroom.local.platform import LocalPlatform, PlatformConfig
from darkroom.media.errors import InvalidMedia, MediaError
from darkroom.media.probe import detect_kind
from darkroom.reports import RunSummary, StepTiming, build_report, render_html
from darkroom.runtime.errors import WorkflowNotFound
from darkroom.runtime.files import get_tree, is_blob_ref, is_tree_ref
from darkroom.runtime.workflow.store import RunRow

__all__ = [
    "APP",
    "PROFILES",
    "WORKFLOWS",
    "Job",
    "fetch_folder",
    "JobResult",
    "Kind",
    "process",
    "run_job",
    "sniff",
    "workflow_for",
]

Kind = Literal["video", "photo"]
APP = "darkroom.services:registry"
PROFILES = ("studio", "streaming")
# Workflow per (kind, profile); photos have one workflow whatever the video profile.
WORKFLOWS = {
    ("video", "studio"): "studio.video",
    ("video", "streaming"): "streaming.video",
    ("photo", "studio"): "photo.renditions",
    ("photo", "streaming"): "photo.renditions",
}
# Inputs every media workflow understands; anything else a workflow declares comes from the job's
# ``options`` (or null).
_DEFAULT_INPUTS: dict[str, Any] = {"recipes": None, "profile": {}, "spec": {}}
_REFRESH_S = 0.25  # redraw cadence of the progress bars (a bounded wait on the operation, not a sleep)


def sniff(path: Path) -> Kind:
    """``"video"`` or ``"photo"``, judged by content (Pillow, then PyAV), never by the extension.

    Anything else raises :class:`NotMedia` naming the file and what it is (audio only, empty,
    not media at all…).
    """
    try:
        kind = detect_kind(path)
    except InvalidMedia as exc:
        raise NotMedia(f"{path}: not a photo or a video ({exc.code}: {exc})", exc.code) from exc
    except MediaError as exc:
        raise NotMedia(f"{path}: not a photo or a video we can read ({exc})", "unsupported") from exc
    if kind == "audio":
        raise NotMedia(f"{path}: audio only (no picture): not a photo or a video", "audio_only")
    if kind not in ("video", "photo"):
        raise NotMedia(f"{path}: {kind!r} is not a photo or a video", "unreadable")
    return "video" if kind == "video" else "photo"


def workflow_for(kind: Kind, profile: str) -> str:
    """The workflow that processes ``kind`` in ``profile``."""
    if profile not in PROFILES:
        raise UnknownProfile(f"profile {profile!r} is not one of {', '.join(PROFILES)}")
    return WORKFLOWS[(kind, profile)]


@dataclass(frozen=True)
class Job:
    """One input to process: ``options`` override workflow inputs by name (e.g. ``recipes``,
    ``profile`` for the title profile, or the streaming workflow's request options)."""

    source: Path
    out: Path
    profile: str = "studio"
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class JobResult:
    job: Job
    kind: Kind
    workflow: str
    run: RunRow
    report: dict[str, Any]
    files: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.run.state == "succeeded"


def process(
    jobs: Sequence[Job],
    *,
    home: Path,
    workers: int = 1,
    concurrency: int = 2,
    console: Console | None = None,
    app: str = APP,
    on_platform: Callable[[Any], None] | None = None,
) -> list[JobResult]:
    """Start the local platform under ``home``, run ``jobs`` one after the other, stop it.

    Inputs are sniffed before anything starts, so a file that is not media fails fast. A failed
    run raises :class:`ProcessFailed` after its report (with the error) was written.
    """
    console = console or Console()
    kinds = [sniff(job.source) for job in jobs]
    for job, kind in zip(jobs, kinds, strict=True):
        workflow_for(kind, job.profile)
    settings = replace(Settings.from_env(), home=home, grpc_addr="127.0.0.1:0", redis_url="")
    config = PlatformConfig(engines=1, workers=workers, concurrency=concurrency, app=app, metrics=False)
    platform = LocalPlatform(settings, config)
    console.print(f"[bold]starting the platform[/] under {home} (1 engine, {workers} x {concurrency} workers) …")
    results = []
    try:
        wiring = platform.start()
        if on_platform is not None:
            on_platform(wiring)
        for job, kind in zip(jobs, kinds, strict=True):
            results.append(run_job(wiring, job, kind=kind, console=console))
    finally:
        platform.stop()
    return results


def run_job(wiring: Any, job: Job, *, kind: Kind | None = None, console: Console | None = None) -> JobResult:
    """Process ``job`` on a running platform (``wiring``: its clients) and write its folder."""
    console = console or Console()
    kind = kind or sniff(job.source)
    name = workflow_for(kind, job.profile)
    try:
        definition = wiring.registry.workflow(name)
    except WorkflowNotFound:
        known = ", ".join(sorted(w.name for w in wiring.registry.workflows()))
        raise WorkflowUnavailable(
            f"workflow {name!r} (profile {job.profile!r}) is not registered in the app the platform serves "
            f"(known: {known})"
        ) from None
    key = wiring.blobs.put_content(job.source, prefix="uploads", suffix="".join(job.source.suffixes[-1:])).key
    inputs = {
        k: {"$blob": key} if k == "source" else job.options.get(k, _DEFAULT_INPUTS.get(k)) for k in definition.inputs
    }
    run = _start(wiring, name, inputs)
    console.print(f"[bold]{job.source.name}[/] ({kind}) → [bold]{name}[/] {run.id}")
    run = _follow(wiring, run.id, console)
    result = _write(wiring, job, kind, run)
    verdict = "[green]succeeded[/]" if result.ok else f"[red]{run.state}[/]: {run.error}"
    console.print(f"  {verdict}; wrote {job.out}/ (report.json, report.html)")
    if not result.ok:
        raise ProcessFailed(f"{name} run {run.id} for {job.source} ended {run.state}: {run.error}", run.id, run.state)
    return result


def _start(wiring: Any, name: str, inputs: dict[str, Any]) -> RunRow:
    run: RunRow = wiring.workflows.start(name, inputs)
    return run


def _follow(wiring: Any, run_id: str, console: Console) -> RunRow:
    """One progress bar per step (fraction, state, message) until the run ends."""
    columns = (
        TextColumn("  {task.description}", table_column=Column(width=14, no_wrap=True)),
        BarColumn(bar_width=24),
        TextColumn("{task.percentage:>4.0f}%", table_column=Column(width=5, no_wrap=True)),
        TimeElapsedColumn(),
        TextColumn("{task.fields[state]}", table_column=Column(width=9, no_wrap=True)),
        TextColumn("[dim]{task.fields[note]}[/]", table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1)),
    )
    bars: dict[str, TaskID] = {}
    with Progress(*columns, console=console, transient=False) as progress:
        while True:
            run: RunRow = wiring.workflows.get(run_id)
            for step in run.steps.values():
                if step.name not in bars:
                    bars[step.name] = progress.add_task(step.name, total=1.0, state="", note="", start=False)
                bar = bars[step.name]
                if step.state != "waiting":
                    progress.start_task(bar)
                items = f"{step.items_done}/{step.items_total} " if step.kind == "map" and step.items_total else ""
                note = step.error if step.error else (step.message or "") if step.state == "running" else ""
                done = 1.0 if step.state == "succeeded" else step.progress
                progress.update(bar, completed=done, state=step.state, note=f"{items}{note}"[:80])
                if step.state in ("succeeded", "failed", "canceled", "skipped"):
                    progress.stop_task(bar)
            if run.done:
                return run
            wiring.operations.wait(run_id, timeout_s=_REFRESH_S)  # returns at once when the run ends


def _steps(run: RunRow) -> RunSummary:
    return RunSummary(
        workflow=run.name, run_id=run.id, state=run.state, created_at=run.created_at, ended_at=run.ended_at,
        error=run.error,
        steps=[
            StepTiming(s.name, s.kind, s.state, s.attempts, s.items_total, s.started_at, s.ended_at, s.worker, s.error)
            for s in run.steps.values()
        ],
    )  # fmt: skip


def _safe_path(root: Path, relative: str) -> Path:
    """``root / relative``, refusing names that would leave ``root``."""
    parts = PurePosixPath(relative).parts
    if not parts or PurePosixPath(relative).is_absolute() or any(p in ("..", "") for p in parts):
        raise UnsafeOutputPath(f"output file name {relative!r} would leave {root}")
    return root.joinpath(*parts)


def fetch_folder(blobs: Any, value: Any, dest: Path, *, archive: Any = None) -> Path | None:
    """Rebuild a folder output in ``dest``: a listing (``[{"path", "file": {"$blob"}}]``), a tree
    (``{"$tree": key}``), or else the tar ``archive`` (a blob ref). None when there is none."""
    if isinstance(value, list):
        for entry in value:
            blobs.get_file(entry["file"]["$blob"], _safe_path(dest, str(entry["path"])))
        return dest
    if is_tree_ref(value):
        return get_tree(blobs, value["$tree"], dest)
    if is_blob_ref(archive):
        dest.mkdir(parents=True, exist_ok=True)
        with blobs.open(archive["$blob"]) as raw, tarfile.open(fileobj=raw, mode="r|*") as tar:
            for member in tar:
                if member.isfile():
                    target = _safe_path(dest, member.name)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    extracted = tar.extractfile(member)
                    assert extracted is not None
                    target.write_bytes(extracted.read())
        return dest
    return None


def _rel(out: Path, path: Path | None) -> str | None:
    return None if path is None else path.relative_to(out).as_posix()


def _first(root: Path, pattern: str) -> Path | None:
    found = sorted(root.rglob(pattern)) if root.is_dir() else []
    return found[0] if found else None


def _write_video(blobs: Any, out: Path, outputs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    files: dict[str, Any] = {}
    frames: dict[str, Any] = {}
    package = fetch_folder(blobs, outputs.get("package"), out / "package", archive=outputs.get("package_archive"))
    if package is not None:
        files["package"] = "package/"
        files["master"] = _rel(out, _first(package, "master.m3u8"))
        files["mpd"] = _rel(out, _first(package, "*.mpd"))
    poster = outputs.get("poster") or {}
    if is_blob_ref(poster.get("file")):
        files["poster"] = _rel(out, blobs.get_file(poster["file"]["$blob"], out / "poster.jpg"))
    board = outputs.get("storyboard") or {}
    if board.get("files") is not None and fetch_folder(blobs, board["files"], out / "storyboard") is not None:
        files["storyboard"] = "storyboard/"
        files["storyboard_vtt"] = _rel(out, _first(out / "storyboard", "*.vtt"))
        files["storyboard_sheets"] = [_rel(out, p) for p in sorted((out / "storyboard").rglob("*.jpg"))]
    quality: dict[str, str] = {}
    for q in outputs.get("quality") or []:
        ref = q.get("frames")
        if is_blob_ref(ref):
            path = blobs.get_file(ref["$blob"], _safe_path(out / "quality", f"{q['name']}.json"))
            quality[str(q["name"])] = str(_rel(out, path))
            frames[str(q["name"])] = json.loads(path.read_text())
    if quality:
        files["quality"] = quality
    return files, frames


def _write_photo(blobs: Any, out: Path, outputs: Mapping[str, Any]) -> dict[str, Any]:
    written: dict[str, str] = {}
    for r in outputs.get("renditions") or []:
        ref = r.get("file")
        if is_blob_ref(ref):
            suffix = PurePosixPath(ref["$blob"]).suffix or f".{r.get('format')}"
            path = blobs.get_file(ref["$blob"], _safe_path(out / "renditions", f"{r['name']}{suffix}"))
            written[f"{r['name']}.{r.get('format')}"] = str(_rel(out, path))
    return {"renditions": written} if written else {}


def _images(out: Path, kind: Kind, files: Mapping[str, Any]) -> dict[str, tuple[str, bytes]]:
    images: dict[str, tuple[str, bytes]] = {}
    if kind == "video" and files.get("poster"):
        images["poster"] = ("image/jpeg", (out / files["poster"]).read_bytes())
    if kind == "photo":
        thumbs = [p for n, p in (files.get("renditions") or {}).items() if n.startswith("thumb") and n.endswith("jpeg")]
        if thumbs:
            images["thumbnail"] = ("image/jpeg", (out / thumbs[0]).read_bytes())
    return images


def _write(wiring: Any, job: Job, kind: Kind, run: RunRow) -> JobResult:
    out = job.out
    out.mkdir(parents=True, exist_ok=True)
    outputs: Mapping[str, Any] = run.outputs or {}
    blobs = wiring.blobs
    frames: dict[str, Any] = {}
    if kind == "photo":
        files = _write_photo(blobs, out, outputs)
    else:
        files, frames = _write_video(blobs, out, outputs)
    source = {"name": job.source.name, "bytes": job.source.stat().st_size, "kind": kind,
              "type": mimetypes.guess_type(job.source.name)[0]}  # fmt: skip
    report = build_report(
        outputs, kind=kind, profile="photo" if kind == "photo" else job.profile, source=source, files=files,
        run=_steps(run),
    )  # fmt: skip
    (out / "report.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    (out / "report.html").write_text(render_html(report, frames=frames, images=_images(out, kind, files)))
    return JobResult(job, kind, run.name, run, report, files)
