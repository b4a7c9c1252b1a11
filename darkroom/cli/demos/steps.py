"""A demo's steps run as checks: each printed as it ends (✓ or ✗ with its detail, escaped), and
once a step the later ones need fails, the rest are counted as not run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.markup import escape

from darkroom.cli.demos.api_client import StepFailed
from darkroom.cli.demos.checks import Check

__all__ = ["Step", "run_steps"]


@dataclass(frozen=True)
class Step:
    """``run`` answers the check's detail or raises :class:`StepFailed`; ``needed``: the later
    steps need it (a failure stops the demo there)."""

    name: str
    run: Callable[[], str]
    needed: bool = True


def run_steps(steps: Sequence[Step], checks: list[Check], console: Console) -> bool:
    """Run ``steps`` in order into ``checks``; False once a needed step failed (the rest not run)."""
    for n, step in enumerate(steps):
        try:
            check = Check(step.name, True, step.run())
        except StepFailed as exc:
            check = Check(step.name, False, str(exc))
        checks.append(check)
        mark = "[green]✓[/]" if check.ok else "[red]✗[/]"
        console.print(f"  {mark} {escape(step.name)} [dim]{escape(check.detail)}[/]", soft_wrap=True)
        if not check.ok and step.needed:
            checks += [Check(later.name, False, "not run: an earlier step failed") for later in steps[n + 1 :]]
            return False
    return True
