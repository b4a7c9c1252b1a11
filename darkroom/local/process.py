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
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn
from rich.table import Column
from rich.text import Text

from darkroom.config import Settings
from darkroom.local.errors import (
    InvalidOptions,
    NotMedia,
    PlatformDown,
    ProcessFailed,
    UnknownProfile,
    UnusableOutputFolder,
    WorkflowUnavailable,
)
from darkroom.local.outputs import report_images, write_photo, write_video
from darkroom.local.platform import LocalPlatform, PlatformConfig
from darkroom.media.errors import InvalidMedia, MediaError
from darkroom.media.probe import detect
from darkroom.reports import RunSummary, StepTiming, build_report, render_html
from darkroom.runtime.errors import RuntimeLayerError, WorkflowNotFound
from darkroom.runtime.workflow.store import RunRow, StepRow

if TYPE_CHECKING:
    from darkroom.platform.wiring import Wiring
    from darkroom.runtime.operations import OperationStore
    from darkroom.runtime.workflow import Workflows
    from darkroom.services.common import ServiceRequest

__all__ = [
    "APP",
    "PROFILES",
    "WORKFLOWS",
    "Job",
    "JobResult",
    "Kind",
    "platform_problem",
    "prepare_out",
    "process",
    "request_for",
    "Sniffed",
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
# The services API's request kind per workflow (``darkroom.services.api.parse``).
_REQUEST_KINDS = {"studio.video": "studio", "streaming.video": "streaming", "photo.renditions": "photo"}
_PLACEHOLDER_KEY = "uploads/not-yet-stored"
# What ``process`` writes into the output folder; replaced whole on every run.
_MANAGED = ("package", "storyboard", "quality", "renditions", "poster.jpg", "report.json", "report.html")
_ALIAS = "source"  # the extension-less name sniff() reads an input through
_ENDED_BADLY = frozenset({"failed", "canceled", "skipped"})  # no percentage: it would read as done
_REFRESH_S = 0.25  # redraw cadence of the progress bars (a bounded wait on the operation, not a sleep)


@dataclass(frozen=True)
class Sniffed:
    """What an input is, judged by content: the workflow's kind and the MIME type for the report."""

    kind: Kind
    media_type: str | None


def sniff(path: Path) -> Sniffed:
    """``"video"`` or ``"photo"`` and the MIME type, judged by content (Pillow, then PyAV), never
    by the extension.

    The file is read through a link without an extension: ffmpeg's demuxers otherwise trust the
    name (an MPEG clip named ``.jpg`` opens as a JPEG sequence). Anything else raises
    :class:`NotMedia` naming the file and what it is (audio only, empty, not media at all…).
    """
    if not path.is_file():
        what = "no such file" if not path.exists() else "not a regular file"
        raise NotMedia(f"{path}: {what}", "not_found" if not path.exists() else "unreadable")
    with tempfile.TemporaryDirectory(prefix="darkroom-sniff-") as scratch:
        alias = Path(scratch) / _ALIAS
        alias.symlink_to(path.resolve())
        try:
            detected = detect(alias)
        except InvalidMedia as exc:
            raise NotMedia(f"{path}: not a photo or a video ({exc.code}: {_detail(exc)})", exc.code) from exc
        except MediaError as exc:
            raise NotMedia(f"{path}: not a photo or a video we can read ({_detail(exc)})", "unsupported") from exc
    if detected.kind == "audio":
        raise NotMedia(f"{path}: audio only (no picture): not a photo or a video", "audio_only")
    if detected.kind not in ("video", "photo"):
        raise NotMedia(f"{path}: {detected.kind!r} is not a photo or a video", "unreadable")
    return Sniffed("video" if detected.kind == "video" else "photo", detected.media_type)


def _detail(exc: Exception) -> str:
    """The media layer's message without the link's name it starts with."""
    return str(exc).removeprefix(f"{_ALIAS}: ")


def prepare_out(out: Path) -> None:
    """Create the output folder ``out`` before any work, or refuse it (:class:`UnusableOutputFolder`):
    an existing file, a folder that cannot be created or written."""
    if out.exists() and not out.is_dir():
        raise UnusableOutputFolder(f"--out {out}: exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe, name = tempfile.mkstemp(prefix=".darkroom-write-", dir=out)  # what permissions say is not enough
        os.close(probe)
        os.unlink(name)
    except OSError as exc:
        raise UnusableOutputFolder(f"--out {out}: cannot write there ({exc.strerror})") from None


def workflow_for(kind: Kind, profile: str) -> str:
    """The workflow that processes ``kind`` in ``profile``."""
    if profile not in PROFILES:
        raise UnknownProfile(f"profile {profile!r} is not one of {', '.join(PROFILES)}")
    return WORKFLOWS[(kind, profile)]


def request_for(workflow: str, key: str, options: Mapping[str, object]) -> ServiceRequest:
    """The validated service request (``darkroom.services.api.parse``) for ``workflow`` over the
    blob ``key`` with ``options`` (the request's other fields: ``recipes``, ``ladder_options``…).

    Bad options raise :class:`InvalidOptions` naming the field and value.
    """
    from darkroom.services import InvalidRequest, parse

    if "source" in options:
        raise InvalidOptions(f"options must not name the source (it is the input file): {options['source']!r}")
    if workflow == "streaming.video":  # a report's BD-rate as delivered, unless the options say no
        ladder = options.get("ladder_options")
        options = {
            **options,
            "ladder_options": {"compare_delivered": True, **(ladder if isinstance(ladder, dict) else {})},
        }
    try:
        return parse(_REQUEST_KINDS[workflow], {"source": {"$blob": key}, **options})
    except InvalidRequest as exc:
        raise InvalidOptions(str(exc)) from exc


@dataclass(frozen=True)
class Job:
    """One input to process: ``options`` are the fields of its service request besides the source
    (studio: ``recipes``, ``profile``; streaming: ``ladder_options``, ``chunk``, ``quality``…;
    photo: ``spec``); see ``docs/media.md``."""

    source: Path
    out: Path
    profile: str = "studio"
    options: Mapping[str, object] = field(default_factory=dict)


@dataclass
class JobResult:
    job: Job
    kind: Kind
    workflow: str
    run: RunRow | None
    report: dict[str, Any]
    files: dict[str, Any]
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.run is not None and self.run.state == "succeeded"


def process(
    jobs: Sequence[Job],
    *,
    home: Path,
    workers: int = 1,
    concurrency: int = 2,
    console: Console | None = None,
    app: str = APP,
    keep_going: bool = False,
) -> list[JobResult]:
    """Start the local platform under ``home``, run ``jobs`` one after the other, stop it.

    Inputs are sniffed before anything starts, so a file that is not media fails fast. A failed
    run raises :class:`ProcessFailed` after its report (with the error) was written; with
    ``keep_going`` every job runs and failures are in the results (``error``).
    """
    console = console or Console()
    sniffed = [sniff(job.source) for job in jobs]
    for job, what in zip(jobs, sniffed, strict=True):  # refuse bad options before anything starts
        request_for(workflow_for(what.kind, job.profile), _PLACEHOLDER_KEY, job.options)
    for job in jobs:  # and an output folder that cannot take the results
        prepare_out(job.out)
    settings = replace(Settings.from_env(), home=home, grpc_addr="127.0.0.1:0", redis_url="")
    config = PlatformConfig(engines=1, workers=workers, concurrency=concurrency, app=app, metrics=False)
    platform = LocalPlatform(settings, config)
    where = escape(str(home))
    console.print(f"[bold]starting the platform[/] under {where} (1 engine, {workers} x {concurrency} workers) …")
    results = []
    try:
        wiring = platform.start()

        def health() -> str | None:
            return platform_problem(platform)

        for job, what in zip(jobs, sniffed, strict=True):
            try:
                results.append(run_job(wiring, job, sniffed=what, console=console, health=health))
            except (ProcessFailed, WorkflowUnavailable, InvalidOptions) as exc:
                if not keep_going:
                    raise
                print_failure(console, exc)
                written = getattr(exc, "result", None)
                if isinstance(written, JobResult):
                    written.error = str(exc)
                    results.append(written)
                else:
                    flow = WORKFLOWS[(what.kind, job.profile)]
                    results.append(JobResult(job, what.kind, flow, None, {}, {}, str(exc)))
    finally:
        platform.stop()
    return results


def print_failure(console: Console, exc: Exception) -> None:
    """One failed job's line: the error's text (file names, run errors) printed as it is."""
    console.print(Text.assemble("  ", (type(exc).__name__, "red"), ": ", str(exc)), soft_wrap=True)


def platform_problem(platform: LocalPlatform) -> str | None:
    """Why the platform cannot run work: an engine or worker process that exited (with its log's
    last line), else None. ``process`` does not restart children: a crash at start would repeat."""
    for child in platform.children:
        if child.proc is not None and child.proc.poll() is not None:
            last = ""
            if child.log_path is not None and child.log_path.is_file():
                lines = child.log_path.read_text(errors="replace").strip().splitlines()
                last = f": {lines[-1]}" if lines else ""
            return f"{child.name} exited with {child.proc.returncode} (log {child.log_path}){last}"
    return None


class _RunClients(Protocol):
    """What following a run needs: its workflow client and operations (a :class:`Wiring` has both)."""

    @property
    def workflows(self) -> Workflows: ...

    @property
    def operations(self) -> OperationStore: ...


def run_job(
    wiring: Wiring,
    job: Job,
    *,
    sniffed: Sniffed | None = None,
    console: Console | None = None,
    health: Callable[[], str | None] | None = None,
) -> JobResult:
    """Process ``job`` on a running platform (``wiring``: its clients) and write its folder.

    ``health`` returns why the platform cannot make progress (a dead engine or worker), or None;
    it is asked while the run is followed, so a broken platform is an error, not a hang."""
    console = console or Console()
    sniffed = sniffed or sniff(job.source)
    kind = sniffed.kind
    name = workflow_for(kind, job.profile)
    try:
        registry = wiring.registry
    except RuntimeLayerError as exc:  # the app itself does not load (a broken import, a wrong spec)
        raise WorkflowUnavailable(f"workflow {name!r}: the app the platform serves cannot be loaded: {exc}") from exc
    try:
        registry.workflow(name)
    except WorkflowNotFound:
        known = ", ".join(sorted(w.name for w in registry.workflows()))
        raise WorkflowUnavailable(
            f"workflow {name!r} (profile {job.profile!r}) is not registered in the app the platform serves "
            f"(known: {known})"
        ) from None
    request_for(name, _PLACEHOLDER_KEY, job.options)  # bad options: refused before the upload
    prepare_out(job.out)
    # No extension on the blob: the steps judge it by content too, like sniff().
    key = wiring.blobs.put_content(job.source, prefix="uploads").key
    run = _start(wiring, request_for(name, key, job.options))
    console.print(f"[bold]{escape(job.source.name)}[/] ({escape(kind)}) → [bold]{escape(name)}[/]")
    console.print(f"  run {run.id}", highlight=False)
    order = list(getattr(registry.workflow(name), "steps", {}))
    run = _follow(wiring, run.id, console, health, order, rename=lambda text: _own_names(text, key, job.source))
    result = _write(wiring, job, sniffed, run, order)
    verdict = "[green]succeeded[/]" if result.ok else f"[red]{run.state}[/]"
    console.print(f"  {verdict}; wrote {escape(str(job.out))}/ (report.json, report.html)")
    if not result.ok:  # the reason is printed once, by whoever reports the error
        reason = _own_names(run.error or run.state, key, job.source)
        message = f"{job.source}: {name} run {run.id} ended {run.state}: {reason}"
        failed = ProcessFailed(message, run.id, run.state)
        failed.result = result
        raise failed
    return result


def _own_names(text: str, key: str, source: Path) -> str:
    """``text`` with the uploaded blob's name (its content hash) replaced by the user's file."""
    return text.replace(key, str(source)).replace(key.rsplit("/", 1)[-1], source.name)


def _start(wiring: Wiring, request: ServiceRequest) -> RunRow:
    from darkroom.services import submit

    run: RunRow = submit(wiring.workflows, request)
    return run


def _in_order(run: RunRow, order: Sequence[str]) -> list[StepRow]:
    """The run's steps in definition order (``order``: step names), unknown names last."""
    rank = {name: i for i, name in enumerate(order)}
    return sorted(run.steps.values(), key=lambda s: (rank.get(s.name, len(rank)), s.name))


def _follow(
    wiring: _RunClients,
    run_id: str,
    console: Console,
    health: Callable[[], str | None] | None,
    order: Sequence[str],
    *,
    rename: Callable[[str], str],
) -> RunRow:
    """One progress bar per step (fraction, state, message) until the run ends."""
    columns = (
        TextColumn("  {task.description}", table_column=Column(width=18, no_wrap=True)),
        BarColumn(bar_width=24),
        TextColumn("{task.fields[pct]}", table_column=Column(width=5, no_wrap=True, justify="right")),
        TextColumn("{task.fields[took]}", table_column=Column(width=7, no_wrap=True, justify="right")),
        TextColumn("{task.fields[state]}", table_column=Column(width=9, no_wrap=True)),
        TextColumn("[dim]{task.fields[note]}[/]", table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1)),
    )
    bars: dict[str, TaskID] = {}
    with Progress(*columns, console=console, transient=False, expand=True) as progress:
        while True:
            run: RunRow = wiring.workflows.get(run_id)
            for step in _in_order(run, order):
                if step.name not in bars:
                    shown = escape(step.name)
                    bars[step.name] = progress.add_task(shown, total=1.0, state="", note="", took="", pct="")
                bar = bars[step.name]
                items = f"{step.items_done}/{step.items_total} " if step.kind == "map" and step.items_total else ""
                note = rename(step.error) if step.error else (step.message or "") if step.state == "running" else ""
                done = 1.0 if step.state == "succeeded" else step.progress
                took = "" if step.started_at is None else f"{(step.ended_at or time.time()) - step.started_at:.1f}s"
                pct = "" if step.state in _ENDED_BADLY else f"{done:.0%}"
                note = escape(f"{items}{note}"[:80])
                progress.update(bar, completed=done, state=step.state, note=note, took=took, pct=pct)
            if run.done:
                return run
            problem = health() if health is not None else None
            if problem:
                raise PlatformDown(f"{problem}; run {run_id} left {run.state}")
            wiring.operations.wait(run_id, timeout_s=_REFRESH_S)  # returns at once when the run ends


def _steps(run: RunRow, order: Sequence[str]) -> RunSummary:
    return RunSummary(
        workflow=run.name, run_id=run.id, state=run.state, created_at=run.created_at, ended_at=run.ended_at,
        error=run.error,
        steps=[
            StepTiming(s.name, s.kind, s.state, s.attempts, s.items_total, s.started_at, s.ended_at, s.worker, s.error)
            for s in _in_order(run, order)
        ],
    )  # fmt: skip


def _write(wiring: Wiring, job: Job, sniffed: Sniffed, run: RunRow, order: Sequence[str]) -> JobResult:
    out, kind = job.out, sniffed.kind
    out.mkdir(parents=True, exist_ok=True)
    for name in _MANAGED:  # a previous run's outputs must not mix with this one's
        path = out / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.is_file() or path.is_symlink():
            path.unlink()
    outputs: Mapping[str, Any] = run.outputs or {}
    blobs = wiring.blobs
    frames: dict[str, Any] = {}
    if kind == "photo":
        files = write_photo(blobs, out, outputs)
    else:
        files, frames = write_video(blobs, out, outputs)
        if files.get("complexity"):  # the analysis travels as a file: the report shows its content
            outputs = {**outputs, "complexity": json.loads((out / files["complexity"]).read_text())}
    source = {"name": job.source.name, "bytes": job.source.stat().st_size, "kind": kind,
              "type": sniffed.media_type}  # fmt: skip
    report = build_report(
        outputs, kind=kind, profile="photo" if kind == "photo" else job.profile, source=source, files=files,
        run=_steps(run, order),
    )  # fmt: skip
    (out / "report.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    (out / "report.html").write_text(render_html(report, frames=frames, images=report_images(out, kind, files)))
    return JobResult(job, kind, run.name, run, report, files)
