"""Time-ordered ids: one at a time (``new_id``) and a batch of them (``new_ids``)."""

from __future__ import annotations

import time

import pytest
from ulid import ULID

from darkroom.social.errors import InvalidInput
from darkroom.social.ids import check_id, new_id, new_ids, time_ms


def test_a_batch_is_valid_ulids_of_now_in_increasing_order() -> None:
    before = time.time_ns() // 1_000_000
    made = new_ids(1000)
    after = time.time_ns() // 1_000_000
    assert len(set(made)) == 1000 and made == sorted(made)
    for id_ in made:
        assert check_id(id_) == id_ and str(ULID.from_str(id_)) == id_  # the library reads it back the same
        assert before <= time_ms(id_) <= after


def test_batches_and_single_ids_do_not_collide() -> None:
    made = [i for _ in range(200) for i in new_ids(20)] + [new_id() for _ in range(1000)]
    assert len(set(made)) == len(made)


def test_an_empty_batch_is_no_ids() -> None:
    assert new_ids(0) == [] and new_ids(-1) == []


def test_a_malformed_id_is_named() -> None:
    with pytest.raises(InvalidInput, match="'01ARZ3NDEKTSV4RRFFQ69G5FAU!'"):
        check_id("01ARZ3NDEKTSV4RRFFQ69G5FAU!", field="post_id")
