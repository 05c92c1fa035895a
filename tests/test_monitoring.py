"""deploy/: the Prometheus config and alert rules pass promtool (and their unit tests), the
Grafana dashboard is provisionable JSON on the provisioned datasource, and every metric the
dashboard and the rules query is served by a really running API, worker and scheduler."""

from __future__ import annotations

import json
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.live import free_port
from tests.remote_server import Reply, StubServer
from tests.stack import distributed_stack, wait_for

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
PROMETHEUS = DEPLOY / "prometheus"
GRAFANA = DEPLOY / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "autoglm.json"
# Series Prometheus makes itself for every target, not served by any process of ours.
SYNTHETIC = {"up"}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool"}
KEYWORDS |= {"and", "or", "unless", "inf", "nan"}
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
IDENTIFIER = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")

# Two fields: one on the local model (batches, tokens), one on a remote model (its breaker).
TEMPLATE = """\
name: monitored
version: "1"
variables: [team]
generate:
  summary:
    prompt: "Summarise the week of {{ team }} in one sentence."
    max_tokens: 8
    temperature: 0
  remark:
    prompt: "Add a remark."
    model: remote
    max_tokens: 8
body: |
  # {{ team }}

  {{ generated.summary }} {{ generated.remark }}
export:
  formats: [md]
"""


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    """Debian's promtool (`prometheus` package, scripts/bootstrap --dev)."""
    return subprocess.run(
        ["promtool", *args], capture_output=True, text=True, cwd=PROMETHEUS, timeout=120
    )


@cache
def dashboard() -> dict[str, Any]:
    data = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def rule_expressions() -> list[str]:
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text(encoding="utf-8"))
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def dashboard_expressions() -> list[str]:
    return [target["expr"] for panel in dashboard()["panels"] for target in panel["targets"]]


def metric_names(expr: str) -> set[str]:
    """The series names a PromQL expression selects: identifiers that are not functions,
    keywords, label names or values, grouping labels or durations."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # label values, strings
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges and subqueries
    text = GROUPING.sub("", text)
    text = re.sub(r"\boffset\s+\w+", "", text)
    names = set()
    for match in IDENTIFIER.finditer(text):
        following = text[match.end() :].lstrip()
        if following.startswith("("):  # a function or an aggregation
            continue
        names.add(match.group())
    return names - KEYWORDS


def test_metric_names_are_read_out_of_promql() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, template) (rate(a_seconds_bucket{x="y"}[5m])))'
        ' / ignoring(instance) b_total offset 1h and on (job) max without (le) (c{le="1"})'
    )
    assert metric_names(expr) == {"a_seconds_bucket", "b_total", "c"}


def test_prometheus_config_and_rules_pass_promtool() -> None:
    config = promtool("check", "config", "prometheus.yml")
    assert config.returncode == 0, config.stdout + config.stderr
    assert "1 rule files found" in config.stdout + config.stderr
    rules = promtool("check", "rules", "alerts.yml")
    assert rules.returncode == 0, rules.stdout + rules.stderr


def test_every_alert_fires_in_the_rule_unit_tests() -> None:
    result = promtool("test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    tests = yaml.safe_load((PROMETHEUS / "alerts_test.yml").read_text(encoding="utf-8"))
    fired = {
        case["alertname"]
        for test in tests["tests"]
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text(encoding="utf-8"))
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    assert fired == alerts


def test_prometheus_scrapes_the_api_every_worker_and_the_scheduler() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text(encoding="utf-8"))
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    discovered = {
        name: {n for sd in job.get("dns_sd_configs", []) for n in sd["names"]}
        for name, job in jobs.items()
    }
    assert discovered["autoglm-api"] == {"api"}
    assert discovered["autoglm-worker"] == {"worker", "worker-gpu"}
    assert discovered["autoglm-scheduler"] == {"scheduler"}
    for name in ("autoglm-worker", "autoglm-scheduler"):
        assert {sd["port"] for sd in jobs[name]["dns_sd_configs"]} == {9100}, name
    # The rules select the worker's series by the job name this config gives them.
    assert any('job="autoglm-worker"' in expr for expr in rule_expressions())


def test_the_dashboard_is_grafana_json_on_the_provisioned_datasource() -> None:
    datasources = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text(encoding="utf-8")
    )["datasources"]
    [prometheus] = [d for d in datasources if d["type"] == "prometheus"]
    assert prometheus["url"] == "http://prometheus:9090"
    providers = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "autoglm.yml").read_text(encoding="utf-8")
    )["providers"]
    assert [p["options"]["path"] for p in providers] == ["/etc/grafana/dashboards"]
    board = dashboard()
    assert board["uid"] and board["title"] and isinstance(board["schemaVersion"], int)
    panels = board["panels"]
    assert len({p["id"] for p in panels}) == len(panels), "panel ids repeat"
    for panel in panels:
        assert panel["type"] in {"timeseries", "stat"}, panel["title"]
        assert set(panel["gridPos"]) == {"x", "y", "w", "h"}
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]
        assert panel["datasource"]["uid"] == prometheus["uid"], panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == prometheus["uid"], panel["title"]
            assert target["expr"].strip() and target["refId"], panel["title"]
    used = set().union(*map(metric_names, dashboard_expressions()))
    for shown in ("autoglm_jobs", "autoglm_queue_depth", "autoglm_result_cache_requests_total"):
        assert shown in used


def served(url: str) -> set[str]:
    """Every sample name at a /metrics endpoint (histograms as _bucket, _sum, _count)."""
    text = httpx.get(url, timeout=10).text
    return {s.name for family in text_string_to_metric_families(text) for s in family.samples}


@pytest.mark.model
def test_every_metric_queried_is_served_by_the_running_processes(tmp_path: Path) -> None:
    worker_port, scheduler_port = free_port(), free_port()
    with StubServer([Reply(chunks=("Noted", "."))]) as stub:
        models = json.dumps({"remote": {"base_url": stub.base_url, "model": "stub"}})
        with distributed_stack(tmp_path, TEMPLATE, AUTOGLM_MODELS=models) as stack:
            stack.start("worker", AUTOGLM_METRICS_PORT=str(worker_port))
            stack.start("scheduler", AUTOGLM_METRICS_PORT=str(scheduler_port))
            job = stack.submit({"template": "monitored", "inputs": {"team": "core"}})
            done = stack.wait_status(job["id"], {"succeeded", "dead"}, 180)
            assert done["status"] == "succeeded", done["error"]
            scheduler = f"http://127.0.0.1:{scheduler_port}/metrics"
            wait_for(lambda: _answers(scheduler), 30, "the scheduler's /metrics")
            names = served(f"{stack.url}/metrics")
            names |= served(f"http://127.0.0.1:{worker_port}/metrics")
            names |= served(scheduler)
    queried = set().union(*map(metric_names, dashboard_expressions() + rule_expressions()))
    assert queried - SYNTHETIC - names == set()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False
