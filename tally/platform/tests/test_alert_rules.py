"""Prometheus's alert rules (deploy/prometheus-rules.yml), checked without a Prometheus
server: every metric a rule reads is one the code defines, the rules are loaded by the
scrape configuration and mounted by docker-compose.yml, every alert has its on-call section
in docs/operations.md, and, with promtool installed (Debian's ``prometheus`` package),
promtool validates the rules and runs their unit tests (deploy/prometheus-rules.test.yml);
without it that test is skipped, saying so, except with ``PROMTOOL_REQUIRED=1`` (for CI).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from typing import Any

import pytest
import yaml

from tally.platform.testing.deploy import (
    BASE_DIR,
    PROMETHEUS_FILE,
    code_metric_families,
    compose,
    expression_metric_names,
    metric_family,
)

RULES_FILE = BASE_DIR / "deploy" / "prometheus-rules.yml"
RULES_TESTS_FILE = BASE_DIR / "deploy" / "prometheus-rules.test.yml"
OPERATIONS_DOC = BASE_DIR / "docs" / "operations.md"
# The alerts an operator must get (docs/operations.md#on-call).
REQUIRED_ALERTS = {
    "TallyLedgerVerifyMismatches",
    "TallyOutboxLag",
    "TallyHighErrorRate",
    "TallyActivationFailures",
    "TallyInsufficientFundsSpike",
}


def rules() -> list[dict[str, Any]]:
    loaded = yaml.safe_load(RULES_FILE.read_text())
    return [rule for group in loaded["groups"] for rule in group["rules"]]


def markdown_anchors(text: str) -> set[str]:
    """GitHub's anchors of a Markdown file's headings (lower case, punctuation dropped,
    spaces to hyphens)."""
    anchors = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*$", text, re.MULTILINE):
        anchor = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(anchor)
    return anchors


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("PROMTOOL_REQUIRED") == "1":
            pytest.fail("promtool is required (apt-get install prometheus)")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return path


def test_every_metric_a_rule_reads_is_defined_in_the_code() -> None:
    # given
    defined = code_metric_families()
    # then
    assert {alert["alert"] for alert in rules()} >= REQUIRED_ALERTS
    for rule in rules():
        names = expression_metric_names(rule["expr"])
        assert names, rule["alert"]
        for name in names:
            assert metric_family(name) in defined, f"{name} in {rule['alert']}"


def test_the_rule_name_check_can_fail() -> None:
    # given: a misspelt metric, as a rule could carry it
    defined = code_metric_families()
    # then
    names = expression_metric_names("max(tally_outbox_oldest_age_secs{job='tally-web'}) > 600")
    assert names == {"tally_outbox_oldest_age_secs"}
    assert metric_family("tally_outbox_oldest_age_secs") not in defined
    assert metric_family("tally_outbox_oldest_age_seconds") in defined


def test_prometheus_loads_the_rules_compose_mounts() -> None:
    # given
    config = yaml.safe_load(PROMETHEUS_FILE.read_text())
    prometheus = compose()["services"]["prometheus"]
    mounts = dict(volume.split(":")[:2] for volume in prometheus["volumes"])
    # then
    assert config["rule_files"] == ["/etc/prometheus/prometheus-rules.yml"]
    assert mounts["./deploy/prometheus-rules.yml"] == "/etc/prometheus/prometheus-rules.yml"


def test_every_alert_has_its_on_call_section() -> None:
    # given
    anchors = markdown_anchors(OPERATIONS_DOC.read_text())
    # then
    for rule in rules():
        runbook = rule["annotations"]["runbook"]
        path, _, anchor = runbook.partition("#")
        assert path == "docs/operations.md", rule["alert"]
        assert anchor == rule["alert"].lower(), rule["alert"]
        assert anchor in anchors, f"docs/operations.md has no section for {rule['alert']}"
        assert rule["labels"]["severity"] in {"critical", "warning"}


def test_promtool_accepts_the_rules_and_their_unit_tests_pass() -> None:
    # given
    binary = promtool()
    # when
    checked = subprocess.run(  # noqa: S603 -- promtool on files of this repository
        [binary, "check", "rules", str(RULES_FILE)], capture_output=True, text=True, timeout=60
    )
    tested = subprocess.run(  # noqa: S603 -- promtool on files of this repository
        [binary, "test", "rules", str(RULES_TESTS_FILE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    # then
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(rules())} rules found" in checked.stdout
    assert tested.returncode == 0, tested.stdout + tested.stderr
    tested_alerts = {
        case["alertname"]
        for test in yaml.safe_load(RULES_TESTS_FILE.read_text())["tests"]
        for case in test["alert_rule_test"]
    }
    assert tested_alerts == {rule["alert"] for rule in rules()}
