"""The labels of a processing upload's running step: every step of the workflows a person waits on
has one, and the latest started labelled step wins over a step without one."""

from __future__ import annotations

from darkroom.services.images import images_video, photo_renditions
from darkroom.services.streaming import streaming_video
from darkroom.services.studio import studio_video
from darkroom.social.processing_steps import STEP_LABELS, step_label


def test_every_step_of_the_video_and_photo_workflows_but_the_audio_has_a_label() -> None:
    for workflow in (streaming_video(), studio_video(), photo_renditions(), images_video()):
        names = set(workflow.steps) - {"audio"}
        assert names <= set(STEP_LABELS), (workflow.name, sorted(names - set(STEP_LABELS)))


def test_the_latest_started_labelled_step_is_shown() -> None:
    assert step_label(["audio", "encode", "inspect"]) == "encoding"
    assert step_label(["quality", "encode"]) == "checking quality"
    assert step_label(["audio"]) == step_label([]) == ""
