"""What the status page reads, and for how long it keeps it.

Per request the page needs the committed flag files, the store (value, history, the
latest abort's deliveries), the gate and the chart (the metric source: New Relic in
production) and what this instance's guard loop last did. Reads are bounded however many
people watch:

- the store part is read at most once per PAGE_TTL (as /status), one build at a time;
- the gate and the chart, per flag, at most once per METRICS_TTL. Past it the page is
  answered with the last ones while a thread computes new ones (New Relic's answer time
  never reaches a viewer); when the store changed (a new history row, another applied
  value) they are computed before answering, so a step or an abort never shows beside
  the previous step's verdict. `prewarm()` computes everything once at start;
- the guard's part is what the loop holds in memory, read at every request.

The gate is `rollout gate FLAG`'s own (gate_run.gate_result over the step-up window, the
pull-request comment's numbers); the guard's evaluations between aborts record only
their outcome, so the page judges for itself and says when. An abort shows the verdict
the guard recorded in its evidence.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

from rollout.core.flag_view import FlagView, GuardView, build_view
from rollout.core.state import ABORTED
from rollout.errors import RolloutError
from rollout.serve.logs import log

PAGE_TTL = 2.0
METRICS_TTL = 60.0


@dataclass(frozen=True)
class Page:
    at: datetime                    # the decisions' clock
    store: str                      # the store as it prints itself (no password)
    views: tuple[FlagView, ...]

    def view(self, flag: str) -> FlagView | None:
        return next((v for v in self.views if v.flag == flag), None)


@dataclass(frozen=True)
class Metrics:
    gate: dict | None
    gate_error: str | None
    chart: str | None
    chart_note: str | None


class PageData:
    def __init__(self, cfg, loop, clock=time.monotonic):
        self.cfg, self.loop, self.clock = cfg, loop, clock
        self._lock = threading.Lock()
        self._page: tuple[float, Page] | None = None
        self._metrics: dict[str, tuple[float, tuple, Metrics]] = {}
        self._metrics_lock = threading.Lock()      # one metric computation at a time
        self._refreshing: set[str] = set()
        self._sources = None
        self._catalog = None

    # -- what the routes call -----------------------------------------------------------------
    def page(self) -> Page:
        """The page as of now, this instance's guard included. Raises RolloutError when the
        flag files or the store cannot be read."""
        with self._lock:
            if self._page is None or self.clock() - self._page[0] >= PAGE_TTL:
                self._page = (self.clock(), self._build())
            page = self._page[1]
        return replace(page, views=tuple(replace(v, guard=self.guard(v.flag)) for v in page.views))

    def prewarm(self) -> None:
        """Build the page once (at start, in a thread): the first viewer waits for nothing."""
        try:
            self.page()
        except Exception as exc:         # the store may be down at start: the page says so later
            log("page_prewarm_failed", level=30, error=" ".join(str(exc).split())[:500])

    def guard(self, flag: str) -> GuardView:
        """This instance's last evaluation; a standby also says when the leader last renewed
        its lease (the leader evaluates every live flag right after each renewal)."""
        loop, now = self.loop, datetime.now(timezone.utc)
        role = "leader" if loop.leader else "standby"
        lease = getattr(loop, "lease", None)
        leader = renewed = None
        if lease is not None:
            leader = lease.holder
            since = lease.expires_at - timedelta(seconds=self.cfg.lease_ttl)
            renewed = round((now - since).total_seconds(), 1)
        last = loop.last
        if last is None:
            return GuardView(role, None, None, None, None, leader=leader,
                             leader_renewed_seconds=renewed)
        o = next((o for o in last.outcomes if o.flag == flag), None)
        return GuardView(role, last.at, round((now - last.at).total_seconds(), 1), last.trigger,
                         o.action if o else None, tuple(o.reasons) if o else (),
                         bool(o and o.blind), last.error, leader, renewed)

    # -- building -------------------------------------------------------------------------------
    def _build(self) -> Page:
        from rollout.adapters.store import open_store
        from rollout.core.catalog import load_catalog
        from rollout.flagfiles import load_flags

        self._catalog = self._catalog or load_catalog()
        states = load_flags(self.cfg.flags_dir)
        at = self.cfg.clock()
        read = []
        with open_store(self.cfg.store_url, self.cfg.history_url) as store:
            for s in states:
                history = store.history(s.flag)
                abort = next((e for e in reversed(history) if e.kind == ABORTED), None)
                read.append((s, store.read(s.flag), history,
                             store.deliveries(abort.id) if abort and abort.id else {}))
            where = store.url
        views = []
        for s, applied, history, deliveries in read:
            m = self._measured(s, applied.percentage if applied else 0, history, at)
            views.append(build_view(s, applied, history, at, catalog=self._catalog,
                                    deliveries=deliveries, gate=m.gate, gate_error=m.gate_error,
                                    chart=m.chart, chart_note=m.chart_note))
        return Page(at, where, tuple(views))

    def _measured(self, state, pct: int, history, at: datetime) -> Metrics:
        key = (state.revision, pct, history[-1].id if history else None)
        hit = self._metrics.get(state.flag)
        if hit and hit[1] == key:
            if self.clock() - hit[0] >= METRICS_TTL and state.flag not in self._refreshing:
                self._refreshing.add(state.flag)
                threading.Thread(target=self._refresh, args=(state, pct, history, at, key),
                                 name=f"page-metrics-{state.flag}", daemon=True).start()
            return hit[2]
        return self._compute(state, pct, history, at, key)

    def _compute(self, state, pct, history, at, key) -> Metrics:
        with self._metrics_lock:
            m = Metrics(*self._gate(state, pct, history, at), *self._chart(state, history, at))
            self._metrics[state.flag] = (self.clock(), key, m)
        return m

    def _refresh(self, state, pct, history, at, key) -> None:
        try:
            self._compute(state, pct, history, at, key)
        except Exception as exc:         # a bug: keep the last ones, say so, try again later
            log("page_metrics_failed", level=40, flag=state.flag, error=str(exc)[:500])
        finally:
            self._refreshing.discard(state.flag)

    def _open_sources(self):
        if self._sources is None:
            from rollout.adapters.metrics import open_source
            from rollout.adapters.reportdata import open_report_source

            self._sources = (open_source(self.cfg.metrics_url, self.cfg.store_url),
                             open_report_source(self.cfg.metrics_url, self.cfg.store_url))
        return self._sources

    def _gate(self, state, pct: int, history, at: datetime):
        from rollout.gate_run import gate_result

        try:
            source = self._open_sources()[0] if pct > 0 else None
            # the step's whole evidence, as `rollout gate` and reconcile judge it
            result = gate_result(state, pct, history, source, at, None, self._catalog)
        except RolloutError as exc:      # a source that cannot even be opened
            return None, str(exc)
        return result.to_json(), None

    def _chart(self, state, history, at: datetime):
        from rollout.core import reports
        from rollout.core.reports import chart

        tl = reports.timeline(state, history, at)
        if tl.start is None:
            return None, "nothing to draw yet: the flag has never been live"
        plan = reports.plan("review", state, history, at)
        w = plan.chart.window
        try:
            buckets = self._open_sources()[1].series(self._catalog, w.start, w.end,
                                                     plan.chart.bucket, reports.SERIES_METRICS)
        except RolloutError as exc:
            return None, f"no chart: the metric source failed: {exc}"
        return chart.render(state.flag, tl, list(buckets), self._catalog, w.start, w.end,
                            None, f"{state.flag}: rollout timeline"), None
