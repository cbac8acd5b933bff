"""Time to build the whole Pulumi program under Pulumi's mock runtime, and what it builds.

    .venv/bin/python bench/pulumi_build.py [--runs 10]

"cold" is the first run in a fresh interpreter, including the import of the Pulumi SDKs
and the catalog (what a `pulumi preview` pays before talking to any provider); "warm" is
the median of the following runs. Target: cold < 3 s.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_S = 3.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="warm runs after the cold one")
    args = parser.parse_args()

    t0 = time.perf_counter()
    from tests.pulumi_harness import PROJECT, run_main
    run = run_main()
    cold = time.perf_counter() - t0

    warm = []
    for _ in range(args.runs):
        t = time.perf_counter()
        run_main()
        warm.append(time.perf_counter() - t)

    custom = Counter(r.typ for r in run.custom)
    components = sum(1 for r in run.resources if r.typ.startswith(f"{PROJECT}:"))
    print(f"cold build (imports + program): {cold:.2f} s  (target < {TARGET_S:.0f} s: "
          f"{'met' if cold < TARGET_S else 'MISSED'})")
    if warm:
        print(f"warm build, median of {len(warm)}: {statistics.median(warm) * 1000:.0f} ms "
              f"(min {min(warm) * 1000:.0f} ms, max {max(warm) * 1000:.0f} ms)")
    print(f"resources: {len(run.custom)} provider resources + {components} components "
          f"= {len(run.resources)}")
    for typ, n in sorted(custom.items()):
        print(f"  {n:3d}  {typ}")
    return 0 if cold < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
