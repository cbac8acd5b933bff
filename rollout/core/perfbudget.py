"""A load test's figures judged against the catalog's performance budget (seed 002 Task 1).

Pure: figures in, checks out. The budget holds for the run as a whole and for each
scenario on its own (a slow compliance check must not hide behind fast contract
analyses), so every (scope, figure) pair is one check. A scope without a completed
request has no figure, and a figure that cannot be measured cannot meet a budget.
"""
from __future__ import annotations

from dataclasses import dataclass

from rollout.core.catalog import Condition
from rollout.core.units import format_value

OVERALL = "overall"
PASS, FAIL = "pass", "fail"

# Budget keys the summary can answer, with the unit they are printed in.
FIGURES = {"p50_ms": "ms", "p95_ms": "ms", "p99_ms": "ms",
           "error_rate": "percent", "success_rate": "percent"}


@dataclass(frozen=True)
class BudgetCheck:
    scope: str                 # "overall" or a scenario name
    figure: str                # a key of FIGURES
    value: float | None
    condition: Condition
    passed: bool
    note: str = ""

    @property
    def shown(self) -> str:
        return format_value(self.value, FIGURES[self.figure])

    def line(self) -> str:
        verdict = "ok" if self.passed else "MISSED"
        why = f" ({self.note})" if self.note else ""
        return f"{self.scope} {self.figure} {self.shown}, budget {self.condition}: {verdict}{why}"

    def to_json(self) -> dict:
        return {"scope": self.scope, "figure": self.figure, "value": self.value,
                "budget": str(self.condition), "passed": self.passed, "note": self.note}


@dataclass(frozen=True)
class BudgetVerdict:
    checks: tuple[BudgetCheck, ...]

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def verdict(self) -> str:
        return PASS if self.passed else FAIL

    @property
    def missed(self) -> list[BudgetCheck]:
        return [c for c in self.checks if not c.passed]

    def to_json(self) -> dict:
        return {"verdict": self.verdict, "checks": [c.to_json() for c in self.checks]}


def _check(scope: str, figure: str, figures: dict, cond: Condition) -> BudgetCheck:
    if not figures.get("requests"):
        return BudgetCheck(scope, figure, None, cond, False, "no request completed")
    value = figures.get(figure)
    if value is None:
        return BudgetCheck(scope, figure, None, cond, False, "not measured")
    return BudgetCheck(scope, figure, float(value), cond, cond.met(float(value)))


def judge(budget: dict[str, Condition], overall: dict, scenarios: dict[str, dict]) -> BudgetVerdict:
    """Every figure of `budget` for the whole run, then for each scenario in its order.

    `overall` and each scenario's figures are dicts with `requests` and the FIGURES keys
    (what rollout/loadtest's summary.json holds). An empty budget judges nothing and
    does not pass: there is nothing to prove the run against.
    """
    unknown = sorted(set(budget) - set(FIGURES))
    if unknown:
        raise ValueError(f"performance budget: unknown figure {unknown[0]!r}, "
                         f"expected one of {', '.join(FIGURES)}")
    scopes = [(OVERALL, overall), *scenarios.items()]
    return BudgetVerdict(tuple(_check(scope, figure, figures, cond)
                               for scope, figures in scopes for figure, cond in budget.items()))
