"""What both video profiles end with: the package (HLS + DASH) over the renditions and the audio,
a poster and a storyboard, and the workflow outputs a player and a feed read from them."""

from __future__ import annotations

from collections.abc import Sequence

from darkroom.runtime.workflow import Ref, Step, Workflow

__all__ = ["add_delivery"]


def add_delivery(
    wf: Workflow, source: Ref, inspected: Step, renditions: Ref, audio: Ref, *, after: Sequence[Step] = ()
) -> None:
    """Steps ``package`` (after ``after``), ``poster`` and ``storyboard`` (after ``inspected``), and the
    outputs ``package``, ``master``, ``mpd``, ``packaged``, ``poster`` and ``storyboard``."""
    packaged = wf.task("package", "media.package", after=after, renditions=renditions, audio=audio)
    cover = wf.task("poster", "media.poster", after=[inspected], source=source)
    board = wf.task("storyboard", "media.storyboard", after=[inspected], source=source)
    wf.output("package", packaged["files"])
    wf.output("master", packaged["master"])
    wf.output("mpd", packaged["mpd"])
    wf.output("packaged", packaged["renditions"])
    wf.output("poster", cover.ref)
    wf.output("storyboard", board.ref)
