"""How the queue CLI shows things: JSON for scripts, Rich tables for people."""

from __future__ import annotations

import base64

from rich.markup import escape
from rich.table import Table
from rich.text import Text

import darkroom.queue as dq

__all__ = ["ago", "lease_json", "message_json", "message_table", "stats_json", "stats_table"]


def _bytes_json(data: bytes | None, name: str) -> dict[str, object]:
    if data is None:
        return {name: None, f"{name}_base64": None}
    try:
        text: str | None = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    return {name: text, f"{name}_base64": base64.b64encode(data).decode()}


def message_json(m: dq.Message) -> dict[str, object]:
    """A message as JSON: payload and result as UTF-8 text (null if binary) and base64."""
    out: dict[str, object] = {
        "id": m.id,
        "queue": m.queue,
        "state": m.state.value if m.state else None,
        "deadline": m.deadline,
        "metadata": m.metadata,
        "attempts": m.attempts,
        "max_attempts": m.max_attempts,
        "created_at": m.created_at,
        "updated_at": m.updated_at,
        "visible_at": m.visible_at,
        "lease_expires_at": m.lease_expires_at,
        "last_error": m.last_error,
    }
    return out | _bytes_json(m.payload, "payload") | _bytes_json(m.result, "result")


def lease_json(lease: dq.Lease) -> dict[str, object]:
    return {
        "queue": lease.queue,
        "token": lease.token,
        "expires_at": lease.expires_at,
        "message": message_json(lease.message),
    }


def stats_json(s: dq.QueueStats) -> dict[str, object]:
    return {
        "queue": s.queue,
        "counts": {state.value: n for state, n in s.counts.items()},
        "running_per_value": s.running_per_value,
        "oldest_pending_deadline": s.oldest_pending_deadline,
        "lateness_s": s.lateness_s,
        "now": s.now,
    }


def ago(moment: float | None, now: float) -> str:
    if moment is None or moment == 0:
        return "-"
    delta = moment - now
    return f"in {delta:.1f}s" if delta >= 0 else f"{-delta:.1f}s ago"


def message_table(
    messages: list[dq.Message], now: float, title: str | None = None, extra: dict[str, list[str]] | None = None
) -> Table:
    extra = extra or {}
    table = Table(title=title)
    for column in ("id", "state", "deadline", "attempts", "metadata", "payload", *extra):
        table.add_column(column, overflow="fold")
    for i, m in enumerate(messages):
        payload = m.payload[:40].decode("utf-8", "replace") + ("…" if len(m.payload) > 40 else "")
        meta = " ".join(f"{k}={v}" for k, v in sorted(m.metadata.items()))
        state = m.state.value if m.state else "-"
        cells = [m.id, state, ago(m.deadline, now), f"{m.attempts}/{m.max_attempts}", meta, payload]
        # Text, not str: user data must not be read as Rich markup
        table.add_row(*map(Text, cells), *(Text(values[i]) for values in extra.values()))
    return table


def stats_table(stats: list[dq.QueueStats], max_values: int = 3) -> Table:
    """Depth per state, running per exclusivity value, oldest pending deadline and its lateness."""
    table = Table(title="darkroom queues", caption="running per value: exclusive queues, busiest values first")
    table.add_column("queue", no_wrap=True)  # names matter most; narrow terminals fold the rest
    for state in dq.State:
        table.add_column(state.value, justify="right", overflow="fold")
    table.add_column("running per value", overflow="fold")
    table.add_column("oldest pending", justify="right", overflow="fold")
    table.add_column("lateness", justify="right", overflow="fold")
    for s in stats:
        top = sorted(s.running_per_value.items(), key=lambda kv: (-kv[1], kv[0]))
        shown = escape(" ".join(f"{k}:{v}" for k, v in top[:max_values]))
        if len(top) > max_values:
            shown += f" (+{len(top) - max_values})"
        late = s.lateness_s
        table.add_row(
            Text(s.queue),
            *(str(s.counts.get(state, 0)) for state in dq.State),
            shown or "-",
            ago(s.oldest_pending_deadline, s.now),
            f"[red]{late:.1f}s[/red]" if late > 0 else "0",
        )
    return table
