#!/usr/bin/env python3
"""Checks deploy/monitoring against the code (part of scripts/check-deploy.sh):

- the PrometheusRule's groups pass `promtool check rules` and the unit tests in
  deploy/monitoring/alerts-test.yaml (`promtool test rules`);
- every alert has a runbook section in deploy/README.md, under the heading its annotation names;
- the Grafana dashboard is valid JSON with a unique id per panel and a query per target;
- every metric the alerts and the dashboard use is one the code defines (the names given to
  platform::metrics, under the `scimsvc_` prefix, or the standard process_* ones), and every
  metric the code defines is in the README's metric table.

    python3 scripts/check-monitoring.py [--promtool PATH]   (run with a Python that has PyYAML)
"""
import argparse, json, os, re, shutil, subprocess, sys, tempfile

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MONITORING = os.path.join(ROOT, "deploy", "monitoring")
PROMQL_WORDS = {"sum", "max", "min", "avg", "by", "rate", "increase", "and", "or", "vector", "histogram_quantile",
                "le", "without", "on", "ignoring", "count", "topk", "absent", "bool", "unless", "offset"}


def code_metrics():
    """Every metric name given to platform::metrics' constructors, prefixed."""
    names = set()
    call = re.compile(r'(?:platform::metrics::)?(?:counter_vec|gauge_vec|gauge|histogram_vec)\(\s*"([a-z_]+)"', re.S)
    for crate in ("gateway", "provisioning-core", "directory-store", "platform"):
        for folder, _, files in os.walk(os.path.join(ROOT, crate, "src")):
            for name in files:
                if name.endswith(".rs"):
                    text = open(os.path.join(folder, name)).read()
                    names.update("scimsvc_" + m for m in call.findall(text) if not m.startswith("platform_test"))
    return names


def used_metrics(expr):
    """Metric names in a PromQL expression: identifiers with our prefix or process_."""
    expr = re.sub(r'\{[^}]*\}', "", expr)
    expr = re.sub(r'"[^"]*"', "", expr)
    found = set(re.findall(r'\b((?:scimsvc|process)_[a-z_]+)\b', expr))
    # Histograms are queried by their series.
    return {re.sub(r'_(bucket|sum|count)$', "", n) for n in found}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--promtool", default=shutil.which("promtool") or "promtool")
    args = parser.parse_args()
    problems = []
    defined = code_metrics()
    rule = yaml.safe_load(open(os.path.join(MONITORING, "prometheus-rules.yaml")))
    assert rule["kind"] == "PrometheusRule", "prometheus-rules.yaml is a PrometheusRule"
    groups = rule["spec"]["groups"]
    with tempfile.TemporaryDirectory() as work:
        with open(os.path.join(work, "rules.yaml"), "w") as out:
            yaml.safe_dump({"groups": groups}, out, sort_keys=False)
        shutil.copy(os.path.join(MONITORING, "alerts-test.yaml"), work)
        for command in (["check", "rules", "rules.yaml"], ["test", "rules", "alerts-test.yaml"]):
            done = subprocess.run([args.promtool, *command], cwd=work, capture_output=True, text=True)
            print(done.stdout.strip())
            if done.returncode != 0:
                problems.append(f"promtool {' '.join(command)}: {done.stdout}{done.stderr}")
    readme = open(os.path.join(ROOT, "deploy", "README.md")).read()
    headings = {re.sub(r"[^a-z0-9]", "", h.lower()) for h in re.findall(r"^#+ (.+)$", readme, re.M)}
    tested = open(os.path.join(MONITORING, "alerts-test.yaml")).read()
    alerts = [r for g in groups for r in g["rules"] if "alert" in r]
    for alert in alerts:
        name = alert["alert"]
        anchor = alert["annotations"]["runbook"].split("#", 1)[1]
        if anchor not in headings:
            problems.append(f"{name}: no runbook heading '{anchor}' in deploy/README.md")
        if f"alertname: {name}\n" not in tested:
            problems.append(f"{name}: no unit test in alerts-test.yaml")
        for metric in used_metrics(alert["expr"]) - defined:
            if not metric.startswith("process_"):
                problems.append(f"{name} uses {metric}, which the code does not define")
    dashboard = json.load(open(os.path.join(MONITORING, "dashboard.json")))
    ids = [p["id"] for p in dashboard["panels"]]
    if len(ids) != len(set(ids)):
        problems.append("dashboard.json: panel ids repeat")
    for panel in dashboard["panels"]:
        if not panel.get("targets"):
            problems.append(f"dashboard panel {panel['title']!r} has no query")
        for target in panel.get("targets", []):
            for metric in used_metrics(target["expr"]) - defined:
                if not metric.startswith("process_"):
                    problems.append(f"dashboard panel {panel['title']!r} uses {metric}, which the code does not define")
    table = open(os.path.join(ROOT, "README.md")).read()
    for metric in sorted(defined):
        if f"`{metric}`" not in table:
            problems.append(f"{metric} is defined in the code but missing from the README's metric table")
    print(f"[check-monitoring] {len(alerts)} alerts, {len(dashboard['panels'])} dashboard panels, {len(defined)} metrics")
    for problem in problems:
        print(f"[check-monitoring] {problem}", file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
