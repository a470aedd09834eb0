"""Runs the two third-party SCIM conformance checkers against a running server.

Called by scripts/conformance.sh with the Python of the checkers' virtualenv; not meant to be
run by hand. The checkers' own code decides what passes: this file only runs them, records the
HTTP exchanges each check made (to show them when a check fails) and turns the results into an
exit status.

  python conformance.py scim2-tester                 SCIM_URL, SCIM_TOKEN from the environment
  python conformance.py scim-sanity ALLOW_LIST_FILE  likewise

scim2-tester (python-scim) has no command line of its own (scim2-cli wraps it): it is the
library function `scim2_tester.check_server` given a scim2-client over httpx2 with the bearer
token, as its tutorial shows. A check fails when its status is ERROR (a MUST broken) or
CRITICAL; DEVIATION (a SHOULD not followed) is reported but does not fail.

scim-sanity is run through its own command line, `scim-sanity probe URL --token T
--i-accept-side-effects` (strict mode, its default), in this process so its requests can be
recorded. A check fails when its status is `fail` or `error`; `warn` does not fail. A failing
check is forgiven when its id is in the allow-list file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
from typing import Any

MAX_BODY = 1500


def _clip(text: str | None) -> str:
    if not text:
        return ""
    text = text.strip()
    return text if len(text) <= MAX_BODY else text[:MAX_BODY] + f"… ({len(text)} chars)"


class Tracer:
    """The HTTP exchanges made since the last check result was recorded."""

    def __init__(self) -> None:
        self.pending: list[dict[str, Any]] = []

    def record(self, method: str, url: str, request_body: str | None, status: int,
               content_type: str | None, response_body: str | None) -> None:
        base = os.environ["SCIM_URL"].rstrip("/")
        path = url[len(base):] if url.startswith(base) else url
        self.pending.append({
            "method": method, "path": path, "request": request_body, "status": status,
            "content_type": content_type, "response": response_body,
        })

    def take(self) -> list[dict[str, Any]]:
        taken, self.pending = self.pending, []
        return taken


TRACER = Tracer()


def print_exchanges(exchanges: list[dict[str, Any]], indent: str = "      ") -> None:
    if not exchanges:
        print(f"{indent}(no HTTP request recorded for this check)")
    for number, ex in enumerate(exchanges, 1):
        print(f"{indent}[{number}] {ex['method']} {ex['path']}")
        if ex["request"]:
            print(f"{indent}    request body: {_clip(ex['request'])}")
        print(f"{indent}    -> {ex['status']} ({ex['content_type'] or 'no Content-Type'})"
              + (f" {_clip(ex['response'])}" if ex["response"] else ""))


# --- scim2-tester ------------------------------------------------------------------------------

def run_scim2_tester(url: str, token: str) -> int:
    import importlib
    import pkgutil

    import httpx2
    import scim2_tester
    from scim2_client.engines.httpx2 import SyncSCIMClient
    from scim2_tester import Status, check_server
    from scim2_tester.utils import CheckResult, ResourceManager

    # Every CheckResult is built through the name `CheckResult` of a scim2_tester module: a
    # subclass bound to those names attaches to each result the exchanges made before it.
    @dataclasses.dataclass(repr=False)
    class TracedCheckResult(CheckResult):
        def __post_init__(self) -> None:
            self.exchanges = TRACER.take()

    for module_info in pkgutil.walk_packages(scim2_tester.__path__, "scim2_tester."):
        importlib.import_module(module_info.name)
    for name, module in list(sys.modules.items()):
        if name.startswith("scim2_tester") and getattr(module, "CheckResult", None) is CheckResult:
            module.CheckResult = TracedCheckResult

    # Each check deletes what it created after its result is built: those requests belong to
    # no check, so they are left out of the next check's exchanges.
    original_cleanup = ResourceManager.cleanup

    def cleanup(self: Any) -> None:
        pending = TRACER.take()
        original_cleanup(self)
        TRACER.take()
        TRACER.pending = pending

    ResourceManager.cleanup = cleanup  # type: ignore[method-assign]

    def on_response(response: Any) -> None:
        response.read()
        request = response.request
        TRACER.record(request.method, str(request.url), request.content.decode("utf-8", "replace") or None,
                      response.status_code, response.headers.get("content-type"), response.text or None)

    http = httpx2.Client(base_url=url, headers={"Authorization": f"Bearer {token}"},
                         event_hooks={"response": [on_response]}, timeout=30)
    results = check_server(SyncSCIMClient(http))

    failing = {Status.ERROR, Status.CRITICAL}
    counts: dict[str, int] = {}
    print(f"scim2-tester {_version('scim2-tester')} against {url}: {len(results)} checks")
    for result in results:
        counts[result.status.name] = counts.get(result.status.name, 0) + 1
        where = f" [{result.resource_type}]" if result.resource_type else ""
        print(f"  {result.status.name:<10} {result.title}{where}: {_indent(result.reason)}".rstrip())
    failures = [r for r in results if r.status in failing]
    deviations = [r for r in results if r.status == Status.DEVIATION]
    for heading, group in (("FAILED", failures), ("DEVIATION (reported, not failing)", deviations)):
        if not group:
            continue
        print(f"\nscim2-tester {heading}: {len(group)}")
        for result in group:
            where = f" [{result.resource_type}]" if result.resource_type else ""
            print(f"  * {result.title}{where} ({result.status.name})")
            print(f"      reason: {_indent(result.reason, 14)}")
            if result.data is not None and not _is_resource(result.data) and str(result.data) != result.reason:
                print(f"      data: {_indent(_clip(repr(result.data)), 12)}")
            print_exchanges(getattr(result, "exchanges", []))
    summary = ", ".join(f"{n} {name.lower()}" for name, n in sorted(counts.items()))
    print(f"\nscim2-tester: {summary}")
    print(f"scim2-tester: {'FAILED' if failures else 'passed'} ({len(failures)} failing checks)")
    return 1 if failures else 0


def _indent(text: str | None, width: int = 14) -> str:
    """A multi-line text continued under its first line."""
    return (text or "").rstrip().replace("\n", "\n" + " " * width)


def _is_resource(data: Any) -> bool:
    return type(data).__module__.startswith("scim2_models")


def _version(distribution: str) -> str:
    from importlib.metadata import version

    return version(distribution)


# --- scim-sanity -------------------------------------------------------------------------------

_ID_IN_PATH = re.compile(r"^(\w+ /\w+/)(?!\{id\})[^ /]+")


def sanity_check_id(name: str) -> str:
    """A check's id: its name, with a concrete resource id (cleanup checks) made `{id}`."""
    return _ID_IN_PATH.sub(r"\1{id}", name)


def read_allow_list(path: str) -> dict[str, str]:
    """`check id  # RFC … why our behaviour is allowed`, one a line; `#` lines are comments."""
    allowed: dict[str, str] = {}
    with open(path, encoding="utf-8") as file:
        for number, line in enumerate(file, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            check, _, comment = line.partition("#")
            if "RFC" not in comment:
                raise SystemExit(f"{path}:{number}: every allowed check needs a comment naming the RFC "
                                 f"section that allows the behaviour: {line.rstrip()}")
            allowed[check.strip()] = comment.strip()
    return allowed


def run_scim_sanity(url: str, token: str, allow_list: str) -> int:
    import scim_sanity.cli
    import scim_sanity.http_client
    import scim_sanity.probe.report
    from scim_sanity.probe.report import ProbeResult

    allowed = read_allow_list(allow_list)
    results: list[ProbeResult] = []

    original_init = ProbeResult.__init__

    def traced_init(self: ProbeResult, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.exchanges = TRACER.take()
        results.append(self)

    ProbeResult.__init__ = traced_init  # type: ignore[method-assign]

    original_request = scim_sanity.http_client.SCIMClient._request

    def traced_request(self: Any, method: str, path: str, payload: Any = None, extra_headers: Any = None) -> Any:
        response = original_request(self, method, path, payload, extra_headers)
        TRACER.record(method, f"{self.base_url}{path}", json.dumps(payload) if payload is not None else None,
                      response.status_code, response.header("Content-Type"), response.body or None)
        return response

    scim_sanity.http_client.SCIMClient._request = traced_request  # type: ignore[method-assign]

    arguments = ["probe", url, "--token", token, "--i-accept-side-effects"]
    print(f"scim-sanity {_version('scim-sanity')}: scim-sanity probe {url} --token *** --i-accept-side-effects")
    try:
        scim_sanity.cli.main.main(args=arguments, prog_name="scim-sanity", standalone_mode=False)
        tool_status = 0
    except SystemExit as exit_:
        tool_status = exit_.code if isinstance(exit_.code, int) else 1
    sys.stdout.flush()

    failing = [r for r in results if r.status in (ProbeResult.FAIL, ProbeResult.ERROR)]
    not_allowed = [r for r in failing if sanity_check_id(r.name) not in allowed]
    forgiven = [r for r in failing if sanity_check_id(r.name) in allowed]
    for heading, group in (("FAILED", not_allowed), ("failing but allowed", forgiven)):
        if not group:
            continue
        print(f"\nscim-sanity {heading}: {len(group)}")
        for result in group:
            check = sanity_check_id(result.name)
            print(f"  * {check} ({result.phase}; {result.status})")
            print(f"      message: {result.message}")
            if check in allowed:
                print(f"      allowed: {allowed[check]}")
            print_exchanges(getattr(result, "exchanges", []))
    unused = sorted(set(allowed) - {sanity_check_id(r.name) for r in failing})
    if unused:
        print(f"\nscim-sanity: allow-list entries that no longer fail (remove them): {', '.join(unused)}")
    print(f"\nscim-sanity: probe exited {tool_status}; {len(failing)} failing checks, "
          f"{len(forgiven)} allowed by {os.path.basename(allow_list)}")
    print(f"scim-sanity: {'FAILED' if not_allowed else 'passed'} ({len(not_allowed)} failing checks not allowed)")
    if not results and tool_status != 0:
        return 1
    return 1 if not_allowed else 0


def main() -> int:
    url, token = os.environ["SCIM_URL"].rstrip("/"), os.environ["SCIM_TOKEN"]
    if sys.argv[1:2] == ["scim2-tester"]:
        return run_scim2_tester(url, token)
    if sys.argv[1:2] == ["scim-sanity"] and len(sys.argv) == 3:
        return run_scim_sanity(url, token, sys.argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
