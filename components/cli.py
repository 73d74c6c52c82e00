"""``mlplan`` command line: argv -> exit code. Plans go to stdout, diagnostics to stderr.

Exit codes: 0 success (no changes with ``--detailed-exitcode``), 1 errors, 2 changes present
with ``--detailed-exitcode``. Heavy imports wait until a command runs, so ``--help`` is instant;
the plan path never imports Pulumi.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2


def _quota_flag(text: str) -> tuple[str, float]:
    """``standardDSv2Family=48`` -> (``standardDSv2Family``, 48.0)."""
    family, sep, value = text.partition("=")
    try:
        cores = float(value)
    except ValueError:
        cores = -1.0
    if not sep or not family or cores < 0:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not FAMILY=CORES (e.g. standardDSv2Family=48 or total=100)")
    return family, cores


class _Parser(argparse.ArgumentParser):
    """Usage errors exit 1: exit 2 means 'changes present' under --detailed-exitcode."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="mlplan",
        description="Plan Azure-ML-style online endpoints on Docker or Kubernetes, offline.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    plan = commands.add_parser(
        "plan", help="plan a stack or Azure ML YAML files: deployments, rollout, traffic, quota",
        description="Plan a stack (default 'dev') or, given PATHs, plain Azure ML CLI v2 "
                    "endpoint/deployment YAML files and folders. Nothing is contacted.")
    plan.add_argument("paths", nargs="*", metavar="PATH",
                      help="YAML files or folders to plan instead of the stack's endpoints")
    plan.add_argument("--stack", help="stack name (stacks/Pulumi.<stack>.yaml); default dev")
    plan.add_argument("--quota", action="append", type=_quota_flag, default=[],
                      metavar="FAMILY=CORES",
                      help="core limit for a VM family, or total=CORES; overrides mlplan:quota")
    plan.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    plan.add_argument("--detailed-exitcode", action="store_true",
                      help="exit 2 when the plan has changes, 0 when none, 1 on errors")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from components import __version__

        print(f"mlplan {__version__}")
        return EXIT_OK
    if args.command is None:
        parser.print_help()
        return EXIT_OK
    try:
        return _plan(args)
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        print(f"mlplan: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "),
              file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # a bug, not bad input: say so, without a traceback by default
        if os.environ.get("MLPLAN_DEBUG"):
            raise
        print(f"mlplan: internal error ({type(exc).__name__}: {exc}); this is a bug, please "
              "report it. MLPLAN_DEBUG=1 shows the traceback.", file=sys.stderr)
        return EXIT_ERROR


def _plan(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from components import io
    from components.core.diagnostics import Location, error, has_errors
    from components.core.settings import Settings, quota_from_cores
    from components.core.state import desired
    from components.render import document, markdown, text

    cwd = Path.cwd()
    root = io.find_project_root(cwd)
    stack = args.stack or ""
    if args.paths and not stack:
        loaded = io.load_paths(args.paths, cwd, Settings())
    elif root is None:
        from components.core import codes

        problem = error(codes.SETTINGS, Location("Pulumi.yaml"),
                        f"no Pulumi.yaml in {cwd} or above; run inside an mlplan project or "
                        "pass the YAML files to plan (mlplan plan PATH ...).")
        loaded = io.Loaded((), Settings(), (problem,))
    else:
        stack = stack or "dev"
        loaded = io.load_stack(root, stack)
        if args.paths:
            loaded = io.load_paths(args.paths, cwd, loaded.settings)
    settings = loaded.settings
    if args.quota:
        limits = dict(settings.quota_millis)
        limits.update(quota_from_cores(dict(args.quota)))
        settings = replace(settings, quota_millis=limits)
    state = desired(loaded.endpoints, settings, loaded.diagnostics)
    doc = document.plan_document(state, stack)
    if args.format == "json":
        sys.stdout.write(document.render_json(doc))
    elif args.format == "markdown":
        sys.stdout.write(markdown.render_plan(doc))
    else:
        sys.stdout.write(text.render_plan(doc))
        sys.stderr.write(text.render_diagnostics(doc))
    if args.format == "markdown":
        sys.stderr.write(text.render_diagnostics(doc))
    if has_errors(state.diagnostics):
        return EXIT_ERROR
    changes = bool(state.endpoints)
    return EXIT_CHANGES if args.detailed_exitcode and changes else EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
