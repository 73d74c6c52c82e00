"""``mlplan promote`` and ``mlplan rollback``: argv -> files, stack updates, exit code.

Plan only (default): print every step with its traffic, instances and quota; exit 1 if any
step is invalid or over quota. ``--write``: edit the endpoint file to the next step only (a
pull request per step, reviewed with ``mlplan review``). ``--apply``: all steps through the
Pulumi Automation API with a gate between steps and rollback on failure.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mlplan.edge.flags import whole_number

EXIT_OK, EXIT_ERROR = 0, 1


def _steps(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a list of percents like 10,50,100") from None


def _number(text: str) -> float:
    """A finite, non-negative number (``numbers.parse_number``): ``--bake inf`` is refused."""
    from mlplan.domain.numbers import NumberError, parse_number

    try:
        value = parse_number(text)
    except NumberError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative; write 0 or more")
    return value


def _stack(text: str) -> str:
    from mlplan.edge.flags import stack_flag

    return stack_flag(text)


def _percent(text: str) -> float:
    """A percent, 0 to 100: ``--min-success-rate 99.5``; ``5`` is 5%, not a rate of 5."""
    value = _number(text)
    if value > 100:
        raise argparse.ArgumentTypeError(f"{text} is over 100; write a percent like 99")
    return value


def _positive(text: str) -> float:
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be more than 0")
    return value


def _ratio(text: str) -> float:
    value = _number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is under 1; a ratio like 1.5 (x the stable "
                                         "deployment's p99) is at least 1")
    return value


#: --apply's gate options: (flag, dest, type, default, help). Refused without --apply.
GATE_OPTIONS: tuple[tuple[str, str, Callable[[str], Any], Any, str], ...] = (
    ("--bake", "bake", _positive, 60.0,
     "how long each step's requests are watched before the gate judges them (default 60)"),
    ("--min-success-rate", "min_success_rate", _percent, 99.0,
     "share of the candidate's judged requests that must succeed (default 99)"),
    ("--max-p99-ms", "max_p99_ms", _positive, 500.0,
     "highest p99 latency of the candidate's requests, in ms (default 500)"),
    ("--max-success-drop", "max_success_drop", _percent, 1.0,
     "points the candidate's success rate may be below the stable deployments' in the same "
     "window (default 1)"),
    ("--max-p99-ratio", "max_p99_ratio", _ratio, 1.5,
     "highest candidate p99 as a multiple of the stable deployments' (default 1.5, never "
     "under their p99 + 50 ms)"),
    ("--min-requests", "min_requests", whole_number(1, 1_000_000), 100,
     "judged candidate requests a step needs; thin live traffic is topped up with probes "
     "pinned to the candidate (default 100: one failure is 1 point)"),
    ("--sample", "sample", Path, None,
     "JSON the probes POST to the scoring URI (default: GET /, the liveness route)"),
)


METAVARS = {"bake": "SECONDS", "min_success_rate": "PERCENT", "max_p99_ms": "MS",
            "max_success_drop": "POINTS", "max_p99_ratio": "RATIO", "min_requests": "N",
            "sample": "FILE"}


def add_parsers(commands: Any) -> None:
    promote = commands.add_parser(
        "promote", help="plan, write or apply a blue/green promotion step by step",
        description="Move live traffic to a deployment in safe steps: optional mirror, each "
                    "live step, then retire the old deployments (traffic first, delete after). "
                    "Without --write or --apply nothing is written: the steps are printed "
                    "(stdout) and checked as `mlplan plan` checks the stack. A stack with any "
                    "error diagnostic is refused, nothing written. While a promotion is in "
                    "progress, the endpoint file's tags record where it started (every "
                    "deployment's live share and the mirror) for `mlplan rollback`.",
        epilog="Gate (--apply): after each step's pulumi up, the candidate's requests during "
               "the bake are read from the router's per-request log; users' 2xx succeed, "
               "408/429/5xx/timeouts/resets fail, other 4xx (the caller's) count neither way; "
               "probes (anything but 2xx fails) top up thin traffic. A failed gate or a failed "
               "pulumi up writes the start split back (mirror off), runs pulumi up and exits 1.")
    promote.add_argument("endpoint", help="the endpoint's name (its `name:` in the YAML)")
    promote.add_argument("--to", required=True, metavar="DEPLOYMENT",
                         help="the deployment that takes all live traffic at the end")
    promote.add_argument("--steps", type=_steps, default=(10, 50, 100), metavar="10,50,100",
                         help="live percents of the candidate, rising, ending at 100")
    promote.add_argument("--mirror", type=int, metavar="PERCENT",
                         help="mirror this share to the new deployment first (1-50)")
    promote.add_argument("--stack", default="dev", type=_stack,
                         help="stack whose files and settings are used (default dev: "
                              "stacks/Pulumi.dev.yaml)")
    mode = promote.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true",
                      help="edit the endpoint YAML to the next step only (and, at the retire "
                           "step, delete the retired deployments' files): one reviewed pull "
                           "request per step")
    mode.add_argument("--apply", action="store_true",
                      help="run every step: write the endpoint YAML, pulumi up (Automation "
                           "API, needs the pulumi CLI), gate; the files end at the last step")
    for flag, dest, kind, _default, text in GATE_OPTIONS:
        promote.add_argument(flag, dest=dest, type=kind, default=None,
                             metavar=METAVARS[dest],
                             help=f"with --apply: {text}")
    promote.add_argument("--format", choices=("text", "json"), default="text",
                         help="stdout as a table or one JSON document; progress and "
                              "diagnostics go to stderr")
    rollback = commands.add_parser(
        "rollback", help="return all live traffic to where a promotion started, in one step",
        description="Write the endpoint file back to the split recorded when the promotion "
                    "started (every deployment's live share and the mirror) and remove the "
                    "promotion's tags. Refused, nothing written, when the stack has any error "
                    "diagnostic or no promotion is in progress.")
    rollback.add_argument("endpoint", help="the endpoint's name (its `name:` in the YAML)")
    rollback.add_argument("--stack", default="dev", type=_stack,
                          help="stack whose files and settings are used (default dev)")
    rollback.add_argument("--apply", action="store_true",
                          help="also run pulumi up of the stack (needs the pulumi CLI)")


def _checked(root: Path) -> Callable[[Any], Any]:
    """The stack's checks (``mlplan.check`` with the target's project reader) for a state of
    this project: what ``mlplan plan --stack`` adds."""
    from mlplan.check import with_stack_diagnostics
    from mlplan.targets import registry

    return lambda state: with_stack_diagnostics(
        state, registry.project_reader(state.target, root))


def load_state(stack: str, command: str = "promote", *, refuse: bool = True
               ) -> tuple[Any, Path]:
    """The stack's desired state, checked as ``mlplan plan --stack`` checks it
    (``pipeline.checked_state``). A stack with an error is refused: every diagnostic on
    stderr, exit 1, nothing written (a step planned from a broken stack would look fine).
    ``refuse=False``: read-only commands (``mlplan status``) go on with what was read."""
    from mlplan.domain.diagnostics import has_errors
    from mlplan.edge import io, pipeline

    root = io.find_project_root(Path.cwd())
    if root is None:
        raise SystemExit("mlplan: no Pulumi.yaml here or above; run inside an mlplan project")
    loaded = io.load_stack(root, stack)
    if not loaded.endpoints and has_errors(loaded.diagnostics):
        # nothing could be read (no stack file, no readable endpoint): only the real errors,
        # not "endpoint ... is not declared" on top
        sys.stderr.write("".join(f"{d}\n" for d in loaded.diagnostics))
        raise SystemExit(EXIT_ERROR)
    state = pipeline.checked_state(loaded.endpoints, loaded.settings, loaded.diagnostics, root)
    if refuse and has_errors(state.diagnostics):
        sys.stderr.write("".join(f"{d}\n" for d in state.diagnostics))
        sys.stderr.write(f"mlplan {command}: the stack has errors (above); fix them first. "
                         "Nothing was written.\n")
        raise SystemExit(EXIT_ERROR)
    return state, root


class AutomationStack:
    """The real Automation API: ``pulumi up`` of the stack in the project folder."""

    def __init__(self, root: Path, stack: str) -> None:
        from pulumi import automation

        self._stack = automation.select_stack(stack_name=stack, work_dir=str(root))

    def up(self) -> None:
        self._stack.up(on_output=lambda line: print(line, file=sys.stderr))

    def outputs(self) -> Mapping[str, Any]:
        return {name: output.value for name, output in self._stack.outputs().items()}


def _gate_flags(args: argparse.Namespace) -> str | None:
    """The problem with the gate options, or None: they apply with --apply only, and the
    --sample file must be readable."""
    given = [flag for flag, dest, *_rest in GATE_OPTIONS if getattr(args, dest) is not None]
    if given and not args.apply:
        return (f"{', '.join(given)} only apply with --apply (the gate runs between applied "
                "steps); add --apply or drop them")
    for _flag, dest, _kind, default, _help in GATE_OPTIONS:
        if getattr(args, dest) is None:
            setattr(args, dest, default)
    if args.sample is not None:
        try:
            args.sample_body = args.sample.read_bytes()
        except OSError as exc:
            return f"--sample {args.sample}: {exc.strerror or exc}"
    else:
        args.sample_body = None
    return None


def _pulumi_missing() -> str | None:
    import shutil

    if shutil.which("pulumi") is None:
        return ("--apply runs pulumi up through the Automation API, which needs the pulumi "
                "CLI on PATH; it was not found (install it, or use --write and your "
                "pipeline's pulumi up). Nothing was written.")
    return None


def run_promote(args: argparse.Namespace) -> int:
    from mlplan.edge.promote_io import PromoteError

    problem = _gate_flags(args)
    if problem:
        print(f"mlplan promote: {problem}", file=sys.stderr)
        return EXIT_ERROR
    try:
        return _promote(args)
    except PromoteError as exc:
        print(f"mlplan promote: {exc}", file=sys.stderr)
        return EXIT_ERROR


def _promote(args: argparse.Namespace) -> int:
    from mlplan.edge.promote_io import apply_step, snapshot
    from mlplan.planning import promote
    from mlplan.render import promotion as render
    from mlplan.render.document import render_json

    state, root = load_state(args.stack)
    plan = promote.promotion(state, args.endpoint, args.to, args.steps, args.mirror,
                        check=_checked(root))
    if plan.diagnostics:  # the request itself is refused: no table of steps
        if args.format == "json":
            sys.stdout.write(render_json(render.document(plan)))
        sys.stderr.write(render.diagnostics_text(plan))
        return EXIT_ERROR
    if args.format == "text":
        sys.stdout.write(render.render_text(plan))
    sys.stderr.write(render.diagnostics_text(plan))
    if not plan.ok or not (args.write or args.apply):  # JSON: one document in every case
        if args.format == "json":
            sys.stdout.write(render_json(render.document(plan)))
        return EXIT_OK if plan.ok else EXIT_ERROR
    endpoint = next(e for e in state.endpoints if e.name == args.endpoint).endpoint
    endpoint_file = endpoint.source.file
    retired_files = [d.source.file for d in endpoint.deployments if d.name in plan.retired]
    expected = snapshot(root, [endpoint_file, *retired_files])
    start = promote.start_state(endpoint, args.to)
    if args.write:
        written = apply_step(root, endpoint_file, plan.steps[0], start, args.to,
                             retired_files, expected)
        _print_written(args.format, plan, written)
        return EXIT_OK
    if args.apply:
        missing = _pulumi_missing()
        if missing:
            print(f"mlplan promote: {missing}", file=sys.stderr)
            return EXIT_ERROR
        return _apply(args, state, plan, root, endpoint_file, start, retired_files, expected)
    return EXIT_OK


def _print_written(form: str, plan: Any, written: list[str]) -> None:
    """What ``--write`` changed: lines after the table, or inside the one JSON document."""
    from mlplan.render import promotion as render
    from mlplan.render.document import render_json

    if form == "json":
        sys.stdout.write(render_json({**render.document(plan), "written": written}))
        return
    for line in written:
        print(line)
    print("review it with: mlplan review --base HEAD")


def _apply(args: argparse.Namespace, state: Any, plan: Any, root: Path,
           endpoint_file: str, start: Any, retired_files: list[str],
           expected: dict[str, bytes]) -> int:
    from mlplan.edge.promote_apply import GateOptions, apply, gate
    from mlplan.edge.promote_io import apply_step, restore_files, write_rollback
    from mlplan.edge.traffic_log import TrafficReadError, request_log
    from mlplan.planning.gates import Thresholds
    from mlplan.planning.promote import PromotionStage
    from mlplan.render import promotion as render
    from mlplan.render.document import render_json

    try:
        driver = AutomationStack(root, args.stack)
    except Exception as exc:  # the Automation API's own error: no such stack, no backend
        print(f"mlplan promote: --stack {args.stack}: pulumi cannot select it: "
              f"{str(exc).strip()[:500]}. Nothing was written.", file=sys.stderr)
        return EXIT_ERROR
    options = GateOptions(
        bake_seconds=args.bake, body=args.sample_body,
        thresholds=Thresholds(
            min_success_rate=args.min_success_rate, max_p99_ms=args.max_p99_ms,
            max_success_drop=args.max_success_drop, max_p99_ratio=args.max_p99_ratio,
            min_requests=args.min_requests))
    log = request_log(root, args.stack, state, args.endpoint)

    def roll_back() -> None:
        restore_files(root, expected)  # retired files come back if the retire step began
        write_rollback(root, endpoint_file, start, mirror=False)

    def run_gate(outputs: Mapping[str, Any], step: Any) -> Any:
        uri = str(outputs.get(f"{args.endpoint}-scoring-uri", ""))
        key = str(outputs.get(f"{args.endpoint}-primary-key", ""))
        target = uri if options.body else uri.removesuffix("score")
        try:
            return gate(target, key, args.to, options, log=log)
        except TrafficReadError as exc:  # the log became unreadable: judge the probes alone
            print(f"mlplan promote: {exc}; judging probes only", file=sys.stderr)
            return gate(target, key, args.to, options, log=None)

    result = apply(
        plan,
        write=lambda step: apply_step(
            root, endpoint_file, step, start, args.to,
            retired_files if step.stage is PromotionStage.RETIRE else []),
        roll_back=roll_back,
        driver=driver,
        run_gate=run_gate,
        progress=lambda line: print(f"mlplan promote: {line}", file=sys.stderr),
    )
    if args.format == "json":
        sys.stdout.write(render_json(render.apply_document(plan, result)))
    else:
        sys.stdout.write(render.gates_text(result))
    if not result.ok:
        where = "all live traffic is back on " + ", ".join(
            f"{n} {p}%" for n, p in start.traffic if p) + ", mirror off" \
            if result.rolled_back else "the rollback did not finish"
        print(f"mlplan promote: {result.reason}; {where}", file=sys.stderr)
        return EXIT_ERROR
    if args.format == "text":
        print(f"promoted {args.to} on {args.endpoint}: {result.completed} steps")
    return EXIT_OK


def run_rollback(args: argparse.Namespace) -> int:
    from mlplan.edge.promote_io import PromoteError

    try:
        return _rollback(args)
    except PromoteError as exc:
        print(f"mlplan rollback: {exc}", file=sys.stderr)
        return EXIT_ERROR


def _rollback(args: argparse.Namespace) -> int:
    from mlplan.edge.promote_io import write_rollback
    from mlplan.planning import promote

    state, root = load_state(args.stack, "rollback")
    current = next((e for e in state.endpoints if e.name == args.endpoint), None)
    if current is None:
        known = ", ".join(e.name for e in state.endpoints) or "none"
        print(f"mlplan rollback: endpoint '{args.endpoint}' is not declared (endpoints: "
              f"{known})", file=sys.stderr)
        return EXIT_ERROR
    endpoint = current.endpoint
    tags = dict(endpoint.tags)
    to = tags.get(promote.TAG_TO)
    if not isinstance(to, str) or not tags.get(promote.TAG_FROM):
        print(f"mlplan rollback: no promotion in progress on '{args.endpoint}' (no "
              f"{promote.TAG_FROM} tag in its file); edit its traffic instead",
              file=sys.stderr)
        return EXIT_ERROR
    start = promote.start_state(endpoint, to)
    names = [d.name for d in endpoint.deployments]
    gone = [n for n, p in start.traffic if p and n not in names]
    if gone:
        print(f"mlplan rollback: the promotion on '{args.endpoint}' was retired already "
              f"({', '.join(gone)} deleted), so there is nothing to roll back to; finish it "
              f"with: mlplan promote {args.endpoint} --to {to} --write", file=sys.stderr)
        return EXIT_ERROR
    if args.apply:
        missing = _pulumi_missing()
        if missing:
            print(f"mlplan rollback: {missing}", file=sys.stderr)
            return EXIT_ERROR
    known_start = promote.StartState(
        tuple((n, p) for n, p in start.traffic if n in names),
        tuple((n, p) for n, p in start.mirror if n in names))
    print(write_rollback(root, endpoint.source.file, known_start, mirror=True))
    if args.apply:
        AutomationStack(root, args.stack).up()
    return EXIT_OK
