"""Workflows: DAG definitions (dag.py), durable runs (store.py), the engine that advances them
(engine.py, planner.py), the inbox through which workers report (inbox.py), and the client that
starts, watches and cancels runs (client.py)."""

from darkroom.runtime.workflow.client import Workflows
from darkroom.runtime.workflow.dag import PRIORITIES, Ref, Step, StepOptions, Workflow
from darkroom.runtime.workflow.engine import Engine

__all__ = ["PRIORITIES", "Engine", "Ref", "Step", "StepOptions", "Workflow", "Workflows"]
