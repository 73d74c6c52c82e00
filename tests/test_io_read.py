"""``io.read_text`` reads a file's bytes without a buffered file object (``_read_up_to``): the
whole file whatever its size relative to what ``fstat`` said, never more than the limit plus
one byte (so an oversized file is refused), and ``_walk`` lists folder files in the order of
sorted ``Path`` objects."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlplan.domain.diagnostics import Location
from mlplan.edge import io

# name, file size, limit, size fstat reported (+1), bytes expected back
READS = [
    ("empty", 0, 100, 1, 0),
    ("small", 354, 4096, 355, 354),
    ("exactly the limit", 100, 100, 101, 100),
    ("one over the limit: limit + 1 read", 101, 100, 102, 101),
    ("far over the limit: limit + 1 read", 10_000, 100, 10_001, 101),
    ("grew since fstat: read on in chunks", 200_000, 4 * 1024 * 1024, 11, 200_000),
    ("grew past the limit since fstat", 300_000, 150_000, 11, 150_001),
    ("shrank since fstat", 10, 100, 5_001, 10),
]


@pytest.mark.parametrize(("size", "limit", "expected", "got"), [r[1:] for r in READS],
                         ids=[r[0] for r in READS])
def test_read_up_to(tmp_path: Path, size: int, limit: int, expected: int, got: int) -> None:
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    path = tmp_path / "f.yml"
    path.write_bytes(data)
    descriptor = os.open(path, os.O_RDONLY)
    try:
        assert io._read_up_to(descriptor, limit + 1, expected) == data[:got]
    finally:
        os.close(descriptor)


def test_read_text_refuses_a_file_over_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.yml"
    path.write_bytes(b"a: 1\n" * 30)
    assert io.read_text(path, limit=150) == "a: 1\n" * 30
    with pytest.raises(io.PathProblem, match="is over"):
        io.read_text(path, limit=149)


def test_walk_sorts_as_paths_do(tmp_path: Path) -> None:
    names = ["a/b.yml", "a-c.yml", "a.yml", "a/a/z.yaml", "B.yml", "a0/x.yml", "a b.yml",
             "ä.yml", "a/b-c.yml", "a/b/c.yml"]
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x: 1\n")
    found = io._walk(tmp_path, [], Location("here"))
    assert [Path(p) for p, _link in found] == sorted(tmp_path / n for n in names)
    assert all(str(Path(p)) == p for p, _link in found)  # normal text, as _shown needs


SHOWN = [
    ("below the base", "/p/root/stacks/a.yml", "/p/root", "stacks/a.yml"),
    ("the base is /", "/stacks/a.yml", "/", "stacks/a.yml"),
    ("a sibling folder with the base's name as prefix", "/p/rootx/a.yml", "/p/root",
     "/p/rootx/a.yml"),
    ("outside the base", "/elsewhere/a.yml", "/p/root", "/elsewhere/a.yml"),
    ("a relative base", "proj/stacks/a.yml", "proj", "stacks/a.yml"),
    ("the current folder as base", "stacks/a.yml", ".", "stacks/a.yml"),
]


@pytest.mark.parametrize(("path", "base", "shown"), [s[1:] for s in SHOWN],
                         ids=[s[0] for s in SHOWN])
def test_shown_cuts_text_as_relative_to_does(path: str, base: str, shown: str) -> None:
    assert io._shown(path, Path(base)) == io._shown(Path(path), Path(base)) == shown
