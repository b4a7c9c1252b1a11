"""The Redis key schema of the runtime's own keys, beside the queue's (``darkroom.queue.keys``).

They live in the queue's namespace ``<ns>`` and follow its rule: the keys one script call touches
share a hash tag, so a Redis Cluster keeps them in one slot. The tags cannot be a queue's (queue
names have no ``:``), so no runtime key lands among a queue's keys::

    <ns>:{wf:<id>}:inbox     hash   a workflow's reports: field -> report bytes  (workflow/inbox.py)
    <ns>:{wf:<id>}:gen       string the inbox's generation counter
    <ns>:{rt:workers}:live   zset   worker name -> announcement expiry, seconds  (directory.py)
    <ns>:{rt:workers}:info   hash   worker name -> JSON {host, queues, shape}
    <ns>:{rt:workers}:heartbeat_failures  zset  "<worker>|<n>" -> when a lease extension failed, s
    <ns>:{rt:workers}:heartbeat_failures:n  string  the counter making those members unique
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from darkroom.queue.keys import Keys

__all__ = ["PATTERNS", "RuntimeKeys"]

# Every runtime key, as a regular expression over the part after "<ns>:" (the schema test matches
# the keyspace against them). Workflow ids are the runtime's own (no braces).
PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"\{wf:[^{}]+\}:(inbox|gen)"),
    re.compile(r"\{rt:workers\}:(live|info|heartbeat_failures(:n)?)"),
)


@dataclass(frozen=True, slots=True)
class RuntimeKeys:
    """Key names of the runtime's keys under one namespace (default ``dr``)."""

    namespace: str = "dr"

    def __post_init__(self) -> None:
        Keys(self.namespace)  # InvalidNamespace, as for the queue

    def _workflow(self, workflow_id: str) -> str:
        return f"{self.namespace}:{{wf:{workflow_id}}}:"

    def inbox(self, workflow_id: str) -> str:
        return self._workflow(workflow_id) + "inbox"

    def generation(self, workflow_id: str) -> str:
        return self._workflow(workflow_id) + "gen"

    @property
    def workers_live(self) -> str:
        return f"{self.namespace}:{{rt:workers}}:live"

    @property
    def workers_info(self) -> str:
        return f"{self.namespace}:{{rt:workers}}:info"

    @property
    def heartbeat_failures(self) -> str:
        return f"{self.namespace}:{{rt:workers}}:heartbeat_failures"
