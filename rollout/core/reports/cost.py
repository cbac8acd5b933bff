"""Cost validation (AC#5, seeds 002 "Cost Monitoring & Validation" and 003 "Cost
Validation"): savings against the target, cost with and without skills, the canary's cost
against control's, token reduction, and the model distribution."""
from __future__ import annotations

from dataclasses import dataclass

from rollout.core.catalog import Catalog
from rollout.core.reports.markdown import MARK, head, lines_table, target_text
from rollout.core.reports.model import Header, Inputs, Line, Not, line, lines_json, savings, \
    verdict_word
from rollout.core.reports.names import COST, SAVINGS, TOKENS
from rollout.core.reports.summaries import CohortSummary
from rollout.core.tables import markdown_table
from rollout.core.units import format_usd_total, format_value

FAMILIES = ("haiku", "sonnet", "opus")
TOKEN_NOTE = ("Token reduction is the mean of the events' `tokenSavings` (percent of tokens saved "
              "per request); the events carry no absolute token count.")


@dataclass(frozen=True)
class ModelMix:
    """Requests and cost of one model family in a cohort."""

    model: str
    requests: int
    share: float | None             # percent of the cohort's requests
    cost: float | None              # USD

    def to_json(self) -> dict:
        return {"model": self.model, "requests": self.requests, "share": self.share,
                "cost": self.cost}


@dataclass(frozen=True)
class CostFigures:
    with_skills: float | None       # what the canary's requests cost
    without_skills: float | None    # what they would have cost at the baseline's price
    saved: float | None
    savings_pct: float | None

    def to_json(self) -> dict:
        return {"with_skills": self.with_skills, "without_skills": self.without_skills,
                "saved": self.saved, "savings_pct": self.savings_pct}


def model_mix(cohort: CohortSummary) -> tuple[ModelMix, ...]:
    """Requests and cost by model family (Haiku / Sonnet / Opus, 002), others by name."""
    groups: dict[str, list] = {f.capitalize(): [0, None] for f in FAMILIES}
    for model, share in sorted(cohort.models.items()):
        family = next((f.capitalize() for f in FAMILIES if f in model.lower()), model)
        g = groups.setdefault(family, [0, None])
        g[0] += share.requests
        if share.cost is not None:
            g[1] = (g[1] or 0.0) + share.cost
    total = sum(g[0] for g in groups.values())
    return tuple(ModelMix(k, n, 100.0 * n / total if total else None, cost)
                 for k, (n, cost) in groups.items())


def cost_figures(catalog: Catalog, can: CohortSummary, base: CohortSummary) -> CostFigures:
    """Cost with skills (the canary), and what the same requests would have cost at the
    baseline's cost per request."""
    per = base.value(COST)
    with_ = can.cost_total
    without = can.requests * per if per is not None and can.requests else None
    saved = without - with_ if without is not None and with_ is not None else None
    return CostFigures(with_, without, saved, savings(catalog, can, base))


@dataclass(frozen=True)
class CostReport:
    header: Header
    baseline_source: str
    figures: CostFigures
    lines: tuple[Line, ...]         # the first is the savings against the target
    canary_models: tuple[ModelMix, ...]
    control_models: tuple[ModelMix, ...]
    verdict: str                    # MET | NOT MET | INCONCLUSIVE

    def to_json(self) -> dict:
        return {**self.header.to_json(), "baseline_source": self.baseline_source,
                "figures": self.figures.to_json(), "lines": lines_json(self.lines),
                "models": {"canary": [m.to_json() for m in self.canary_models],
                           "control": [m.to_json() for m in self.control_models]},
                "verdict": self.verdict}

    def to_markdown(self, chart: str | None = None) -> str:
        f, sav = self.figures, self.lines[0]
        mark = MARK[sav.met]
        out = head(self.header, chart, self.baseline_source) + [
            f"{mark} Cost savings: {format_value(f.savings_pct, 'percent')} "
            f"(target: {target_text(sav.target, 'percent')})  ",
            f"- Total cost with skills: {format_usd_total(f.with_skills)}  ",
            f"- Estimated cost without skills: {format_usd_total(f.without_skills)}  ",
            f"- Total savings: {format_usd_total(f.saved)}  ", "",
            f"**{mark} COST SAVINGS TARGET: {self.verdict}**", ""] + lines_table(self.lines) + [
            "", TOKEN_NOTE, "", "### Model distribution", ""]
        return "\n".join(out + self._models_table()) + "\n"

    def _models_table(self) -> list[str]:
        mix = lambda m: f"{format_value(m.share, 'percent')} ({m.requests:,})"
        ctl = {m.model: m for m in self.control_models}
        none = ModelMix("", 0, None, None)
        rows = [[m.model, mix(m), format_usd_total(m.cost), mix(ctl.get(m.model, none)),
                 format_usd_total(ctl.get(m.model, none).cost)] for m in self.canary_models]
        shown = {m.model for m in self.canary_models}
        rows += [[name, "—", "—", mix(k), format_usd_total(k.cost)]
                 for name, k in ctl.items() if name not in shown]
        return markdown_table(["Model", "With skills (canary)", "Cost", "Baseline (control)", "Cost"],
                              rows)


def build(c: Inputs) -> CostReport:
    cat, step = c.catalog, c.tl.current.step if c.tl.current else None
    can = c.main.cohort("canary")
    base, base_note = c.baseline()
    fig = cost_figures(cat, can, base)
    sav = cat.metrics[SAVINGS]
    ratio_rule = (cat.metrics[COST].compare or {}).get("rollback")
    cv, kv = can.value(COST), base.value(COST)
    ratio = cv / kv * 100.0 if cv is not None and kv else None
    at_step = (f"at step {step}: " + ", ".join(f"{k} {v}" for k, v in sav.thresholds_for(step).items())
               if step in sav.steps else "")
    lines = (
        line("cost_savings", "Cost savings", fig.savings_pct, "percent", sav.thresholds["target"],
             source=f"catalog {SAVINGS} (AC#5)", note=at_step),
        line("cost_per_request", "Cost per request", cv, "usd", c.target(COST), baseline=kv,
             source=f"catalog {COST}"),
        line("cost_ratio", "Canary cost as % of control", ratio, "percent",
             Not(ratio_rule) if ratio_rule else None,
             met=(None if ratio is None or ratio_rule is None else not ratio_rule.met(ratio)),
             source=f"catalog {COST} compare (003 cost spike)"),
        line("token_reduction", "Token reduction (mean tokenSavings)", can.value(TOKENS), "percent",
             c.target(TOKENS), source=f"catalog {TOKENS}"),
    )
    return CostReport(c.header("Cost validation (AC#5)"), base_note, fig, lines, model_mix(can),
                      model_mix(base), verdict_word(lines[0].met, "MET", "NOT MET"))
