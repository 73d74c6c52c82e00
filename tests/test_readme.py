"""The README's rule table is the rule catalogue: same codes, names, checks and levels."""

import re
from pathlib import Path

from components.core.codes import catalogue

README = Path(__file__).resolve().parents[1] / "README.md"


def test_rule_table_matches_the_catalogue() -> None:
    rows = re.findall(r"^\| (MLP\d+) \| ([\w-]+) \| (.+?) \| (\w+) \|$", README.read_text(),
                      re.M)
    assert [(code, title, severity) for code, title, _checks, severity in rows] == [
        (r.code, r.title, r.severity) for r in catalogue()]
