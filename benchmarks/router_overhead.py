"""Latency the router adds: one azmlinfsrv, POST /score direct and through nginx.

Runs N requests per path at fixed concurrency (one keep-alive connection per thread; the
inference server's sync gunicorn workers close every connection, so each direct request
reconnects while the router keeps its client connection), interleaving direct and router rounds
so drift hits both alike. The router runs the generated config with key auth on, one worker.
Prints p50/p99 of both and the differences; the last line is name=value pairs.

    .venv/bin/python benchmarks/router_overhead.py [--requests 4000] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mlplan.router.nginx import RouterBackend, RouterConfig
from tests.dataplane.harness import (
    Instance,
    Result,
    Router,
    failures,
    free_port,
    hammer,
    percentile,
    start_instances,
    stop_all,
)

KEY = "benchmark-primary-key-0123456789"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=4000, help="per path (default 4000)")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads (default 4)")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds (default 4)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="mlplan-bench-"))
    instance = Instance("blue", workdir, workers=args.concurrency)
    router = Router(workdir / "router", worker_processes=1)
    try:
        start_instances([instance])
        router.start(
            RouterConfig(
                endpoint="bench",
                listen_port=free_port(),
                listen_address="127.0.0.1",
                backends=(
                    RouterBackend(
                        name="blue",
                        instances=(instance.address,),
                        max_concurrent_requests_per_instance=args.concurrency,
                    ),
                ),
                traffic=(("blue", 100),),
                keys=(KEY,),
            )
        )
        auth = {"Authorization": f"Bearer {KEY}"}
        paths = {"direct": instance.port, "router": router.port}
        for port in paths.values():  # warm-up
            hammer(port, 200, args.concurrency, headers=auth)
        seconds: dict[str, list[float]] = {name: [] for name in paths}
        per_round = max(1, args.requests // args.rounds)
        started = time.perf_counter()
        for _ in range(args.rounds):
            for name, port in paths.items():
                results: list[Result] = hammer(port, per_round, args.concurrency, headers=auth)
                bad = failures(results, expect="blue")
                if bad:
                    print(f"{name}: {len(bad)} failed, first: {bad[0]}", file=sys.stderr)
                    return 1
                seconds[name] += [r.seconds for r in results]
        elapsed = time.perf_counter() - started
    finally:
        router.stop()
        stop_all([instance])
        shutil.rmtree(workdir, ignore_errors=True)

    ms = {
        f"{name}_{q}_ms": percentile(values, pct) * 1000
        for name, values in seconds.items()
        for q, pct in (("p50", 50), ("p99", 99))
    }
    ms["added_p50_ms"] = ms["router_p50_ms"] - ms["direct_p50_ms"]
    ms["added_p99_ms"] = ms["router_p99_ms"] - ms["direct_p99_ms"]
    total = sum(len(v) for v in seconds.values())
    print(
        f"{total} POST /score in {elapsed:.1f}s, concurrency {args.concurrency}, "
        f"{args.rounds} interleaved rounds; 1 azmlinfsrv ({args.concurrency} workers), "
        "nginx 1 worker, key auth on"
    )
    print(f"direct: p50 {ms['direct_p50_ms']:.3f} ms  p99 {ms['direct_p99_ms']:.3f} ms")
    print(f"router: p50 {ms['router_p50_ms']:.3f} ms  p99 {ms['router_p99_ms']:.3f} ms")
    print(f"added:  p50 {ms['added_p50_ms']:.3f} ms  p99 {ms['added_p99_ms']:.3f} ms")
    print(" ".join(f"{name}={value:.3f}" for name, value in ms.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
