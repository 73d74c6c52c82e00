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


def add_parsers(commands: Any) -> None:
    promote = commands.add_parser(
        "promote", help="plan, write or apply a blue/green promotion step by step",
        description="Move live traffic to a deployment in safe steps: optional mirror, each "
                    "live step, then retire the old deployment (traffic first, delete after).")
    promote.add_argument("endpoint")
    promote.add_argument("--to", required=True, metavar="DEPLOYMENT")
    promote.add_argument("--steps", type=_steps, default=(10, 50, 100), metavar="10,50,100")
    promote.add_argument("--mirror", type=int, metavar="PERCENT",
                         help="mirror this share to the new deployment first (1-50)")
    promote.add_argument("--stack", default="dev", type=_stack)
    mode = promote.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true",
                      help="edit the endpoint YAML to the next step only")
    mode.add_argument("--apply", action="store_true",
                      help="run every step with pulumi up and a gate between steps")
    promote.add_argument("--max-error-rate", type=_number, default=0.01, metavar="RATE",
                         help="gate: highest share of failed probes (default 0.01)")
    promote.add_argument("--bake", type=_number, default=60.0, metavar="SECONDS",
                         help="gate: how long to probe each step (default 60)")
    promote.add_argument("--sample", type=Path, metavar="FILE",
                         help="gate: POST this JSON to the scoring URI instead of GET /")
    promote.add_argument("--format", choices=("text", "json"), default="text")
    rollback = commands.add_parser(
        "rollback", help="return all live traffic to where a promotion started, in one step")
    rollback.add_argument("endpoint")
    rollback.add_argument("--stack", default="dev", type=_stack)
    rollback.add_argument("--apply", action="store_true", help="also run pulumi up")


def _checked(root: Path) -> Callable[[Any], Any]:
    """The stack's checks (``mlplan.check`` with the target's project reader) for a state of
    this project: what ``mlplan plan --stack`` adds."""
    from mlplan.check import with_stack_diagnostics
    from mlplan.targets import registry

    return lambda state: with_stack_diagnostics(
        state, registry.project_reader(state.target, root))


def _load(stack: str, command: str = "promote") -> tuple[Any, Path]:
    """The stack's desired state, checked as ``mlplan plan --stack`` checks it
    (``pipeline.checked_state``). A stack with an error is refused: every diagnostic on
    stderr, exit 1, nothing written (a step planned from a broken stack would look fine)."""
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
    if has_errors(state.diagnostics):
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


def run_promote(args: argparse.Namespace) -> int:
    from mlplan.edge.promote_io import PromoteError

    try:
        return _promote(args)
    except PromoteError as exc:
        print(f"mlplan promote: {exc}", file=sys.stderr)
        return EXIT_ERROR


def _promote(args: argparse.Namespace) -> int:
    from mlplan.domain.labels import format_split
    from mlplan.edge.promote_io import apply_step, snapshot
    from mlplan.planning import promote
    from mlplan.render import promotion as render
    from mlplan.render.document import render_json

    state, root = _load(args.stack)
    plan = promote.plan(state, args.endpoint, args.to, args.steps, args.mirror,
                        check=_checked(root))
    if args.format == "json":
        sys.stdout.write(render_json(render.document(plan)))
    else:
        sys.stdout.write(render.render_text(plan))
    sys.stderr.write(render.diagnostics_text(plan))
    if not plan.ok:
        return EXIT_ERROR
    endpoint = next(e for e in state.endpoints if e.name == args.endpoint).endpoint
    endpoint_file = endpoint.source.file
    retired_files = [d.source.file for d in endpoint.deployments if d.name in plan.retired]
    expected = snapshot(root, [endpoint_file, *retired_files])
    tags = dict(endpoint.tags)
    if tags.get(promote.TAG_TO) == args.to and tags.get(promote.TAG_FROM):
        source = str(tags[promote.TAG_FROM])  # later steps keep where the promotion started
    else:
        source = format_split([(n, p) for n, p in endpoint.traffic if n in plan.retired], "") \
            or format_split((n, 0) for n in plan.retired)
    if args.write:
        step = plan.steps[0]
        for line in apply_step(root, endpoint_file, step, source, args.to, retired_files,
                               expected):
            print(line)
        print("review it with: mlplan review --base HEAD")
        return EXIT_OK
    if args.apply:
        return _apply(args, plan, root, endpoint_file, source, retired_files)
    return EXIT_OK


def _apply(args: argparse.Namespace, plan: Any, root: Path, endpoint_file: str, source: str,
           retired_files: list[str]) -> int:
    from mlplan.edge.promote_apply import apply, gate
    from mlplan.edge.promote_io import apply_step, atomic_write
    from mlplan.planning.promote import PromotionStage

    originals = {f: (root / f).read_bytes() for f in [endpoint_file, *retired_files]}
    body = args.sample.read_bytes() if args.sample else None

    def restore() -> None:
        for file, data in originals.items():
            atomic_write(root / file, data.decode("utf-8", errors="replace"), None) \
                if (root / file).exists() else (root / file).write_bytes(data)

    def run_gate(outputs: Mapping[str, Any], step: Any) -> Any:
        uri = str(outputs.get(f"{args.endpoint}-scoring-uri", ""))
        key = str(outputs.get(f"{args.endpoint}-primary-key", ""))
        target = uri if body else uri.removesuffix("score")
        live = dict(step.traffic).get(args.to, 0) > 0  # mirror copies are discarded: not pinned
        return gate(target, key, args.bake, args.max_error_rate, body=body,
                    candidate=args.to if live else None)

    result = apply(
        plan,
        write=lambda step: apply_step(
            root, endpoint_file, step, source, args.to,
            retired_files if step.stage is PromotionStage.RETIRE else []),
        restore=restore,
        driver=AutomationStack(root, args.stack),
        run_gate=run_gate,
        progress=lambda line: print(f"mlplan promote: {line}", file=sys.stderr),
    )
    if not result.ok:
        print(f"mlplan promote: {result.reason}", file=sys.stderr)
        return EXIT_ERROR
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
    from mlplan.domain.diagnostics import Severity
    from mlplan.edge.promote_io import load, rollback_split, write_rollback

    state, root = _load(args.stack, "rollback")
    current = next((e for e in state.endpoints if e.name == args.endpoint), None)
    if current is None:
        errors = [d for d in state.diagnostics if d.severity is Severity.ERROR]
        for problem in errors:
            print(problem, file=sys.stderr)
        first = " (the stack's files have errors, above: fix them first)" if errors else ""
        print(f"mlplan rollback: endpoint '{args.endpoint}' is not declared{first}",
              file=sys.stderr)
        return EXIT_ERROR
    endpoint_file = current.endpoint.source.file
    _yaml, document = load(root / endpoint_file)
    recorded = rollback_split(document)
    if recorded is None:
        print(f"mlplan rollback: no promotion in progress on '{args.endpoint}' (no "
              "mlplan-promotion-from tag in its file); edit its traffic instead",
              file=sys.stderr)
        return EXIT_ERROR
    split, _to = recorded
    names = [d.name for d in current.endpoint.deployments]
    gone = [n for n, _p in split if n not in names]
    if gone:
        print(f"mlplan rollback: the promotion on '{args.endpoint}' was retired already "
              f"({', '.join(gone)} deleted), so there is nothing to roll back to; finish it "
              f"with: mlplan promote {args.endpoint} --to {_to} --write", file=sys.stderr)
        return EXIT_ERROR
    print(write_rollback(root, endpoint_file, split, names))
    if args.apply:
        AutomationStack(root, args.stack).up()
    return EXIT_OK
