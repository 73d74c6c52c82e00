"""One output sanitiser per format, applied by every renderer to the document it reads.

Values from user files (names, descriptions, tags, unknown keys echoed in messages, paths)
reach three formats; each gets them made inert for its reader:

- every format: secret-looking parts masked (``core.secrets.mask``, plus the literal values
  configured under ``mlplan:keys``, registered with ``register_secret``), and strings longer
  than ``MAX_CHARS`` (2,000) cut: ``"xxxx... (52,000,000 characters)"``;
- text (terminals) and Markdown: control and invisible formatting characters shown escaped:
  newline -> ``\\n``, ESC -> ``\\x1b``, U+202E -> ``\\u202e``; so ``"\\e[2K\\rPlan: 0 errors"``
  prints as ``\\x1b[2K\\rPlan: 0 errors`` on one line;
- Markdown (GitHub-flavoured, for pull-request comments) in addition: prose through
  ``md_text`` (every ASCII punctuation backslash-escaped, ``@`` kept out of mentions), values
  through ``md_code`` (a code span whose fence is longer than any backtick run inside), raw HTML
  through ``html`` and table cells through ``md_cell`` (``|`` -> ``\\|``);
- JSON: ``json.dumps`` escapes control characters itself; only masking and the cap apply.

``terminal`` is the last guard on what the CLI writes to stdout/stderr: any control character
left (but newline and the renderer's own SGR colour codes) is escaped there.
"""

from __future__ import annotations

import html as _html
import json
import re
from collections.abc import Callable
from json.encoder import encode_basestring_ascii
from typing import Any

from mlplan.domain import secrets

MAX_CHARS = 2000
_SECRETS: set[str] = set()
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e"
                      "\u2060-\u2069\ufeff\ufff9-\ufffb]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_SGR = re.compile(r"\x1b\[[0-9;]*m")
# what can start an inline construct; "_" only at a word's edge (intraword "_" is inert in GFM)
_MD_INLINE = re.compile(r"([\\`*\[\]<&~!]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")
_MD_LINE_START = re.compile(r"^(\s*)([#>+=-]|\d+[.)])")  # a heading, quote, list, rule
_MD_AUTOLINK = re.compile(r"(?i)(://|www\.)")


def register_secret(value: str) -> None:
    """Mask ``value`` wherever it would appear in output (values under ``mlplan:keys``)."""
    if len(value) >= 4:
        _SECRETS.add(value)


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def escape_controls(text: str) -> str:
    """``"a\\nb\\x1b[2K"`` -> ``a\\\\nb\\\\x1b[2K`` (backslash sequences, all on one line)."""
    return _CONTROL.sub(_escape_char, text)


def cap(text: str, limit: int = MAX_CHARS) -> str:
    """Strings longer than ``limit`` are cut, saying how long they were."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text):,} characters)"


def masked(text: str) -> str:
    return secrets.mask(text, _SECRETS)


def masked_literals(text: str) -> str:
    """Only the registered secrets masked (``masked`` does the patterns too)."""
    for literal in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(literal, secrets.MASK)
    return text


def text(value: str) -> str:
    """One string for a terminal: masked, capped, control characters escaped."""
    return escape_controls(cap(masked(value)))


def json_value(value: str) -> str:
    return cap(masked(value))


def walk(document: Any, clean: Callable[[str], str]) -> Any:
    """``document`` (dicts, lists, scalars) with ``clean`` applied to every string, keys too
    (each distinct string once: names and actions repeat thousands of times in a plan)."""
    done: dict[str, str] = {}

    def one(value: Any) -> Any:
        if isinstance(value, str):
            found = done.get(value)
            if found is None:
                found = done[value] = clean(value)
            return found
        if isinstance(value, dict):
            return {one(k): one(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [one(v) for v in value]
        return value

    return one(document)


def for_text(document: Any) -> Any:
    return walk(document, text)


def for_markdown(document: Any) -> Any:
    """As for text; the Markdown renderers then escape per context (``md_text``...)."""
    return walk(document, text)


def for_json(document: Any) -> Any:
    return walk(document, json_value)


class _Unusual(Exception):
    """A value ``json_text`` leaves to ``json.dumps`` (not a str/int/float/bool/None/list/
    tuple/dict of exactly that type, or a key that is not text)."""


_INDENTS = ["\n" + "  " * level for level in range(64)]
_FLOATS = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def _scalar(value: Any) -> str:
    """JSON of None, a bool, an int or a float, as ``json.dumps`` writes it."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    kind = type(value)
    if kind is int:
        return int.__repr__(value)
    if kind is float:
        text = float.__repr__(value)
        return _FLOATS.get(text, text)
    raise _Unusual


class _JsonText:
    """One document's encoder (``json_text``), with its strings' cleaned text and literal."""

    def __init__(self) -> None:
        self.done: dict[str, tuple[str, str]] = {}  # string -> (cleaned, its JSON literal)
        self.shapes: dict[tuple[Any, ...], list[tuple[int, str]]] = {}  # keys -> ``shape``

    def string(self, value: str) -> tuple[str, str]:
        found = self.done.get(value)
        if found is None:
            cleaned = json_value(value)
            found = self.done[value] = (cleaned, encode_basestring_ascii(cleaned))
        return found

    def encode(self, value: Any, level: int) -> str:
        kind = type(value)
        if kind is str:
            return self.string(value)[1]
        if kind is dict:
            return self.mapping(value, level) if value else "{}"
        if kind is list or kind is tuple:
            if not value:
                return "[]"
            inner = _INDENTS[level + 1]
            return ("[" + inner + ("," + inner).join([self.encode(item, level + 1)
                                                      for item in value])
                    + _INDENTS[level] + "]")
        return _scalar(value)

    def mapping(self, value: dict[Any, Any], level: int) -> str:
        keys = tuple(value)
        order = self.shapes.get(keys)
        if order is None:
            order = self.shapes[keys] = self.shape(keys)
        items = list(value.values())
        inner = _INDENTS[level + 1]
        return ("{" + inner + ("," + inner).join(
            [literal + ": " + self.encode(items[index], level + 1) for index, literal in order])
            + _INDENTS[level] + "}")

    def shape(self, keys: tuple[Any, ...]) -> list[tuple[int, str]]:
        """(index of the value, key literal) in output order for objects with these keys (the
        rows of a plan share a few shapes): sorted by cleaned key; of keys cleaned alike, the
        last one's value (as ``walk`` builds the object)."""
        chosen: dict[str, tuple[int, str]] = {}
        for index, key in enumerate(keys):
            if type(key) is not str:
                raise _Unusual
            cleaned, literal = self.string(key)
            chosen[cleaned] = (index, literal)
        return [chosen[cleaned] for cleaned in sorted(chosen)]


def json_text(document: Any) -> str:
    """``json.dumps(for_json(document), indent=2, sort_keys=True)``, the same text byte for
    byte, in one pass: the standard library's indenting encoder is pure Python and walks the
    values a second time (a 1000-endpoint plan: 4 MB, 2.5 million values). Strings, keys too,
    are cleaned once each (``json_value``) and escaped by the C ``encode_basestring_ascii``;
    an object's keys are sorted by their cleaned text, the last value of keys cleaned alike
    kept (as ``walk`` builds them). Anything else (an enum, a number key, a set, nesting past
    63 levels) goes to ``json.dumps`` with the same result or error.

    Example: ``{"b": [], "a": {"k": 1.5}}`` -> ``{``, ``  "a": {``, ``    "k": 1.5``,
    ``  },``, ``  "b": []``, ``}`` (one line each, joined by newlines).
    """
    try:
        return _JsonText().encode(document, 0)
    except (_Unusual, IndexError, RecursionError):
        return json.dumps(for_json(document), indent=2, sort_keys=True)


def md_text(value: str) -> str:
    """Prose that GitHub renders as exactly these characters: every character that can start
    an inline construct backslash-escaped (no emphasis, link, image, HTML, entity, code span
    or strike-through), a heading/list/quote marker at the start too, ``://`` and ``www.``
    broken so no autolink forms, ``@`` in a code span (no mention). ``|`` is left to
    ``md_cell``. Example: ``<!-- *x* @me`` -> ``\\<\\!-- \\*x\\* `@`me``."""
    escaped = _MD_INLINE.sub(r"\\\1", value)
    escaped = _MD_LINE_START.sub(lambda m: m.group(1) + "".join(
        "\\" + c if not c.isdigit() else c for c in m.group(2)), escaped)
    escaped = _MD_AUTOLINK.sub(lambda m: m.group(1).replace("/", "\\/").replace(".", "\\."),
                               escaped)
    return escaped.replace("@", "`@`")


def md_code(value: str) -> str:
    """A code span showing ``value`` as is: ``a`b`` -> ````` ``a`b`` `````; empty -> ``""``."""
    if not value:
        return ""
    runs = [len(r) for r in re.findall(r"`+", value)]
    fence = "`" * (max(runs, default=0) + 1)
    pad = " " if value.startswith(("`", " ")) or value.endswith(("`", " ")) else ""
    return f"{fence}{pad}{value}{pad}{fence}"


def md_cell(cell: str) -> str:
    """An inline Markdown cell for a GFM table row: ``|`` -> ``\\|`` (in code spans too)."""
    return cell.replace("|", "\\|")


def html(value: str) -> str:
    """Text inside raw HTML (``<summary>``): ``<``, ``>``, ``&`` and quotes as entities."""
    return _html.escape(value, quote=True)


def terminal(output: str) -> str:
    """The last guard: control characters left in ``output`` escaped, but newline and SGR
    colour codes (``\\x1b[32m``), which only renderers emit (values were escaped before)."""
    flat = output.replace("\n", "")
    if flat.isascii() and flat.isprintable():  # ASCII's control characters are all _CONTROL
        return output
    if not _CONTROL.search(flat):
        return output
    parts = []
    at = 0
    for match in _SGR.finditer(output):
        parts.append(_escape_keep_newline(output[at:match.start()]))
        parts.append(match.group())
        at = match.end()
    parts.append(_escape_keep_newline(output[at:]))
    return "".join(parts)


def _escape_keep_newline(text: str) -> str:
    return "\n".join(escape_controls(line) for line in text.split("\n"))
