#!/usr/bin/env python3
"""Legacy ``tools/call`` over Streamable HTTP with the Redis store against the in-memory store,
in one run (the issue's goal: Redis >= 0.5x memory).

    python tests/bench/store_http_bench.py [--duration 3] [--repeats 5] [--conns 1,16]

Starts a ``redis-server`` on a free loopback port (no persistence), then hands two server
commands to ``../shared/bench/http_bench.py`` (wrk, interleaved runs, ratios per repeat then
medianed): ``memory`` (``mcpfast run tests/scale/app.py --store memory``) and ``redis`` (the
same server with ``--store redis://...``). Both serve the same legacy session hot path: a session's requests
are served from the process's cache, so the Redis one pays a round trip only where it must
(initialize, the sweep's expiry refresh), not per call. ``--bench PATH`` names another
``http_bench.py``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.support.redis_server import RedisServer, redis_server_binary  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default=str(ROOT.parent.parent / "shared" / "bench" / "http_bench.py"))
    ap.add_argument("--duration", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--conns", default="1,16")
    ap.add_argument("--out")
    args = ap.parse_args()
    bench = Path(args.bench)
    if not bench.exists():
        bench = Path("/work/shared/bench/http_bench.py")
    with tempfile.TemporaryDirectory(prefix="mcpfast-redis-bench-") as tmp:
        redis = RedisServer(redis_server_binary(), Path(tmp))
        redis.start()
        try:
            py = sys.executable
            serve = f"{py} -m mcpfast run tests/scale/app.py --transport http --host 127.0.0.1 --port {{port}}"
            cmd = [py, str(bench), "--ref", "memory", "--duration", str(args.duration), "--repeats",
                   str(args.repeats), "--conns", args.conns, "--cwd", str(ROOT), "--mem-calls", "1000",
                   "--server", f"memory={serve} --store memory",
                   "--server", f"redis={serve} --store {redis.url(7)}"]
            if args.out:
                cmd += ["--out", args.out]
            env = {k: v for k, v in os.environ.items() if k != "MCPFAST_STORE"}
            return subprocess.call(cmd, cwd=ROOT, env=env)
        finally:
            redis.stop()


if __name__ == "__main__":
    raise SystemExit(main())
