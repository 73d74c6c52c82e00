"""What looks secret, by name and by value, and how it is masked before any output.

Names (fields, variables, settings): ``API_KEY``, ``db_password``, ``token``, ``primaryKey``,
``AccountKey``, ``keys``, ``sig`` look secret. Values: the password of a URL
(``https://u:pw@host``), a ``Bearer``/``Basic`` credential, a secret query parameter
(``?sig=...``, ``&token=...``), ``NAME=value`` where NAME looks secret (a Docker env list
entry, a connection string part), ``"primaryKey": "..."`` in JSON text, a PEM private key.
Each secret part becomes ``(sensitive)``; the rest stays readable.

Example: ``mask("postgres://app:hunter2@db/x?sig=abc&v=1 API_KEY=zzz")`` ->
``"postgres://app:(sensitive)@db/x?sig=(sensitive)&v=1 API_KEY=(sensitive)"``.
Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "(sensitive)"
_SENSITIVE_NAME = re.compile(
    r"(?i)(secret|passw|pwd|token|credential|api_?key|access_?key|private_?key"
    r"|connection_?string|^keys?$|[_-]key$|^sig$|^signature$|^sas$)")
_CAMEL_KEY = re.compile(r"[a-z0-9]Keys?$")  # primaryKey, AccountKey
_URL_PASSWORD = re.compile(r"(?i)(?<![a-z0-9+.-])([a-z][a-z0-9+.-]*://[^\s/:@'\"]*:)([^\s/@'\"]+)(@)")
_AUTH = re.compile(r"(?i)\b(bearer|basic)(\s+)([A-Za-z0-9._~+/=-]{4,})")
_QUERY = re.compile(r"(?i)([?&;](?:sig|signature|secret|token|access_token|code|password|pwd"
                    r"|api[-_]?key|key)=)([^&\s;'\"#]+)")
# Each pattern can only start at the edge of a token, so a long run of letters is scanned once
# (linear time: a 1 MB value takes milliseconds, not minutes).
_ASSIGN = re.compile(r"(?<![A-Za-z0-9_.-])(-{0,2}[A-Za-z_][A-Za-z0-9_.-]*)(=)([^\s;,&'\"]+)")
_JSON_PAIR = re.compile(r"(\"([A-Za-z_][A-Za-z0-9_.-]{0,200})\"\s*:\s*\")((?:[^\"\\]|\\.)*)(\")")
_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)",
                  re.S)


def sensitive(name: str) -> bool:
    """Whether a field or variable name looks secret: ``API_KEY``, ``db_password``,
    ``token``, ``primaryKey`` (camelCase), ``keys``."""
    return bool(_SENSITIVE_NAME.search(name) or _CAMEL_KEY.search(name))


def _assign(match: re.Match[str]) -> str:
    return match.group(1) + match.group(2) + MASK if sensitive(match.group(1)) else \
        match.group(0)


def _json_pair(match: re.Match[str]) -> str:
    return match.group(1) + MASK + match.group(4) if sensitive(match.group(2)) else \
        match.group(0)


def mask(text: str, literals: Iterable[str] = ()) -> str:
    """``text`` with every secret-looking part, and every one of ``literals`` (the values
    configured under ``mlplan:keys``), replaced by ``(sensitive)``."""
    for literal in sorted(literals, key=len, reverse=True):
        if literal and literal in text:
            text = text.replace(literal, MASK)
    # each pattern runs only when the text holds what it needs (most texts hold none of it)
    if "PRIVATE KEY-----" in text:
        text = _PEM.sub(MASK, text)
    if "://" in text and "@" in text:
        text = _URL_PASSWORD.sub(lambda m: m.group(1) + MASK + m.group(3), text)
    lower = text.lower()
    if "bearer" in lower or "basic" in lower:
        text = _AUTH.sub(lambda m: m.group(1) + m.group(2) + MASK, text)
    if "=" in text:
        text = _QUERY.sub(lambda m: m.group(1) + MASK, text)
        text = _ASSIGN.sub(_assign, text)
    if '":' in text or '" :' in text:
        text = _JSON_PAIR.sub(_json_pair, text)
    return text
