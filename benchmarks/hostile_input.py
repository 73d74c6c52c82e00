"""Time and peak memory of ``mlplan plan`` on the two hostile files of issue 14, each in a
child process: a billion-laughs file (10 levels of 9 aliases, 556 bytes) and a 50 MB file,
beside the unharmed project (``baseline``: Python start, imports and a plan).
Prints one ``name=value`` line per figure; the last is the worst time in seconds."""

from __future__ import annotations

import tempfile
from pathlib import Path

from tests.hostile.harness import project, run_cli
from tests.hostile.test_regressions import billion_laughs


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
    print(f"hostile_input_worst_seconds={worst:.2f}")


if __name__ == "__main__":
    main()
