"""Time to reconcile 1,000 flags into a fresh SQLite store (target < 1 s), median of 5."""
import statistics
import tempfile
import time
from datetime import datetime, timezone

from rollout.adapters.store import open_store
from rollout.core.state import build_flag
from rollout.reconcile import reconcile

LADDER = [{"percentage": 0, "step": "off"}, {"percentage": 5, "step": "canary", "soak": "72h"},
          {"percentage": 25, "step": "beta", "soak": "168h"}, {"percentage": 100, "step": "full"}]
N = 1000
states = [build_flag({"flag": f"flag_{i:04d}", "percentage": (0, 5)[i % 2], "ladder": LADDER},
                     f"flag_{i:04d}.yaml", revision="bench") for i in range(N)]
now = datetime.now(timezone.utc)
first, second = [], []
for _ in range(5):
    with tempfile.TemporaryDirectory() as d, open_store(f"sqlite:///{d}/flags.db") as store:
        t = time.perf_counter()
        out = reconcile(states, store, now, commit="bench", actor="bench")
        first.append(time.perf_counter() - t)
        assert sum(o.written for o in out) == N
        t = time.perf_counter()
        out = reconcile(states, store, now, commit="bench", actor="bench")
        second.append(time.perf_counter() - t)
        assert not any(o.written for o in out)
print(f"reconcile {N} flags into a fresh SQLite store: median {statistics.median(first) * 1000:.0f} ms"
      f" (target < 1000 ms)")
print(f"second run, nothing to do:                   median {statistics.median(second) * 1000:.0f} ms")
