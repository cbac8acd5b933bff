"""The status page of `rollout serve` on the drill's store: page weight and first byte.

A store filled by `rollout drill` (healthy, the default 2,400 requests an hour, seed 7,
clock pinned) is served by a real `rollout serve` on 127.0.0.1; requests come from this
process over one keep-alive connection. Targets (issue 16): every asset of the page
under 200 KB; first byte under 100 ms (median).

Three paths, because the page keeps what it reads (rollout/serve/page_data.py):
  warm        within 2 s of the last build: the page is rendered from memory
  store       the store part read again (flag files, values, history, deliveries); the
              gate and the chart from memory (past their 60 s they are recomputed in a
              thread while the last ones are served, so this is also every later minute)
  start       the first request, sent as soon as the service listens: it waits for the
              build the service starts by itself (the store, the gate over 24 h of events,
              the chart over the whole rollout) in a fresh process

    python bench/status_page.py [--warm 50] [--store-runs 8] [--cold-runs 3]
"""
from __future__ import annotations

import argparse
import http.client
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.cli import make_repo, rollout, set_percentage  # noqa: E402
from tests.serve_proc import Served  # noqa: E402

FLAG = "skills_rollout"
PINNED = "2026-11-30T06:00:00Z"
LIMIT_BYTES = 200_000
LIMIT_MS = 100.0


def first_byte(conn: http.client.HTTPConnection, path: str) -> tuple[float, int]:
    """(ms until the status line and headers arrived, body bytes)."""
    start = time.perf_counter()
    conn.request("GET", path)
    resp = conn.getresponse()
    ms = (time.perf_counter() - start) * 1000
    body = resp.read()
    assert resp.status == 200, (path, resp.status, body[:200])
    return ms, len(body)


def show(name: str, ms: list[float]) -> None:
    print(f"  {name:6s} runs {len(ms):3d}  median {statistics.median(ms):7.1f} ms  "
          f"min {min(ms):7.1f}  max {max(ms):7.1f}  "
          f"(median / target {statistics.median(ms) / LIMIT_MS:.2f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--warm", type=int, default=50)
    ap.add_argument("--store-runs", type=int, default=8)
    ap.add_argument("--cold-runs", type=int, default=3)
    args = ap.parse_args()
    env = {"ROLLOUT_NOW": PINNED}
    with tempfile.TemporaryDirectory(prefix="bench-page-") as tmp:
        repo = make_repo(Path(tmp))
        set_percentage(repo, 100)
        t = time.perf_counter()
        out = rollout(["drill", "--seed", "7", "--store", "sqlite:///.rollout/flags.db"], repo, env)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr
        db = repo / ".rollout/flags.db"
        print(f"drill store: {db.stat().st_size / 1e6:.1f} MB, filled in "
              f"{time.perf_counter() - t:.0f} s")

        cold, weights = [], {}
        for run in range(args.cold_runs):
            with Served(repo, env, "--interval", "3600", token=None) as srv:
                conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
                cold.append(first_byte(conn, "/")[0])
                if run == 0:
                    for path in ("/", f"/flags/{FLAG}", f"/flags/{FLAG}.json", "/static/page.css",
                                 "/status"):
                        weights[path] = first_byte(conn, path)[1]
                    warm = [first_byte(conn, "/")[0] for _ in range(args.warm)]
                    store = []
                    for _ in range(args.store_runs):
                        time.sleep(2.1)               # past the page's 2 s
                        store.append(first_byte(conn, "/")[0])
                conn.close()

    page = weights["/"] + weights["/static/page.css"]
    print(f"page weight (target: every asset < {LIMIT_BYTES / 1000:.0f} KB; no script, no image "
          f"but the inline SVG chart):")
    for path, size in weights.items():
        print(f"  {path:28s} {size / 1000:7.1f} KB")
    print(f"  GET / with its one stylesheet: {page / 1000:.1f} KB "
          f"({page / LIMIT_BYTES:.2f} of the target)")
    print(f"first byte of GET / (target: median < {LIMIT_MS:.0f} ms):")
    show("warm", warm)
    show("store", store)
    show("start", cold)


if __name__ == "__main__":
    main()
