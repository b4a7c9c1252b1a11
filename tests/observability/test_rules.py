"""The alert rules: the committed Prometheus file is the one ``rules.py`` generates, ``promtool``
accepts it and passes its unit tests (deploy/prometheus/darkroom-rules.test.yml), every rule has a
runbook paragraph and a unit test, and the thresholds are the checks' own."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from darkroom.observability import Thresholds
from darkroom.observability.checks import CHECK_NAMES
from darkroom.observability.platform_checks import PLATFORM_CHECK_NAMES, PlatformThresholds
from darkroom.observability.rules import RULES, RULES_PATH, Severity, for_of, prometheus_rules

ROOT = Path(__file__).resolve().parents[2]
RULES_FILE = ROOT / RULES_PATH
TESTS_FILE = RULES_FILE.with_name("darkroom-rules.test.yml")


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        reason = "promtool is not installed (make setup installs Debian's prometheus as root)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (required in CI)")
        pytest.skip(reason)
    return found


def test_the_committed_rules_are_the_generated_ones() -> None:
    assert RULES_FILE.read_text() == prometheus_rules(), "run `python -m darkroom.observability.rules`"


def test_promtool_accepts_the_rules_and_passes_their_unit_tests() -> None:
    tool = promtool()
    check = subprocess.run(
        [tool, "check", "rules", str(RULES_FILE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    test = subprocess.run(
        [tool, "test", "rules", TESTS_FILE.name],
        cwd=TESTS_FILE.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert test.returncode == 0, test.stdout + test.stderr
    assert "SUCCESS" in test.stdout


def test_every_alert_and_severity_has_a_unit_test() -> None:
    tested = set(re.findall(r"alertname: (\w+)", TESTS_FILE.read_text()))
    assert {r.alert for r in RULES} <= tested
    text = TESTS_FILE.read_text()
    for rule in RULES:
        block = "".join(re.findall(rf"alertname: {rule.alert}\n((?:\s+(?!- eval_time).*\n)*)", text))
        for severity in rule.severities:
            assert f"severity: {severity.value}" in block, f"{rule.alert} never expected to fire as {severity}"


def test_every_rule_has_a_runbook_paragraph() -> None:
    doc = (ROOT / "docs" / "observability.md").read_text()
    headings = set(re.findall(r"^#{2,5} `([a-z_]+)`", doc, flags=re.MULTILINE))
    missing = sorted({r.anchor for r in RULES} - headings)
    assert not missing, f"no runbook heading for {missing}"


def test_the_thresholds_are_the_checks_own() -> None:
    t, p = Thresholds(), PlatformThresholds()
    by_alert = {r.alert: r for r in RULES}
    assert by_alert["RedisLatency"].limit is t.latency_ms
    assert by_alert["RedisMemory"].threshold(Severity.CRITICAL) == t.memory.critical
    assert f"< {t.hit_rate.warn:g}" in by_alert["RedisHitRate"].expr(Severity.WARNING)
    assert by_alert["DarkroomQueueLate"].limit is p.queue_lateness_s
    # every Redis check and every embedded platform check has a rule, so both setups judge the same
    assert set(CHECK_NAMES) | set(PLATFORM_CHECK_NAMES) <= {r.check for r in RULES}
    assert for_of("latency") == 300 and for_of("evictions") == 0
