"""Each script's ARGV is built by one class of ``darkroom.queue.calls``, in the layout its header
describes."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from darkroom.queue import calls
from darkroom.queue.scripts import SCRIPT_NAMES


def _classes() -> dict[str, type]:
    out: dict[str, type] = {}
    for name in calls.__all__:
        cls = getattr(calls, name)
        script = getattr(cls, "script", None)
        if isinstance(cls, type) and isinstance(script, str):
            assert script not in out, f"two classes build {script}'s ARGV"
            out[script] = cls
    return out


def _lua(name: str) -> str:
    return resources.files("darkroom.queue").joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")


def test_every_script_has_one_call_class() -> None:
    assert set(_classes()) == set(SCRIPT_NAMES)


def test_per_message_widths_match_the_scripts() -> None:
    enqueue = calls.EnqueueItem("i", b"", "{}", None, 0, None, "d", True).argv()
    assert re.search(rf"local W = {len(enqueue)}\n", _lua("enqueue"))
    settle = calls.SettleItem("i", 1, calls.SettleAction.FAIL, "e", True, 0).argv()
    assert re.search(rf"local b = 3 \+ i \* {len(settle)}\n", _lua("settle"))


def test_dequeue_layout_is_the_one_enqueue_lease_reads() -> None:
    """enqueue_lease.lua finds the enqueue's ARGV after the dequeue's by counting its fields."""
    dequeue = calls.Dequeue("q", 5, None, (("a", "1"), ("b", "2")), ("st", "att"))
    argv = dequeue.argv()
    n_crit = int(argv[3])
    deq_len = 4 + 2 * n_crit + 1 + int(argv[5 + 2 * n_crit - 1]) + 2  # the script's formula (1-based)
    assert deq_len == len(argv)
    enqueue = calls.Enqueue("q", (calls.EnqueueItem("i", b"", "{}", None, 0, None, "d", False),))
    assert calls.EnqueueLease(dequeue, enqueue).argv()[deq_len:] == enqueue.argv()


def test_enqueue_lease_takes_one_queue_and_no_waiter() -> None:
    enqueue = calls.Enqueue("q", ())
    with pytest.raises(ValueError):
        calls.EnqueueLease(calls.Dequeue("other", 1, None, (), ()), enqueue)
    with pytest.raises(ValueError):
        calls.EnqueueLease(calls.Dequeue("q", 1, None, (), (), waiter="w", wait_ms=5), enqueue)


def test_queue_settings_are_conf_fields() -> None:
    assert calls.CreateQueue("q", (("lease_ms", "5"),)).argv() == ("q", "lease_ms", "5")
    with pytest.raises(ValueError, match="'leas_ms'"):
        calls.UpdateQueue("q", (("leas_ms", "5"),)).argv()


def test_update_sends_only_what_changes() -> None:
    assert calls.Update("q", "m").argv() == ("q", "m")
    assert calls.Update("q", "m", deadline_ms=5, delay_ms=None).argv() == ("q", "m", "dl", 5, "delay_ms", "")
