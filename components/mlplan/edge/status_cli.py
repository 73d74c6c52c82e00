"""``mlplan status`` and ``mlplan logs``: a running endpoint read where it runs.

``status ENDPOINT`` prints, per deployment, instances ready / declared, live and mirror share
declared vs observed, requests, success rate, p50 / p95 / p99 and the status mix over the last
``--since`` (default 5m), from the router's per-request log (``planning.traffic_status``).
``logs ENDPOINT [DEPLOYMENT]`` prints one instance's server log (``az ml online-deployment
get-logs``). Both read where the stack runs (``edge.traffic_log``): the Docker host's
containers, or the Kubernetes cluster's pods. Nothing is written; keys never appear (the
router logs no header; the output is masked).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from typing import Any

from mlplan.edge.flags import whole_number

EXIT_OK, EXIT_ERROR = 0, 1
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(s|m|h|d)?")
MAX_SINCE_S = 7 * 24 * 3600


def duration(text: str) -> float:
    """``90`` or ``90s`` -> 90.0, ``5m`` -> 300.0, ``1h`` -> 3600.0, ``1d`` -> 86400.0;
    more than 0 and at most 7 days."""
    match = _DURATION.fullmatch(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a duration like 30s, 5m or 1h")
    seconds = float(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[
        match.group(2) or "s"]
    if not 0 < seconds <= MAX_SINCE_S:
        raise argparse.ArgumentTypeError(f"{text} must be more than 0 and at most 7d")
    return seconds


def add_parsers(commands: Any) -> None:
    from mlplan.edge.flags import stack_flag

    status = commands.add_parser(
        "status", help="per deployment: instances, shares, requests, success, latency",
        description="Read a running endpoint (Docker: the Docker API of the stack's host; "
                    "Kubernetes: the router pods' logs through the API) and print per "
                    "deployment: instances ready/declared, live and mirror "
                    "share declared vs observed, requests, success rate, p50/p95/p99 latency "
                    "and the status mix, from the router's per-request log. Writes nothing.")
    status.add_argument("endpoint", help="the endpoint's name (its `name:` in the YAML)")
    status.add_argument("--stack", default="dev", type=stack_flag,
                        help="stack whose files and settings are used (default dev)")
    status.add_argument("--since", default=300.0, type=duration, metavar="DURATION",
                        help="window of the router's log: 30s, 5m, 1h (default 5m)")
    status.add_argument("--format", choices=("text", "json"), default="text",
                        help="a table or one JSON document on stdout")
    logs = commands.add_parser(
        "logs", help="an instance's inference server log (as az ml online-deployment "
                     "get-logs)",
        description="Print the last lines of one instance's server log (Docker: the "
                    "container's stdout and stderr; Kubernetes: the pod's inference "
                    "container). Writes nothing.")
    logs.add_argument("endpoint", help="the endpoint's name")
    logs.add_argument("deployment", nargs="?",
                      help="the deployment (default: the one with the most live traffic)")
    logs.add_argument("--instance", type=int, default=0, metavar="N",
                      help="which instance, from 0 (default 0)")
    logs.add_argument("--lines", type=whole_number(1, 100_000), default=100, metavar="N",
                      help="how many lines from the end (default 100)")
    logs.add_argument("--stack", default="dev", type=stack_flag,
                      help="stack whose files and settings are used (default dev)")


def _declared(args: argparse.Namespace, command: str) -> tuple[Any, Any, Any] | None:
    """(state, endpoint state, project root) of the endpoint ``args.endpoint`` as the stack's
    files declare it, or None after printing why not. Reads files only: a command checks its
    arguments against this before it connects to anything."""
    from mlplan.edge.promote_cli import load_state

    state, root = load_state(args.stack, command, refuse=False)
    found = next((e for e in state.endpoints if e.name == args.endpoint), None)
    if found is None:
        known = ", ".join(e.name for e in state.endpoints) or "none"
        print(f"mlplan {command}: endpoint '{args.endpoint}' is not declared in stack "
              f"'{args.stack}' (endpoints: {known})", file=sys.stderr)
        return None
    return state, found, root


def _running(args: argparse.Namespace, command: str, state: Any, root: Any) -> Any | None:
    """The running endpoint's reader (Docker API or Kubernetes API), or None after printing
    why it cannot be read."""
    from mlplan.edge.traffic_log import TrafficReadError, running_endpoint

    try:
        return running_endpoint(root, args.stack, state, args.endpoint)
    except TrafficReadError as exc:
        print(f"mlplan {command}: {exc}", file=sys.stderr)
        return None


def run_status(args: argparse.Namespace) -> int:
    from mlplan.edge.traffic_log import TrafficReadError
    from mlplan.planning.traffic_status import endpoint_status
    from mlplan.render import status as render
    from mlplan.render.document import render_json

    declared = _declared(args, "status")
    if declared is None:
        return EXIT_ERROR
    state, endpoint_state, root = declared
    docker = _running(args, "status", state, root)
    if docker is None:
        return EXIT_ERROR
    now = time.time()
    try:
        requests = docker.requests(now - args.since, now + 1)
        instances = [(i.deployment, i.ready) for i in docker.instances()]
    except TrafficReadError as exc:
        print(f"mlplan status: {exc}", file=sys.stderr)
        return EXIT_ERROR
    report = endpoint_status(endpoint_state, instances, requests, args.since)
    if args.format == "json":
        sys.stdout.write(render_json(render.document(report, args.stack)))
    else:
        sys.stdout.write(render.render_text(report, args.stack))
    return EXIT_OK


def run_logs(args: argparse.Namespace) -> int:
    from mlplan.edge.traffic_log import TrafficReadError
    from mlplan.render import safe

    found = _declared(args, "logs")
    if found is None:
        return EXIT_ERROR
    state, endpoint_state, root = found
    endpoint = endpoint_state.endpoint
    names = [d.name for d in endpoint_state.deployments]
    deployment = args.deployment or max(
        names, key=lambda n: (endpoint.traffic_map.get(n, 0), n), default="")
    declared = next((d for d in endpoint_state.deployments if d.name == deployment), None)
    if declared is None:
        print(f"mlplan logs: deployment '{deployment}' is not declared on '{args.endpoint}' "
              f"(deployments: {', '.join(names) or 'none'})", file=sys.stderr)
        return EXIT_ERROR
    count = declared.deployment.instance_count
    if not 0 <= args.instance < max(count, 1):
        print(f"mlplan logs: --instance {args.instance}: {deployment} has {count} "
              f"instance(s), 0 to {count - 1}", file=sys.stderr)
        return EXIT_ERROR
    docker = _running(args, "logs", state, root)
    if docker is None:
        return EXIT_ERROR
    try:
        name = docker.instance_of(deployment, args.instance)
        if name is None:
            print(f"mlplan logs: {deployment} has no running instance {args.instance}",
                  file=sys.stderr)
            return EXIT_ERROR
        text = docker.instance_log(name, args.lines)
    except TrafficReadError as exc:
        print(f"mlplan logs: {exc}", file=sys.stderr)
        return EXIT_ERROR
    sys.stdout.write("".join(f"{safe.text(line)}\n" for line in text.splitlines()))
    return EXIT_OK
