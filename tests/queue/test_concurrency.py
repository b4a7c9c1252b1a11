"""Many consumer processes on one exclusive queue: limits hold and every message ends once."""

from __future__ import annotations

import json
import multiprocessing
from collections import Counter, defaultdict
from pathlib import Path

import pytest

import darkroom.queue as dq
from tests.queue import workers


@pytest.mark.slow
@pytest.mark.parametrize("limit", [1, 2])
def test_exclusive_limit_holds_across_processes(rq: dq.RedisQueue, redis_url: str, tmp_path: Path, limit: int) -> None:
    rq.create_queue("assets", exclusivity_key="asset", exclusivity_limit=limit, max_attempts=5)
    n_values, per_value = 12, 20
    batch = [dq.NewMessage(metadata={"asset": f"a{i % n_values}"}, deadline=i % 7) for i in range(n_values * per_value)]
    ids = rq.enqueue_many("assets", batch)
    ctx = multiprocessing.get_context("spawn")
    files = [tmp_path / f"history-{i}.jsonl" for i in range(4)]
    procs = [
        ctx.Process(target=workers.exclusive_consumer, args=(redis_url, "assets", str(f), i, 0.1))
        for i, f in enumerate(files)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0

    history = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    by_value: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for row in history:
        by_value[row["value"]].append((row["start"], row["end"]))
    for value, intervals in by_value.items():
        events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals], key=lambda x: (x[0], x[1]))
        running = peak = 0
        for _, delta in events:
            running += delta
            peak = max(peak, running)
        assert peak <= limit, f"value {value} had {peak} messages running at once (limit {limit})"

    completions = Counter(row["id"] for row in history if row["outcome"] == "completed")
    assert set(completions) == set(ids)
    assert max(completions.values()) == 1, "every message completed exactly once"
    assert rq.count("assets", dq.State.COMPLETED) == len(ids)
    assert rq.stats("assets").running_per_value == {}
    workers_used = {rq.get("assets", mid).result for mid in ids}
    assert len(workers_used) > 1, "the work was shared by several processes"
