"""Cold-start time of `rollout validate` on the committed state, next to a bare interpreter.

Targets (issue 2): under 0.3 s, and under 10x `python -c pass`. Prints medians of 15 runs.
"""
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = 15


def median_seconds(cmd):
    times = []
    for _ in range(RUNS):
        t = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


bare = median_seconds([sys.executable, "-c", "pass"])
validate = median_seconds([sys.executable, "-m", "rollout", "validate"])
out = subprocess.run([sys.executable, "-X", "importtime", "-m", "rollout", "validate"], cwd=ROOT,
                     capture_output=True, text=True)
pulumi_loaded = "pulumi" in out.stderr
print(f"python -c pass:    median {bare * 1000:7.1f} ms  ({RUNS} runs)")
print(f"rollout validate:  median {validate * 1000:7.1f} ms  ({RUNS} runs)")
print(f"ratio:             {validate / bare:7.1f}x  (target < 10x, and < 300 ms)")
print(f"pulumi imported:   {'YES (defect)' if pulumi_loaded else 'no'}")
