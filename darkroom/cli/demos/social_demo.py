"""The social scenario of ``darkroom demo`` (``make demo``), through the HTTP API of a private platform.

The platform runs with its social parts (the social runner, the HTTP API on a free port) in its own
home, wiped at each run (only a home this demo made: it carries :data:`MARKER`). Over HTTP: three
people sign up and log in; @cleo turns private; @ben follows @ana; @ana uploads a photo (multipart)
and a clip (tus, in two chunks) and posts them; the post becomes ready and its renditions are
served; @ben's feed shows it; @ben likes and comments and @ana sees the counts; @ben's follow of
@cleo is a request, which @cleo accepts, and then @ben sees @cleo's posts. Then analytics
(:mod:`darkroom.cli.demos.analytics_demo`): the jobs run over the scenario's events, and again after
one more like, recomputing only what it changed. Every step is a check
(✓/✗); the first failing step ends the scenario (the steps: :mod:`darkroom.cli.demos.social_scenario`).
"""

from __future__ import annotations

import shutil
import socket
from dataclasses import dataclass, field, replace
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from darkroom.cli.demos.analytics_demo import AnalyticsDemo
from darkroom.cli.demos.api_client import ApiClient
from darkroom.cli.demos.checks import Check
from darkroom.cli.demos.social_scenario import Scenario
from darkroom.config import Settings
from darkroom.errors import DarkroomError
from darkroom.local.platform import ANALYTICS_APP, LocalPlatform, PlatformConfig
from darkroom.platform.wiring import Wiring

__all__ = ["MARKER", "DemoHomeInUse", "SocialDemoResult", "run_social_demo"]

MARKER = ".darkroom-social-demo"


class DemoHomeInUse(DarkroomError):
    """The social demo's home holds something the demo did not make: it is left alone."""


@dataclass
class SocialDemoResult:
    http: str
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)


def run_social_demo(
    home: Path, *, workers: int = 2, timeout_s: float = 180.0, console: Console | None = None
) -> SocialDemoResult:
    """Start a platform with its social parts under ``home`` (made afresh), run the scenario over
    HTTP, check every step; ``timeout_s`` bounds each wait for background work."""
    console = console or Console()
    _fresh(home)
    address = f"127.0.0.1:{_free_port()}"
    settings = replace(
        Settings.from_env(), home=home, grpc_addr="127.0.0.1:0", redis_url="", database_url="", http_addr=address
    )
    platform = LocalPlatform(
        settings,
        PlatformConfig(
            workers=workers, concurrency=2, metrics=False, social=True, analytics=True, analytics_scheduler=False
        ),
    )
    result = SocialDemoResult(f"http://{address}")
    console.print(f"[bold]social demo[/]: a platform under {escape(str(home))}, HTTP on {escape(result.http)} …")
    platform.start()
    api = ApiClient(result.http)
    try:
        scenario = Scenario(api, platform, home / "inputs", timeout_s, console)
        scenario.run(result.checks)
        if result.ok:  # the analytics part reads what the scenario made
            analytics = _analytics_wiring(platform)
            try:
                AnalyticsDemo(scenario, settings, timeout_s, console, analytics.workflows).run(result.checks)
            finally:
                analytics.close()
    finally:
        api.close()
        platform.stop()
    _render(console, result)
    return result


def _analytics_wiring(platform: LocalPlatform) -> Wiring:
    """The platform's clients with the analytics workflows' definitions (to start their runs)."""
    assert platform.wiring is not None  # started
    return Wiring(platform.wiring.settings, ANALYTICS_APP)


def _fresh(home: Path) -> None:
    """Empty ``home`` when this demo made it (its marker is there); refuse any other non-empty one."""
    if home.exists() and any(home.iterdir()):
        if not (home / MARKER).is_file():
            raise DemoHomeInUse(f"{home} holds files the social demo did not make: choose another folder")
        shutil.rmtree(home)
    home.mkdir(parents=True, exist_ok=True)
    (home / MARKER).write_text("made by darkroom demo: emptied at each run\n")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _render(console: Console, result: SocialDemoResult) -> None:
    table = Table("step", "", "detail", title="darkroom demo: social, over HTTP")
    for check in result.checks:
        table.add_row(
            Text(check.name), Text("✓" if check.ok else "✗", style="green" if check.ok else "red"), Text(check.detail)
        )
    console.print(table)
    if result.ok:
        console.print(f"[green]OK[/]: every step of the social scenario checks out ({escape(result.http)})")
    else:
        console.print("[red]FAILED[/]: see the steps marked ✗ above")
