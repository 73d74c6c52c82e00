"""The README's policy table is the pack: same policy names, codes and enforcement levels."""

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "policies"))
import mlplan_policies  # noqa: E402


def codes_in(text: str) -> set[str]:
    found: set[str] = set()
    for first, last in re.findall(r"MLP(\d+)(?:-MLP(\d+))?", text):
        found.update(f"MLP{n}" for n in range(int(first), int(last or first) + 1))
    return found


def test_policy_table_matches_the_pack() -> None:
    rows = re.findall(r"^\| `(mlplan-[\w-]+)` \| (.+?) \| (advisory|mandatory) \|",
                      (REPO / "README.md").read_text(), re.M)
    table = {name: (codes_in(codes), level) for name, codes, level in rows}
    pack = {r.name: (set(r.codes), r.level.value) for r in mlplan_policies.RULES}
    assert table == pack
