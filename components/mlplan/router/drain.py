"""Shell programs that change a running router's ``routing.conf`` and wait until it serves it
(pure: values in, ``/bin/sh`` text out). The Docker target runs them in one-shot containers of
the router image on the endpoint's network, with the config volume mounted.

Two writers, one protocol:

- the **config** writer installs the rendered ``routing.conf`` and ``keys.conf``;
- a **drain** writer takes one batch of a deployment out of the routing before its containers
  stop: it replaces that deployment's ``upstream`` block in the LIVE ``routing.conf`` with one
  rendered by ``nginx.render_upstream`` (the batch's servers ``down``, the others up), so nginx
  sends the batch no new request while its in-flight requests finish.

Rules (both writers):

- one writer at a time per endpoint: ``flock`` on ``.routing.lock`` in the volume (deployments
  roll side by side), held until the router serves the result;
- the new ``routing.conf`` ends with a **generation** block: a control server on
  ``control_port`` answering ``GET /-/generation`` with the MD5 of the file without that block
  (the same content gives the same generation; a block already there is replaced);
- every server that nginx re-resolves at run time (``server NAME:PORT resolve``, not ``down``)
  is **pinned**: the IPv4 addresses NAME has now (``getent hosts``) follow it as ``backup``
  servers, marked ``# mlplan-pin`` (old pins are dropped first). nginx makes a new upstream
  zone at every reload and its new workers start with no address for a re-resolved name until
  their first DNS answer: a request in that window found "no live upstreams" (seen: 1 of 1,796
  requests, a one-instance deployment at 100% switched to its new container). A backup is used
  only when no primary address is there; the pins are the addresses of the moment of the
  write, which is when the reload happens. A name that does not resolve gets no pin.
  Example: ``server E-blue-0:5001 resolve max_fails=0;`` with E-blue-0 at 172.30.2.5 ->
  ``server 172.30.2.5:5001 backup max_fails=0;  # mlplan-pin`` after it;
- ``nginx -t`` on the staged files before anything is written (exit ``REJECTED_EXIT``); then
  an atomic rename into the volume;
- then it polls the router until it answers the new generation twice in a row (so a worker of
  the previous configuration that accepted in the reload's window cannot pass), at most
  ``wait_s`` seconds (exit ``UNCONFIRMED_EXIT``, naming what it waited for). No fixed sleep: the
  router's reload under load takes what it takes. A router that does not serve at all (its
  name does not resolve, or its listen port refuses: the first ``pulumi up``, before the router
  exists) routes nothing, so there is nothing to wait for.

A drain whose deployment is not in the live file yet (a new deployment, the first ``up``) has
nothing to take out and exits 0 at once.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

GENERATION_PATH = "/-/generation"
GENERATION_BEGIN = "# mlplan-generation begin (written by the routing writer; do not edit)"
GENERATION_END = "# mlplan-generation end"
REJECTED_EXIT = 65
UNCONFIRMED_EXIT = 75
LOCK_FILE = ".routing.lock"
PIN_MARK = "# mlplan-pin"


@dataclass(frozen=True, kw_only=True)
class RoutingWriter:
    """Where a writer works: the volume (``conf_dir``), its staging folder (the check config
    ``nginx.conf`` there includes ``keys.conf``/``routing.conf`` from it), and the router it
    waits for (``router:listen_port`` serves, ``router:control_port`` tells the generation)."""

    conf_dir: str
    staging_dir: str
    router: str
    listen_port: int
    health_path: str
    control_port: int
    wait_s: int


def _q(text: str) -> str:
    return shlex.quote(text)


def _generation_lines(control_port: int) -> list[str]:
    """The control server, one ``printf`` argument per line; ``$gen`` is the shell's value."""
    return [GENERATION_BEGIN, "server {", f"    listen {control_port};", "    access_log off;",
            f"    location = {GENERATION_PATH} {{", '        return 200 "$gen";', "    }",
            "    location / {", "        return 404;", "    }", "}", GENERATION_END]


#: awk: after a ``server NAME:PORT resolve`` line that is not ``down``, one ``backup`` line
#: per IPv4 address NAME resolves to now (``getent hosts``: one line per address; the router
#: resolves IPv4 only, ``ipv6=off``). At most 2 s a name: Docker's DNS forwards a name it does
#: not know (a container that is gone) to the host's resolvers, which may not answer.
_PIN_AWK = (
    '/^ *server [A-Za-z0-9._-]+:[0-9]+ resolve / && !/ down;$/ { '
    'split($2, hp, ":"); cmd = "timeout 2 getent hosts " hp[1]; delete seen; '
    'while ((cmd | getline row) > 0) { split(row, f, " "); '
    'if (f[1] ~ /^[0-9]+[.][0-9]+[.][0-9]+[.][0-9]+$/ && !(f[1] in seen)) { '
    'seen[f[1]] = 1; print "    server " f[1] ":" hp[2] " backup max_fails=0;  '
    + PIN_MARK + '" } } close(cmd) }')


def _apply(w: RoutingWriter, who: str, files: tuple[str, ...]) -> str:
    """Stamp, check, install ``files`` from staging, then wait for the router (see module)."""
    stage, conf = _q(w.staging_dir), _q(w.conf_dir)
    block = " ".join('"$gen"'.join(_q(part) for part in line.split("$gen"))
                     for line in _generation_lines(w.control_port))
    strip = (f'$0 == "{GENERATION_BEGIN}" {{ s = 1 }} !s && !/{PIN_MARK}$/ {{ print }} '
             f'!s && {_PIN_AWK} '
             f'$0 == "{GENERATION_END}" {{ s = 0 }}')
    control = f"http://{w.router}:{w.control_port}{GENERATION_PATH}"
    health = f"http://{w.router}:{w.listen_port}{w.health_path}"
    installs = "; ".join(f"cp {stage}/{f} {conf}/.{f}.new && mv {conf}/.{f}.new {conf}/{f}"
                         for f in files)
    return "\n".join([
        f"awk {_q(strip)} {stage}/routing.conf > {stage}/.body",
        f"gen=$(md5sum < {stage}/.body | cut -c1-32)",
        f"{{ cat {stage}/.body; printf '%s\\n' {block}; }} > {stage}/routing.conf",
        f"if ! nginx -t -q -c {stage}/nginx.conf; then",
        f"  echo {_q(f'{who}: nginx rejected the new routing; not applied')} >&2",
        f"  exit {REJECTED_EXIT}",
        "fi",
        installs,
        f"deadline=$(( $(date +%s) + {w.wait_s} )); seen=0",
        "while :; do",
        f"  got=$(wget -q -O - -T 2 {_q(control)} 2>/dev/null) || got=''",
        '  if [ "$got" = "$gen" ]; then',
        '    seen=$((seen + 1)); [ "$seen" -ge 2 ] && break',
        "  else",
        "    seen=0",
        f"    if ! said=$(wget -O /dev/null -T 2 {_q(health)} 2>&1); then",
        '      case "$said" in *"bad address"*|*"unable to resolve"*|*"not known"*|*refused*)',
        f"        echo {_q(f'{who}: applied; no router serving yet, nothing to wait for')}",
        "        exit 0;;",
        "      esac",
        "    fi",
        "  fi",
        '  if [ "$(date +%s)" -ge "$deadline" ]; then',
        f"    echo \"{who}: the router {w.router} did not serve routing generation $gen within"
        f" {w.wait_s} s (it answers '$got'; its log says why)\" >&2",
        f"    exit {UNCONFIRMED_EXIT}",
        "  fi",
        "  sleep 0.2",
        "done",
        f"echo \"{who}: the router serves routing generation $gen\"",
    ])


def _locked(w: RoutingWriter) -> list[str]:
    conf = _q(w.conf_dir)
    return ["set -eu", f"exec 9>>{conf}/{LOCK_FILE}", "flock 9"]


def config_program(w: RoutingWriter, who: str) -> str:
    """The config writer: staged ``keys.conf`` and ``routing.conf`` -> the volume; ``who``
    names it in every line it prints (``mlplan-router-config: endpoint my-endpoint``)."""
    return "\n".join([*_locked(w), _apply(w, who, ("keys.conf", "routing.conf"))]) + "\n"


def drain_program(w: RoutingWriter, who: str, upstream: str) -> str:
    """The drain writer of one batch: the live ``routing.conf`` with the block ``upstream
    <upstream> {`` .. ``}`` replaced by ``staging/upstream.conf`` (``render_upstream``), then
    as the config writer. Example: ``upstream="mlplan_blue"``; batch 2 of blue 10 -> the file
    routes blue-0 (old and new), blue-4 .. blue-9, and marks blue-2, blue-3 ``down``."""
    stage, conf = _q(w.staging_dir), _q(w.conf_dir)
    header = f"upstream {upstream} {{"
    replace = (f'$0 == "{header}" {{ while ((getline l < b) > 0) print l; s = 1; next }} '
               's && $0 == "}" { s = 0; next } !s { print }')
    return "\n".join([
        *_locked(w),
        f"if [ ! -s {conf}/routing.conf ] || ! grep -qxF {_q(header)} {conf}/routing.conf; then",
        f"  echo {_q(f'{who}: nothing routed to it yet; nothing to drain')}",
        "  exit 0",
        "fi",
        f"awk -v b={stage}/upstream.conf {_q(replace)} {conf}/routing.conf > {stage}/routing.conf",
        f"cp {conf}/keys.conf {stage}/keys.conf",
        _apply(w, who, ("routing.conf",)),
    ]) + "\n"
