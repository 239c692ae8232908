"""The Grafana dashboard and the Prometheus alert rules (deploy/): no Prometheus or Grafana runs here (nor
promtool), so their structure is checked, every query is parsed as PromQL (promql-parser, a port of
Prometheus's own parser), and every investiq_* series they query must be one the gateway exports
(gateway/metrics.py): a renamed metric cannot leave a silent panel or an alert that never fires."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from gateway.metrics import Metrics
from gateway.services.skill import FIGURES, JUDGED

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SERIES = re.compile(r"\binvestiq_[a-z0-9_]+")
DURATION = re.compile(r"^(\d+[smhdwy])+$")
# Grafana's own variables, filled in before the query reaches Prometheus; the dashboard's template variables
# ($window) stand only inside label matchers' strings, where they parse as they are.
GRAFANA_INTERVALS = re.compile(r"\$__(rate_interval|interval|range)\b")
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "info": ("_info",),
}


def exported() -> set[str]:
    """Every series name the gateway's registry can expose (labelled children need not exist yet)."""
    names: set[str] = set()
    for family in Metrics().registry.collect():
        names |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
    return names


@pytest.fixture(scope="module")
def alerts() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    return data


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DEPLOY / "grafana" / "dashboards" / "investiq.json").read_text())
    return data


def rules(alerts: dict[str, Any]) -> list[dict[str, Any]]:
    return [rule for group in alerts["groups"] for rule in group["rules"]]


def test_alert_rules_have_the_structure_prometheus_loads(alerts: dict[str, Any]):
    assert set(alerts) == {"groups"}
    groups = alerts["groups"]
    assert len({g["name"] for g in groups}) == len(groups)
    for group in groups:
        assert set(group) <= {"name", "interval", "rules", "limit"} and group["rules"]
        for rule in group["rules"]:
            assert set(rule) <= {"alert", "expr", "for", "labels", "annotations", "keep_firing_for"}, rule
            assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", rule["alert"])
            assert isinstance(rule["expr"], str) and rule["expr"].strip()
            assert rule["expr"].count("(") == rule["expr"].count(")"), rule["alert"]
            assert DURATION.match(rule["for"]), rule["alert"]
            assert rule["labels"]["severity"] in {"warning", "critical"}
            assert {"summary", "description"} <= set(rule["annotations"])
    names = [r["alert"] for r in rules(alerts)]
    assert len(set(names)) == len(names)


def panel_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, query) for every query of every panel, as Prometheus receives it."""
    return [
        (panel["title"], GRAFANA_INTERVALS.sub("5m", target["expr"]))
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]


def unparsable(queries: list[tuple[str, str]]) -> list[str]:
    wrong = []
    for name, query in queries:
        try:
            promql_parser.parse(query)
        except ValueError as error:
            wrong.append(f"{name}: {error}: {query}")
    return wrong


def test_every_alert_and_panel_query_is_valid_promql(alerts: dict[str, Any], dashboard: dict[str, Any]):
    """Prometheus loads no rule of a file with one bad expression, and a panel with one shows only an error."""
    queries = [(r["alert"], r["expr"]) for r in rules(alerts)] + panel_queries(dashboard)
    assert len(queries) > len(rules(alerts))
    assert unparsable(queries) == []


def test_the_parser_catches_what_prometheus_refuses():
    # After group_left a "(" opens the label list: a parenthesised right-hand side needs an empty list first.
    assert unparsable([("broken", "a > ignoring (x) group_left (b > 0)")])
    assert not unparsable([("fixed", "a > ignoring (x) group_left () (b > 0)")])
    assert unparsable([("grafana's variable", "rate(a[$__rate_interval])")])


def test_alerts_cover_the_journal_errors_and_live_skill(alerts: dict[str, Any]):
    exprs = {r["alert"]: r["expr"] for r in rules(alerts)}
    text = " ".join(exprs.values())
    assert "investiq_journal_failed_total" in text
    assert "investiq_journal_writable == 0" in text  # a journal moved under the gateway: nothing else says so
    assert re.search(r'status=~"5\.\."', text)
    # on the evidence /price/health judges on (the interval's lower end), for the version that serves now
    skill = next(r for r in rules(alerts) if 'figure="mae_ratio_ci95_low"' in r["expr"])
    assert re.search(r"> 1\b", skill["expr"]) and skill["for"] in {"12h", "24h", "1d", "2d", "3d"}
    # the join names the serving version by the label the skill gauge carries: a wrong label never fires
    joined = re.search(
        r'label_replace\(\s*investiq_model_info\{([^}]*)\},\s*"(\w+)",\s*"\$1",\s*"(\w+)",\s*"\(\.\*\)"\s*\)',
        skill["expr"],
    )
    assert joined is not None, skill["expr"]
    metrics = Metrics()
    assert joined.group(1) == 'task="price"' and "task" in metrics.model_info._labelnames
    assert joined.group(2) == "model_version" and "model_version" in metrics.price_skill._labelnames
    assert joined.group(3) in metrics.model_info._labelnames and joined.group(3) == "version"
    assert re.search(r"and on \(model_version\) label_replace", skill["expr"])
    # in the window health judges on (30 days of daily bars never hold the 10 periods an interval needs)
    assert 'window="judged"' in skill["expr"] and JUDGED == "judged"
    brier = next(r for r in rules(alerts) if 'figure="brier_skill_ci95_high"' in r["expr"])
    assert re.search(r"< 0\b", brier["expr"]) and 'window="judged"' in brier["expr"]
    # health's evidence: skill_min_resolved forecasts (the alerts cannot read the setting: keep them together)
    from investiq.core.settings import Settings

    coin = next(r for r in rules(alerts) if 'figure="brier_skill_vs_coin_ci95_high"' in r["expr"])
    assert re.search(r"< 0\b", coin["expr"]) and 'window="judged"' in coin["expr"]
    # intervals too narrow, at the shortfall health degrades on (gateway/services/skill.py COVERAGE_SHORT)
    from gateway.services.skill import COVERAGE_SHORT

    narrow = next(r for r in rules(alerts) if 'figure="coverage80_ci95_high"' in r["expr"])
    for level in (0.8, 0.9):
        assert (
            f'figure="coverage{level * 100:.0f}_ci95_high", window="judged"}} < {level - COVERAGE_SHORT:g}'
            in (narrow["expr"])
        )
    for rule in (skill, brier, coin, narrow):
        (least,) = re.findall(r'investiq_price_skill_resolved\{window="judged"\} >= (\d+)', rule["expr"])
        assert int(least) == Settings().skill_min_resolved, rule["alert"]
        assert "and on (model_version) label_replace(investiq_model_info" in rule["expr"], rule["alert"]
    # a symbol that degrades /price/health, for the serving version (health's other reasons had no alert)
    symbol = next(r for r in rules(alerts) if "investiq_price_symbol_worse" in r["expr"])
    assert "and on (model_version) label_replace(investiq_model_info" in symbol["expr"]
    assert {"model_version", "symbol"} == set(metrics.price_symbol_worse._labelnames)


def test_a_backend_that_cannot_answer_alerts_and_shows(alerts: dict[str, Any], dashboard: dict[str, Any]):
    """The gateway's /health/ready stays 200 while Triton is down (readiness gates on the journal only), so only
    these say so: investiq_backend_ready per task, and Prometheus's own scrape of Triton."""
    by_name = {r["alert"]: r for r in rules(alerts)}
    ready = by_name["InvestIQBackendNotReady"]
    # over a window, not the last sample: a gauge that flaps (one Triton server of several without the model)
    # reset `investiq_backend_ready == 0 for 2m` at every 1, and the alert never fired
    window = re.fullmatch(
        r"avg_over_time\(investiq_backend_ready\[(\d+)m\]\)\s*<\s*([0-9.]+)", ready["expr"].strip()
    )
    assert window, ready["expr"]
    minutes, threshold = int(window[1]), float(window[2])
    interval = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())["global"]["scrape_interval"]
    scrapes = minutes * 60 // int(interval.removesuffix("s"))  # in the window
    assert 0.5 < threshold < 1 - 1 / scrapes  # ready half the time fires; one failed scrape in the window does not
    assert ready["labels"]["severity"] == "critical" and ready["for"] == "2m"
    down = next(r for r in rules(alerts) if r["expr"].strip() == 'up{job="triton"} == 0')
    assert down["labels"]["severity"] == "critical"
    panel = next(
        p for p in dashboard["panels"] if any("investiq_backend_ready" in t["expr"] for t in p.get("targets", []))
    )
    assert panel["type"] == "stat"


def test_up_alerts_name_jobs_that_prometheus_scrapes(alerts: dict[str, Any]):
    """An up{job=...} alert on a job that no scrape config has never fires: the series does not exist."""
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    named = {job for r in rules(alerts) for job in re.findall(r'\bup\{job="([^"]+)"\}', r["expr"])}
    assert named >= {"gateway", "triton"} and named <= jobs, named - jobs


def test_alerts_and_dashboard_query_only_series_the_gateway_exports(
    alerts: dict[str, Any], dashboard: dict[str, Any]
):
    names = exported()
    figures = {f + end for f in FIGURES for end in ("", "_ci95_low", "_ci95_high")}  # investiq_price_skill's
    for rule in rules(alerts):
        assert set(SERIES.findall(rule["expr"])) <= names, rule["alert"]
        assert set(re.findall(r'figure=~?"([^"]+)"', rule["expr"])) <= figures, rule["alert"]
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            assert set(SERIES.findall(target["expr"])) <= names, panel["title"]
    for variable in dashboard["templating"]["list"]:
        assert set(SERIES.findall(variable["definition"])) <= names


def test_the_dashboard_shows_what_an_operator_needs(dashboard: dict[str, Any]):
    assert dashboard["uid"] and dashboard["title"] and isinstance(dashboard["schemaVersion"], int)
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    queried = " ".join(t["expr"] for p in panels for t in p["targets"])
    for series in (
        "investiq_http_requests_total",
        "investiq_http_request_duration_seconds_bucket",
        "investiq_journal_pending",
        "investiq_journal_failed_total",
        "investiq_journal_writable",
        "investiq_batch_size_bucket",
        "investiq_price_skill",
        "investiq_inference_duration_seconds_bucket",
        "investiq_model_info",
    ):
        assert series in queried, series
    assert "by (route" in queried and 'status=~"5.."' in queried
    assert any(p["type"] == "gauge" and "investiq_price_skill" in p["targets"][0]["expr"] for p in panels)
    for panel in panels:
        g = panel["gridPos"]
        assert g["x"] >= 0 and g["x"] + g["w"] <= 24 and g["h"] > 0


def test_compose_wires_the_rules_and_the_dashboard():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    mounts = dict(
        v.rsplit(":", 2)[:2][::-1] for v in compose["services"]["prometheus"]["volumes"] if v.startswith(".")
    )
    (rule_file,) = config["rule_files"]
    assert (ROOT / mounts[rule_file]).resolve() == (DEPLOY / "prometheus" / "alerts.yml").resolve()

    grafana = compose["services"]["grafana"]
    assert re.fullmatch(r"grafana/grafana:\d+\.\d+\.\d+", grafana["image"])  # pinned, never :latest
    assert all(p.startswith("127.0.0.1:") for p in grafana["ports"])
    binds = dict(v.rsplit(":", 2)[:2][::-1] for v in grafana["volumes"] if v.startswith("."))
    provisioning = ROOT / binds["/etc/grafana/provisioning"]
    (source,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"]
    assert source["url"] == "http://prometheus:9090" and source["uid"] == "prometheus"
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "investiq.yml").read_text())["providers"]
    dashboards = ROOT / binds[provider["options"]["path"]]
    assert (dashboards / "investiq.json").is_file()
    uids = {
        t["datasource"]["uid"]
        for p in json.loads((dashboards / "investiq.json").read_text())["panels"]
        for t in p.get("targets", [])
    }
    assert uids == {source["uid"]}
