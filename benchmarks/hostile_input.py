"""Time and peak memory of ``mlplan`` on hostile input, each in a child process: the two
files of issue 14 (a billion-laughs file, 10 levels of 9 aliases, 556 bytes; a 50 MB file),
beside the unharmed project (``baseline``: Python start, imports and a plan), and every case
of issue 27's ``tests/hostile/test_security.CASES`` (a review over a million and twenty
million instances, a 30 MB base file, a 300 MB model on Kubernetes, links out of the
project). Prints one ``name=value`` line per figure; the last is the worst time in seconds."""

from __future__ import annotations

import tempfile
from pathlib import Path

from tests.hostile.harness import project, run_cli
from tests.hostile.test_regressions import billion_laughs
from tests.hostile.test_security import CASES, prepare


def main() -> None:
    worst = 0.0
    for name, body in (("baseline", None), ("billion_laughs", billion_laughs()),
                       ("file_50mb", "# " + "x" * 50_000_000 + "\n")):
        with tempfile.TemporaryDirectory() as folder:
            root = project(Path(folder) / "p")
            blue = root / "stacks/endpoints/blue.yml"
            if body is None:  # the same project unharmed: what any plan costs
                body = blue.read_text()
            blue.write_text(body)
            run = run_cli(["plan", "--stack", "test"], root)
            assert run.code == (0 if name == "baseline" else 1), run.err
            print(f"{name}_bytes={len(body.encode())}")
            print(f"{name}_seconds={run.seconds:.2f}")
            print(f"{name}_peak_mib={run.peak_kib / 1024:.1f}")
            worst = max(worst, run.seconds)
    for case in CASES:
        with tempfile.TemporaryDirectory() as folder:
            root = prepare(case, Path(folder) / "p")
            run = run_cli(case.args, root)
            assert run.code == case.code and case.says in run.err, run.err[-2000:]
            print(f"{case.name}_seconds={run.seconds:.2f}")
            print(f"{case.name}_peak_mib={run.peak_kib / 1024:.1f}")
            print(f"{case.name}_stdout_bytes={len(run.out.encode())}")
            worst = max(worst, run.seconds)
    print(f"hostile_input_worst_seconds={worst:.2f}")


if __name__ == "__main__":
    main()
