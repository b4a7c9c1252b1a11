"""What both video profiles end with: the package (HLS + DASH) over the renditions and the audio,
a poster and a storyboard, and the workflow outputs a player and a feed read from them."""

from __future__ import annotations

from collections.abc import Sequence

from darkroom.runtime.workflow import Ref, Step, StepOptions, Workflow

__all__ = ["add_delivery"]


def add_delivery(
    wf: Workflow,
    source: Ref[object],
    inspected: Step[object],
    renditions: Ref[object],
    audio: Ref[object],
    *,
    after: Sequence[Step[object]] = (),
) -> None:
    """Steps ``package`` (after ``after``), ``poster`` and ``storyboard`` (after ``inspected``), and the
    outputs ``package``, ``master``, ``mpd``, ``packaged``, ``poster`` and ``storyboard``."""
    packaged = wf.task("package", "media.package", renditions=renditions, audio=audio, options=StepOptions(after=after))
    cover = wf.task("poster", "media.poster", source=source, options=StepOptions(after=[inspected]))
    board = wf.task("storyboard", "media.storyboard", source=source, options=StepOptions(after=[inspected]))
    wf.output("package", packaged["files"])
    wf.output("master", packaged["master"])
    wf.output("mpd", packaged["mpd"])
    wf.output("packaged", packaged["renditions"])
    wf.output("poster", cover.ref)
    wf.output("storyboard", board.ref)
