"""``mlplan`` command line: argv -> exit code. Plans go to stdout, diagnostics to stderr.

Exit codes: 0 success (no changes with ``--detailed-exitcode``), 1 errors, 2 changes present
with ``--detailed-exitcode``. Heavy imports wait until a command runs, so ``--help`` is instant;
the plan and review paths never import Pulumi.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from mlplan.edge import promote_cli
from mlplan.edge.flags import stack_flag

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2


def _quota_flag(text: str) -> tuple[str, float]:
    """``standardDSv2Family=48`` -> (``standardDSv2Family``, 48.0); cores are read by
    ``numbers.parse_number`` (``1e400``, ``inf`` and ``nan`` are refused)."""
    from mlplan.domain.numbers import NumberError, parse_number

    family, sep, value = text.partition("=")
    try:
        cores = parse_number(value)
    except NumberError as exc:
        if sep and family:
            raise argparse.ArgumentTypeError(f"--quota {family[:60]}: {exc}") from None
        cores = -1.0
    if not sep or not family or cores < 0:
        raise argparse.ArgumentTypeError(
            f"'{text[:80]}' is not FAMILY=CORES (e.g. standardDSv2Family=48 or total=100)")
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
                    "endpoint/deployment YAML files and folders. A stack's settings are read "
                    "offline from its stack file, stacks/Pulumi.<stack>.yaml, by the parser "
                    "the Pulumi program uses on the engine's config (pulumi.Config: also -c, "
                    "ESC, the Automation API, which this command does not see). Nothing is "
                    "contacted.")
    plan.add_argument("paths", nargs="*", metavar="PATH",
                      help="YAML files or folders to plan instead of the stack's endpoints")
    plan.add_argument("--stack", type=stack_flag,
                      help="stack name: its settings are read from stacks/Pulumi.<stack>.yaml "
                           "offline; default dev")
    plan.add_argument("--quota", action="append", type=_quota_flag, default=[],
                      metavar="FAMILY=CORES",
                      help="core limit for a VM family, or total=CORES; overrides mlplan:quota")
    plan.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    plan.add_argument("--detailed-exitcode", action="store_true",
                      help="exit 2 when the plan has changes, 0 when none, 1 on errors")
    review = commands.add_parser(
        "review", help="what a change does: actions, rollout, traffic and quota, base -> head",
        description="Compare the desired state at a git ref (read with git, no checkout) or in "
                    "a folder with the working tree, for every stack or one; or render a "
                    "'pulumi preview --json' output the same way. Nothing is contacted.")
    base = review.add_mutually_exclusive_group(required=True)
    base.add_argument("--base", metavar="REF", help="git ref of the base (e.g. origin/main)")
    base.add_argument("--base-dir", metavar="DIR",
                      help="a copy of the project root at the base")
    base.add_argument("--preview-json", metavar="FILE",
                      help="'pulumi preview --json' output, or its streaming events "
                           "(PULUMI_ENABLE_STREAMING_JSON_PREVIEW=1); - reads stdin")
    review.add_argument("--stack", type=stack_flag,
                        help="review one stack (default: every stacks/Pulumi.*.yaml)")
    review.add_argument("--format", choices=("markdown", "text", "json"), default="text")
    review.add_argument("--max-chars", type=int, default=65536, metavar="N",
                        help="markdown: fit the review in N characters (default 65536, "
                             "GitHub's limit for one comment; 0: no limit)")
    review.add_argument("--detailed-exitcode", action="store_true",
                        help="exit 2 when there are changes, 0 when none, 1 on errors")
    promote_cli.add_parsers(commands)
    return parser


def _emit(stream: Any, rendered: str) -> None:
    """Write a renderer's output: ``_Guarded.write_rendered`` when guarded (``main``)."""
    write = getattr(stream, "write_rendered", None) or stream.write
    write(rendered)


class _Guarded:
    """stdout/stderr as the CLI writes them: ``safe.masked`` then ``safe.terminal`` on every
    write, the last guard against a secret or a raw control character reaching the reader."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        """A message (``print``) is masked in full: it is plain text, built by no renderer."""
        from mlplan.render import safe

        masked = safe.masked(text) if len(text) < 65536 else safe.masked_literals(text)
        return int(self._stream.write(safe.terminal(masked)))

    def write_rendered(self, text: str) -> int:
        """A rendered document: its values were masked once, before rendering (``render.safe``
        ``for_*``); masking the finished text again would rewrite its syntax (``Password=x``
        followed by a Markdown code span's closing backtick swallowed the backtick, and the
        rest of the cell went live). Only the configured secrets are looked for again: they
        are whole tokens of the key alphabet, which holds no Markdown syntax."""
        from mlplan.render import safe

        return int(self._stream.write(safe.terminal(safe.masked_literals(text))))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


#: Commands that build their whole result and exit (``main`` turns the collector off for them)
BATCH_COMMANDS = ("plan", "review")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; everything it prints goes through ``_Guarded``.

    For ``plan`` and ``review`` the cyclic garbage collector is off while they run, and as it
    was afterwards: they build millions of objects that live to their end and form next to
    no cycles (reference counting frees the rest as usual), and each collection walked them
    again. A 1000-endpoint plan spent about 10% of its time there, a review 15%, to free a few
    hundred objects (the same peak memory without it). ``promote --apply``, which probes
    endpoints for as long as its gates take, keeps it.
    """
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Guarded(out), _Guarded(err)
    collecting = gc.isenabled()
    try:
        return _main(argv)
    finally:
        sys.stdout, sys.stderr = out, err
        if collecting:
            gc.enable()


def run() -> NoReturn:
    """The ``mlplan`` console script (and ``python -m mlplan``): ``main``, then exit with its
    code. What the command built is moved out of the collector's reach first (``gc.freeze``):
    the interpreter's last collection at exit walked it all again (0.6 s after a
    1000-endpoint plan, a fifth of the run); exit handlers and finalizers run as usual."""
    code = main()
    gc.freeze()
    sys.exit(code)


def _main(argv: Sequence[str] | None) -> int:  # noqa: C901
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # usage errors and --help: their code, not a traceback
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    if args.version:
        from mlplan.version import __version__

        print(f"mlplan {__version__}")
        return EXIT_OK
    if args.command is None:
        parser.print_help()
        return EXIT_OK
    if args.command in BATCH_COMMANDS:
        gc.disable()  # main turns it on again
    try:
        commands = {"plan": _plan, "review": _review, "promote": promote_cli.run_promote,
                    "rollback": promote_cli.run_rollback}
        return commands[args.command](args)
    except KeyboardInterrupt:
        return 130
    except SystemExit as exc:  # a command's own "stop here": its message and an exit code
        if isinstance(exc.code, int):
            return exc.code
        if exc.code is not None:
            print(exc.code, file=sys.stderr)
        return EXIT_ERROR
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


def _with_quota(quota: Sequence[tuple[str, float]], settings: Any) -> Any:
    """``settings`` with the ``--quota FAMILY=CORES`` limits over ``mlplan:quota``'s, or None
    (said on stderr) when a FAMILY is none, as for ``mlplan:quota`` keys: a misspelt family
    would leave the real one unlimited."""
    from dataclasses import replace

    from mlplan.domain.settings import quota_from_cores

    unknown = [f"mlplan plan: --quota {family[:80]}=...: {problem}." for family, _cores
               in quota if (problem := settings.catalog.quota_key_problem(family))]
    if unknown:
        print("\n".join(unknown), file=sys.stderr)
        return None
    if not quota:
        return settings
    return replace(settings, quota_millis={**settings.quota_millis,
                                           **quota_from_cores(dict(quota))})


def _plan(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from mlplan.domain.diagnostics import Location, error, has_errors
    from mlplan.domain.settings import Settings
    from mlplan.edge import io, pipeline
    from mlplan.render import document, markdown, text

    cwd = Path.cwd()
    root = io.find_project_root(cwd)
    stack = args.stack or ""
    if args.paths and not stack:
        loaded = io.load_paths(args.paths, cwd, Settings())
    elif root is None:
        from mlplan.domain import codes

        problem = error(codes.SETTINGS, Location("Pulumi.yaml"),
                        f"no Pulumi.yaml in {cwd} or above; run inside an mlplan project or "
                        "pass the YAML files to plan (mlplan plan PATH ...).")
        loaded = io.Loaded((), Settings(), (problem,))
    else:
        stack = stack or "dev"
        if args.paths:  # plain files with the stack's quota and instance types
            read = io.load_settings(root, stack)
            loaded = io.load_paths(args.paths, cwd, read.settings)
            loaded = replace(loaded, diagnostics=(*read.diagnostics, *loaded.diagnostics))
        else:
            loaded = io.load_stack(root, stack)
    settings = _with_quota(args.quota, loaded.settings)
    if settings is None:
        return EXIT_ERROR
    # a stack is deployed: the policy rules and the target's own checks apply
    state = (pipeline.checked_state(loaded.endpoints, settings, loaded.diagnostics, root)
             if stack else pipeline.planned(loaded.endpoints, settings, loaded.diagnostics))
    doc = document.plan_document(state, stack)
    if args.format == "json":
        _emit(sys.stdout, document.render_json(doc))
    elif args.format == "markdown":
        _emit(sys.stdout, markdown.render_plan(doc))
    else:
        _emit(sys.stdout, text.render_plan(doc))
        _emit(sys.stderr, text.render_diagnostics(doc))
    if args.format == "markdown":
        _emit(sys.stderr, text.render_diagnostics(doc))
    if has_errors(state.diagnostics):
        return EXIT_ERROR
    changes = bool(state.endpoints)
    return EXIT_CHANGES if args.detailed_exitcode and changes else EXIT_OK


def _review(args: argparse.Namespace) -> int:  # noqa: C901, PLR0912, PLR0915
    """``mlplan review``: base (git ref, folder) vs working tree, or a Pulumi preview."""
    from mlplan.edge import io, pipeline, review_io
    from mlplan.planning.diff import review
    from mlplan.planning.state import DesiredState
    from mlplan.render import document, review_document, review_markdown, review_text

    def state_of(loaded: io.Loaded | None, files: Path | None = None) -> DesiredState | None:
        """As ``mlplan plan`` in stack mode: the desired state plus the stack's checks (the
        head's with its project ``files``, so a ConfigMap over 1 MiB, MLP119, shows here too;
        the base's files are not on disk as they were, so its delivery checks are left out)."""
        if loaded is None:
            return None
        return pipeline.checked_state(loaded.endpoints, loaded.settings, loaded.diagnostics,
                                      files)

    def fail(message: str) -> int:
        print(f"mlplan review: {message}", file=sys.stderr)
        return EXIT_ERROR

    if args.preview_json:
        from mlplan.render import review_preview

        try:
            try:
                text = review_io.read_preview(args.preview_json)
            except io.PathProblem as exc:
                return fail(f"--preview-json {args.preview_json[:200]}: {exc}.")
            doc = review_preview.review_document_from_preview(
                text, base="pulumi state", head=f"pulumi preview ({args.preview_json})",
                stack=args.stack or "")
        except review_preview.PreviewFormatError as exc:
            return fail(str(exc))
    else:
        cwd = Path.cwd()
        root = io.find_project_root(cwd)
        if root is None:
            return fail(f"no Pulumi.yaml in {cwd} or above; run inside an mlplan project.")
        tree: review_io.GitTree | None = None
        try:
            if args.base is not None:
                tree = review_io.GitTree.open(root, args.base)
                base_names, label = review_io.stack_names_at(tree), tree.label
            else:
                base_root = Path(args.base_dir)
                if not base_root.is_dir():
                    return fail(f"--base-dir {args.base_dir} is not a folder.")
                base_names, label = review_io.stack_names_in(base_root), args.base_dir
        except review_io.ReviewInputError as exc:
            return fail(str(exc))
        head_names = review_io.stack_names_in(root)
        known = sorted(set(base_names) | set(head_names))
        if args.stack and args.stack not in known:
            return fail(f"stack '{args.stack}' has no config file at the base or in the working "
                        f"tree; known stacks: {', '.join(known) or 'none'}.")
        entries = []
        for stack in [args.stack] if args.stack else known:
            old = (review_io.load_stack_at(tree, stack) if tree is not None
                   else review_io.load_stack_in(Path(args.base_dir), stack))
            new = review_io.load_stack_in(root, stack)
            changes = review(state_of(old), state_of(new, root))
            entries.append(review_document.stack_entry(stack, changes))
        doc = review_document.review_document(entries, source="desired-state", base=label,
                                              head="working tree")
    if args.format == "json":
        _emit(sys.stdout, document.render_json(doc))
    elif args.format == "markdown":
        _emit(sys.stdout, review_markdown.render_review(doc, args.max_chars))
        _emit(sys.stderr, review_text.render_diagnostics(doc))
    else:
        colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        _emit(sys.stdout, review_text.render_review(doc, colour=colour))
        _emit(sys.stderr, review_text.render_diagnostics(doc))
    if doc["summary"]["errors"]:
        return EXIT_ERROR
    changes_present = doc["summary"]["changes"]
    return EXIT_CHANGES if args.detailed_exitcode and changes_present else EXIT_OK


if __name__ == "__main__":
    run()
