"""Gate evaluation cost: NerdGraph requests per evaluation (target 1, for any number of
metrics) and CPU time of one evaluation of the whole catalog over 100,000 events in
SQLite, fetch + evaluate (target < 100 ms), median of 10.

Run from the repository root: python bench/gate_eval.py
"""
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rollout.adapters.metrics.newrelic import NewRelicSource  # noqa: E402
from rollout.adapters.metrics.sqlite_events import SQLiteEventSource, import_ndjson  # noqa: E402
from rollout.core.catalog import load_catalog  # noqa: E402
from rollout.core.gate import evaluate, soak_check  # noqa: E402
from tests.events import CONTROL, T0, Profile, events, scaled_catalog, write_ndjson  # noqa: E402
from tests.fakes.newrelic import API_KEY, FakeNerdGraph  # noqa: E402

N_EVENTS, CANARY_SHARE, RUNS = 100_000, 0.25, 10
WINDOW = (T0, T0 + timedelta(hours=1))
SOAK = soak_check(True, "soak served")
catalog = load_catalog()

# -- requests per evaluation ------------------------------------------------------------------
sample = events(200, "canary") + events(800, "control", CONTROL)
for label, cat in (("catalog", catalog), ("catalog x3", scaled_catalog(3))):
    with FakeNerdGraph(sample) as fake:
        source = NewRelicSource(fake.account_id, API_KEY, fake.url)
        for _ in range(5):
            evaluate(cat, "beta", source.fetch(cat, *WINDOW), soak=SOAK)
        queries = len(fake.queries[0])
        print(f"NerdGraph requests per evaluation, {label:<10} ({queries:2d} NRQL queries): "
              f"{len(fake.requests) / 5:g} (target 1)")

# -- CPU time over 100,000 events --------------------------------------------------------------
n_canary = int(N_EVENTS * CANARY_SHARE)
rows = events(n_canary, "canary", Profile()) + events(N_EVENTS - n_canary, "control", CONTROL)
with tempfile.TemporaryDirectory() as d:
    db = Path(d) / "flags.db"
    t = time.perf_counter()
    import_ndjson(write_ndjson(Path(d) / "events.ndjson", rows), db)
    print(f"import of {N_EVENTS:,} events: {time.perf_counter() - t:.1f} s")
    source = SQLiteEventSource(db)
    cpu, result = [], None
    for _ in range(RUNS + 1):
        t = time.process_time()
        result = evaluate(catalog, "beta", source.fetch(catalog, *WINDOW), soak=SOAK)
        cpu.append(time.process_time() - t)
    cpu = cpu[1:]           # the first run pays for imports (scipy) and a cold page cache
    assert sum(c.name != "soak" for c in result.checks) >= 10 and result.verdict == "proceed", result.reasons
    print(f"one evaluation of the whole catalog over {N_EVENTS:,} events "
          f"({n_canary:,} canary), fetch + evaluate: median CPU "
          f"{statistics.median(cpu) * 1000:.1f} ms over {RUNS} runs (target < 100 ms)")
