"""The analytics part of the social demo: after the scenario, on the same platform, the scenario's
events in ``darkroom.events`` (the platform's ingest child put them there), the jobs run once (the
``analytics.all`` workflow, on the platform's engine and analytics worker), a table of
``post_daily_stats`` for the demo's posts; then one more like, and the next run recomputes only the
keys that like changed (docs/analytics.md). The platform runs no trigger loop here, so these runs
are the ones that find each change. Waits are polls with a deadline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from darkroom.cli.demos.api_client import StepFailed, poll
from darkroom.cli.demos.checks import Check
from darkroom.cli.demos.social_scenario import Scenario
from darkroom.cli.demos.steps import Step, run_steps
from darkroom.config import Settings

if TYPE_CHECKING:  # imported when the steps run: pyarrow and pyiceberg stay out of `darkroom demo`'s start
    from pyiceberg.catalog.sql import SqlCatalog as Catalog

    from darkroom.analytics.jobs import Run
    from darkroom.runtime.workflow import Workflows

__all__ = ["AnalyticsDemo"]


@dataclass
class AnalyticsDemo:
    """Steps after ``scenario`` has run (it holds the posts' ids and the HTTP client)."""

    scenario: Scenario
    settings: Settings
    timeout_s: float
    console: Console
    workflows: Workflows  # the platform's, with the analytics workflows' definitions

    def run(self, checks: list[Check]) -> None:
        from darkroom.analytics import catalog_location, open_catalog

        catalog = open_catalog(catalog_location(self.settings))
        steps = [
            Step("analytics: the ingest has the scenario's events", lambda: self.ingested(catalog)),
            Step("analytics: the jobs run once over them", lambda: self.first_run(catalog)),
            Step("analytics: @cleo likes; only that key is recomputed", lambda: self.later_like(catalog)),
        ]
        try:
            run_steps(steps, checks, self.console)
        finally:
            catalog.engine.dispose()

    def ingested(self, catalog: Catalog) -> str:
        post, cleo_post = self.scenario.ids["post"], self.scenario.ids["cleo_post"]
        self._wait_for(catalog, "the scenario's events in darkroom.events", [
            ("comment.created", post, 1), ("post.liked", post, 1), ("post.created", cleo_post, 1)
        ])  # fmt: skip
        return "the comment, the like and @cleo's post are in darkroom.events"

    def first_run(self, catalog: Catalog) -> str:
        runs = self._run_all(catalog)
        self._show_stats(catalog, "post_daily_stats after the first run")
        modes = {r.job: str(r.mode) for r in runs}
        if modes["post_daily_stats"] != "full":
            raise StepFailed(f"the first run of post_daily_stats was {modes['post_daily_stats']}, not full")
        return ", ".join(f"{job} {mode}" for job, mode in modes.items())

    def later_like(self, catalog: Catalog) -> str:
        post = self.scenario.ids["post"]
        self.scenario.api.call("PUT", f"/v1/posts/{post}/like", as_="cleo", expect=(200, 201, 204))
        self._wait_for(catalog, "@cleo's like in darkroom.events", [("post.liked", post, 2)])
        stats = next(r for r in self._run_all(catalog) if r.job == "post_daily_stats")
        self._show_stats(catalog, "post_daily_stats after @cleo's like")
        if str(stats.mode) != "incremental":
            raise StepFailed(f"post_daily_stats ran {stats.mode}, not incremental")
        likes = [r["likes"] for r in self._stats(catalog) if r["post_id"] == post]
        if sum(likes) != 2:
            raise StepFailed(f"@ana's post has {sum(likes)} likes in post_daily_stats, not 2")
        return (
            f"incremental: {stats.files} file(s), {stats.records} event(s) read from the change, "
            f"{stats.keys_recomputed} key(s) recomputed"
        )

    # -- helpers -----------------------------------------------------------------------------------
    def _wait_for(self, catalog: Catalog, what: str, wanted: list[tuple[str, str, int]]) -> None:
        from darkroom.analytics import EVENTS

        next_s = [2.0]

        def there() -> bool | None:
            if not catalog.table_exists(EVENTS):
                return None
            rows = catalog.load_table(EVENTS).scan(selected_fields=("type", "post_id")).to_arrow().to_pylist()
            counts = {(t, p): sum(1 for r in rows if (r["type"], r["post_id"]) == (t, p)) for t, p, _ in wanted}
            return True if all(counts[(t, p)] >= n for t, p, n in wanted) else None

        def show(waited_s: float) -> None:
            if waited_s >= next_s[0]:  # every 2 s of the wait
                next_s[0] = waited_s + 2.0
                self.console.print(f"    [dim]… waiting for {escape(what)} ({waited_s:.0f}s)[/]", soft_wrap=True)

        poll(what, there, timeout_s=self.timeout_s, on_wait=show)

    def _run_all(self, catalog: Catalog) -> list[Run]:
        """Every job, as the platform's ``analytics.all`` workflow (what ``darkroom analytics run
        all`` starts), waited for; what each job's run did."""
        from darkroom.analytics.jobs import JOBS, Mode, Run
        from darkroom.analytics.workflows import ALL
        from darkroom.cli.analytics_progress import wait_for_run

        started = self.workflows.start(ALL, {}, labels={"trigger": "demo"})
        done = wait_for_run(self.workflows, started.id, timeout_s=self.timeout_s)
        if done.state != "succeeded":
            raise StepFailed(f"{ALL} run {done.id} {done.state}: {done.error}")
        outputs = done.outputs or {}
        runs = [Run(**{**outputs[job.name], "mode": Mode(outputs[job.name]["mode"])}) for job in JOBS]
        for r in runs:
            keys = "" if r.keys_recomputed is None else f", {r.keys_recomputed} key(s) recomputed"
            self.console.print(
                f"    [dim]{escape(r.job)}: {escape(str(r.mode))}, {r.files} file(s) / {r.records} event(s) "
                f"in the change{escape(keys)}, {r.rows_written} row(s) written[/]",
                soft_wrap=True,
            )
        return runs

    def _stats(self, catalog: Catalog) -> list[dict[str, Any]]:
        from darkroom.analytics.jobs import POST_DAILY_STATS

        posts = {self.scenario.ids["post"], self.scenario.ids["cleo_post"]}
        rows = catalog.load_table(POST_DAILY_STATS).scan().to_arrow().to_pylist()
        return sorted((r for r in rows if r["post_id"] in posts), key=lambda r: (str(r["day"]), str(r["post_id"])))

    def _show_stats(self, catalog: Catalog, title: str) -> None:
        names = {self.scenario.ids["post"]: "@ana's post", self.scenario.ids["cleo_post"]: "@cleo's post"}
        table = Table("post", "day", "impressions", "unique viewers", "likes", "comments", title=title)
        for r in self._stats(catalog):
            cells = [
                names[str(r["post_id"])],
                r["day"],
                r["impressions"],
                r["unique_viewers"],
                r["likes"],
                r["comments"],
            ]
            table.add_row(*(Text(str(c)) for c in cells))
        self.console.print(table)
