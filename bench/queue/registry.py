"""The systems under test and how to start each one's commands."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass

from bench.queue.peers_env import BENCH, Env

__all__ = ["SYSTEMS", "System", "by_key"]

SYSTEMS_DIR = BENCH / "queue" / "systems"


@dataclass(frozen=True)
class System:
    key: str
    label: str
    runtime: str  # "project" | "peers" | "async" | "node"
    module: str  # python module, or the script file under systems/ for node
    shape: str  # the worker configuration, for the report
    darkroom: bool = False
    grpc: bool = False

    def command(self, env: Env, *args: str) -> list[str]:
        if self.runtime == "node":
            return [str(env.node), str(SYSTEMS_DIR / self.module), *args]
        python = {"project": env.project_python, "peers": env.peers_python, "async": env.async_python}[self.runtime]
        return [str(python), "-m", self.module, *args]

    def environ(self, env: Env, redis_url: str) -> dict[str, str]:
        out = dict(os.environ)
        out["BENCH_REDIS_URL"] = redis_url
        out["PYTHONPATH"] = str(BENCH.parent)
        out["NODE_PATH"] = str(env.node_modules)
        out.pop("PYTHONSTARTUP", None)
        return out

    def pending_reason(self) -> str | None:
        """Why the system cannot run yet (only the gRPC row can be waiting for its code)."""
        if not self.grpc:
            return None
        for module in ("darkroom.queue.server", "darkroom.queue.grpc_client"):
            try:
                if importlib.util.find_spec(module) is None:
                    return f"pending: {module} does not exist yet"
            except ModuleNotFoundError:
                return f"pending: {module} does not exist yet"
        return None


SYSTEMS: tuple[System, ...] = (
    System(
        "darkroom",
        "Darkroom direct",
        "project",
        "bench.queue.systems.darkroom_direct",
        "2 procs x 1 loop; enqueue_many 1000, dequeue 100 (wait_s=1), complete_many",
        darkroom=True,
    ),
    System(
        "darkroom-grpc",
        "Darkroom via gRPC",
        "project",
        "bench.queue.systems.darkroom_grpc",
        "1 server; 2 procs x 1 loop; same batches as direct",
        darkroom=True,
        grpc=True,
    ),
    System("bullmq", "BullMQ 6.7 (Node)", "node", "bullmq_peer.cjs", "2 procs x concurrency 50; addBulk 1000"),
    System("dramatiq", "Dramatiq 2.2", "peers", "bench.queue.systems.dramatiq_peer", "2 procs x 8 threads"),
    System("saq", "SAQ 0.26", "async", "bench.queue.systems.saq_peer", "2 procs x concurrency 50"),
    System("celery", "Celery 5.7 (Redis broker)", "peers", "bench.queue.systems.celery_peer", "2 procs x 8 threads"),
    System("arq", "arq 0.28", "async", "bench.queue.systems.arq_peer", "2 procs x max_jobs 50; poll 0.01 s"),
    System("rq", "RQ 3.0 (SimpleWorker)", "peers", "bench.queue.systems.rq_peer", "2 procs x 1 (SimpleWorker)"),
)


def by_key(keys: list[str] | None) -> list[System]:
    if not keys:
        return list(SYSTEMS)
    known = {s.key: s for s in SYSTEMS}
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise SystemExit(f"unknown systems {unknown}; choose from {sorted(known)}")
    return [known[k] for k in keys]


def grpc_server_command(env: Env, redis_url: str, port: int) -> list[str]:
    return [
        str(env.project_python),
        "-m",
        "bench.queue.systems.darkroom_grpc",
        "--url",
        redis_url,
        "server",
        "--port",
        str(port),
    ]
