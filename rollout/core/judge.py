"""The checks of one metric at one step: what rollout/core/gate.py's evaluate() adds up.

- `<metric>`: its rollback lines as CUSUM charts (any crossed in the step: rollback),
  its hold chart on the target (above h now: hold, a recent move into the hold band),
  then its target as confidence-sequence bounds over the step (inside: pass; outside:
  hold, in the hold band; straddling: inconclusive);
- `<metric> vs control`: a difference beyond the canary monitor's margin on evidence
  (hold, or rollback if the catalog says so), or a cost-ratio chart (rollback);
- a service-level metric: its one value over its own window; "down" only when the
  monitor is known to have run (its `ran` count).
"""
from __future__ import annotations

from rollout.core import bounds, cusum
from rollout.core.gate import (ERROR, HOLD, INCONCLUSIVE, PASS, ROLLBACK, Check, Code, judged,
                               shown_values, thresholds_text)
from rollout.core.units import format_delta, format_value


def metric_checks(catalog, m, step, obs, source_error) -> list[Check]:
    thr = m.thresholds_for(step)
    charts = [c for c in m.cusum if c.line != "compare" and c.condition(m, step)]
    names = ([m.name] if judged(thr) or charts else []) + \
            ([f"{m.name} vs control"] if m.compare else [])
    if not names:
        return []
    base = catalog.metrics[m.derived["savings_of"]] if m.derived else None
    failure = source_error or ((obs.errors.get(m.name) or (base and obs.errors.get(base.name)))
                               if obs else None)
    if failure:
        return [Check(n, ERROR, None, None, thresholds_text(thr) if n == m.name else "—",
                      f"{m.title}: the metric source failed: {failure}",
                      target=str(thr["target"]) if thr.get("target") and n == m.name else None,
                      metric=m.name, unit=m.unit, code=Code.SOURCE_FAILED,
                      scope="service" if m.service_level else "cohort") for n in names]
    if m.service_level:
        return [_service(m, thr, obs)]
    alpha = round(1.0 - catalog.confidence, 12)     # 1 - 0.95 is 0.050000000000000044
    shown = shown_values(catalog, m, obs)
    out = [_absolute(catalog, m, step, obs, alpha, charts, shown)] if names[0] == m.name else []
    if m.compare:
        out.append(_compare(catalog, m, step, obs, alpha, shown))
    return out


def _chart_json(r: cusum.Reading) -> dict:
    return {"method": "cusum", "role": "hold" if r.holds else "rollback", "line": str(r.line),
            "h": r.h, "statistic": round(r.now, 3), "peak": round(r.peak, 3),
            "crossed": r.crossed}


def _crossed(m, readings, holds=False) -> tuple[str, dict] | None:
    hit = [r for r in readings if isinstance(r, cusum.Reading) and r.crossed and r.holds == holds]
    if not hit:
        return None
    r = hit[0]
    what = "a recent move over the target line" if holds else "evidence beyond the rollback line"
    return (f"{m.title}: {what} {r.line}: {r.basis} (CUSUM {r.peak:.1f} ≥ h {r.h:g})",
            _chart_json(r))


def _absolute(catalog, m, step, obs, alpha, charts, shown) -> Check:
    thr = m.thresholds_for(step)
    target = thr.get("target")
    can, ctl, delta = shown
    common = dict(threshold=thresholds_text(thr), target=str(target) if target else None,
                  metric=m.name, unit=m.unit, delta=delta)
    readings = [cusum.read(m, c, step, obs, catalog) for c in charts]
    evidence = {"charts": [_chart_json(r) for r in readings if isinstance(r, cusum.Reading)]}
    got = bounds.target(m, step, obs, catalog, alpha) if obs else "no observations"
    if not isinstance(got, str):
        evidence["bounds"] = {"method": "confidence sequence", "of": got[0].what or m.title,
                              "low": _r(got[0].low), "high": _r(got[0].high),
                              "confidence": catalog.confidence}
    crossed = _crossed(m, readings)
    if crossed:
        return Check(m.name, ROLLBACK, can, ctl, reason=crossed[0], code=Code.THRESHOLD_CROSSED,
                     evidence={**evidence, "crossed": crossed[1]}, **common)
    held = _crossed(m, readings, holds=True)
    band = f" (hold band {thr['hold']})" if thr.get("hold") else ""
    if held:
        return Check(m.name, HOLD, can, ctl, code=Code.HOLD_BAND,
                     reason=f"{held[0]}: misses target {target}{band}; hold and investigate",
                     evidence={**evidence, "crossed": held[1]}, **common)
    blind = [r.reason for r in readings if isinstance(r, cusum.Unread) and r.blind]
    if isinstance(got, str):
        if target is None and not blind and _was_read(readings):    # a rollback-only criterion
            return Check(m.name, PASS, can, ctl, reason=f"{m.title}: {_clear(readings)}",
                         code=Code.CLEAR, evidence=evidence, **common)
        code = Code.NO_DATA if "no canary" in got or obs is None else Code.INSUFFICIENT_EVIDENCE
        why = "; ".join(blind) if blind else got
        return Check(m.name, INCONCLUSIVE, can, ctl, reason=f"{m.title}: {why}", code=code,
                     evidence=evidence, **common)
    b, cond = got
    said = f"{b.what + ' ' if b.what else ''}{_span(b)} with {_level(catalog)} confidence"
    if b.inside(cond):
        return Check(m.name, PASS, can, ctl, reason=f"{m.title} meets target {target}: {said}",
                     code=Code.TARGET_MET, evidence=evidence, **common)
    if b.outside(cond):
        return Check(m.name, HOLD, can, ctl, code=Code.HOLD_BAND, evidence=evidence,
                     reason=f"{m.title} misses target {target}{band}: {said}; hold and "
                            f"investigate", **common)
    return Check(m.name, INCONCLUSIVE, can, ctl, code=Code.INSUFFICIENT_EVIDENCE,
                 evidence=evidence, reason=f"{m.title}: not yet shown to meet target "
                                           f"{target}: {said}", **common)


def _level(catalog) -> str:
    return f"{catalog.confidence * 100:g} %"


def _r(v):
    return None if v is None or abs(v) == float("inf") else round(v, 6)


def _span(b: bounds.Bounds) -> str:
    return f"between {format_value(b.low, b.unit)} and {format_value(b.high, b.unit)}"


def _was_read(readings) -> bool:
    return any(isinstance(r, cusum.Reading) for r in readings)


def _clear(readings) -> str:
    read = [r for r in readings if isinstance(r, cusum.Reading) and not r.holds]
    if not read:
        reasons = [r.reason for r in readings if isinstance(r, cusum.Unread)]
        return "no evidence yet" + (f" ({'; '.join(reasons)})" if reasons else "")
    return "; ".join(f"clear of the rollback line {r.line} (CUSUM {r.now:.1f}, h {r.h:g})"
                     for r in read)


def _compare(catalog, m, step, obs, alpha, shown) -> Check:
    spec, (cv, kv, delta) = m.compare, shown
    name = f"{m.name} vs control"
    if spec["test"] == "ratio":
        rule = spec["rollback"]
        common = dict(threshold=f"canary/control {rule} %", metric=m.name, unit=m.unit,
                      target=f"canary/control not {rule} %", delta=delta)
        charts = [c for c in m.cusum if c.line == "compare"]
        readings = [cusum.read(m, c, step, obs, catalog) for c in charts]
        crossed = _crossed(m, readings)
        evidence = {"charts": [_chart_json(r) for r in readings if isinstance(r, cusum.Reading)]}
        if crossed:
            return Check(name, ROLLBACK, cv, kv, reason=crossed[0], code=Code.THRESHOLD_CROSSED,
                         evidence={**evidence, "crossed": crossed[1]}, **common)
        blind = [r.reason for r in readings if isinstance(r, cusum.Unread) and r.blind]
        if blind or not _was_read(readings):
            why = "; ".join(blind or [r.reason for r in readings if isinstance(r, cusum.Unread)])
            code = Code.NO_DATA if blind or not (obs and obs.cohort("canary").requests) \
                else Code.INSUFFICIENT_EVIDENCE
            return Check(name, INCONCLUSIVE, cv, kv, reason=f"{m.title} vs control: {why}",
                         code=code, evidence=evidence, **common)
        return Check(name, PASS, cv, kv, reason=f"{m.title} vs control: {_clear(readings)}",
                     code=Code.CLEAR, evidence=evidence, **common)
    margin = spec["delta"] if m.worse == "higher" else -spec["delta"]
    op = ">" if m.worse == "higher" else "<"
    common = dict(threshold=f"Δ {op} {format_delta(margin, m.unit)} on evidence", metric=m.name,
                  target=f"no evidence of Δ {op} {format_delta(margin, m.unit)}", unit=m.unit,
                  delta=delta)
    got = bounds.versus_control(m, obs, alpha) if obs else "no observations"
    if isinstance(got, str):
        return Check(name, INCONCLUSIVE, cv, kv, reason=f"{m.title} vs control: {got}",
                     code=Code.NO_DATA, **common)
    evidence = {"bounds": {"method": "confidence sequence", "of": got.what, "low": _r(got.low),
                           "high": _r(got.high), "confidence": catalog.confidence}}
    said = f"canary minus control {_span_delta(got)} with {_level(catalog)} confidence"
    worse = got.low > margin if m.worse == "higher" else got.high < margin
    if worse:
        verdict = ROLLBACK if catalog.judge.regression_rolls_back else HOLD
        return Check(name, verdict, cv, kv, code=Code.REGRESSION_VS_CONTROL, evidence=evidence,
                     reason=f"{m.title} worse than control by more than "
                            f"{format_delta(margin, m.unit)}: {said}", **common)
    return Check(name, PASS, cv, kv, code=Code.CLEAR, evidence=evidence,
                 reason=f"{m.title}: no evidence of a regression beyond "
                        f"{format_delta(margin, m.unit)} against control ({said})", **common)


def _span_delta(b: bounds.Bounds) -> str:
    return f"between {format_delta(b.low, b.unit)} and {format_delta(b.high, b.unit)}"


def _service(m, thr, obs) -> Check:
    """A service-level metric: its one value, over its own window."""
    value = obs.service.get(m.name) if obs else None
    target, rollback = thr.get("target"), thr.get("rollback")
    span = f"the last {m.own_window_minutes} min" if m.own_window_minutes else "the window"
    common = dict(threshold=thresholds_text(thr), target=str(target) if target else None,
                  metric=m.name, unit=m.unit, scope="service")
    if value is None:
        return Check(m.name, INCONCLUSIVE, None, None, code=Code.NO_DATA,
                     reason=f"{m.title}: no value in {span}", **common)
    shown = f"{m.title} {format_value(value, m.unit)}"
    if rollback and rollback.met(value):
        ran = obs.ran.get(m.name) if m.ran else None
        if m.ran and (ran is None or ran < m.ran["at_least"]):
            return Check(m.name, INCONCLUSIVE, value, None, code=Code.MONITOR_SILENT,
                         reason=f"{shown} in {span}, but the monitor ran "
                                f"{'no' if not ran else f'only {ran:g}'} checks there (it takes "
                                f"{m.ran['at_least']} to call the service down): no data is "
                                f"not down", **common)
        ran_text = f", {ran:g} checks ran" if m.ran else ""
        return Check(m.name, ROLLBACK, value, None, code=Code.THRESHOLD_CROSSED,
                     reason=f"{shown} meets the rollback criterion {rollback} (service-wide, "
                            f"over {span}{ran_text})", **common)
    if target is None or target.met(value):
        said = f"meets target {target}" if target else f"is clear of rollback {rollback}"
        return Check(m.name, PASS, value, None, code=Code.TARGET_MET if target else Code.CLEAR,
                     reason=f"{shown} {said} (service-wide, over {span})", **common)
    band = f" (hold band {thr['hold']})" if thr.get("hold") else ""
    return Check(m.name, HOLD, value, None, code=Code.HOLD_BAND,
                 reason=f"{shown} misses target {target}{band} (service-wide, over {span})",
                 **common)
