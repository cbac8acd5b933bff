"""The status page of `rollout serve` in a real headless Chromium (tests/browser.py), on
127.0.0.1, in each state a rollout goes through:

- full, and held with reasons: stores filled by `rollout drill` (seed 7, 600 requests an
  hour, the clock pinned as in tests/test_golden.py): the healthy drill ends at 100 %, the
  provider-outage drill holds the canary;
- off, canary soaking, then aborted with its revert pull request: a repository whose
  canary was applied 24 h ago, served with the page's credentials against the fakes of
  New Relic, Slack, PagerDuty and GitHub (tests/serve_proc.py); the canary breaks, New
  Relic's webhook wakes the guard, which rolls back and notifies.

For each: the state the card shows, the numbers beside `rollout status --output json`, no
console error, and a screenshot under tests/artifacts/status-page/ (ignored by git). The
markup of every page is checked by the W3C's Nu HTML checker. docs/status-page.png (the
README's) is soaking-first-screen.png. One browser for the module;
the module runs on one xdist worker (its group), so the drills run once.
"""
from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from tests.browser import ARTIFACTS, chromium, vnu_messages
from tests.drill_cache import drill
from tests.cli import git, make_repo, rollout, set_percentage
from tests.serve_proc import Fakes, Served, traffic

pytestmark = pytest.mark.xdist_group("status-page")

FLAG, OTHER = "skills_rollout", "summaries_rollout"
PINNED = "2026-11-30T06:00:00Z"          # as tests/test_golden.py: the drills end here
PAGE_TOKEN = "status-page-token-" + "fedcba9876543210" * 2
SHOTS = ARTIFACTS / "status-page"
DESKTOP, PHONE = {"width": 1100, "height": 900}, {"width": 390, "height": 844}

# What the browser reads off each card: its state, the fields the page marks, the soak bar.
CARDS_JS = """() => Array.from(document.querySelectorAll('article.card')).map(c => {
  const f = {};
  c.querySelectorAll('[data-field]').forEach(e => { f[e.dataset.field] = e.textContent.trim(); });
  const p = c.querySelector('progress');
  return {id: c.id, fields: f, progress: p ? [p.value, p.max] : null, text: c.innerText,
          links: Array.from(c.querySelectorAll('a[href]')).map(a => a.getAttribute('href'))};
})"""


@dataclass
class Seen:
    """One page as the browser showed it, and what the command line says at that moment."""

    name: str
    html: str                       # the source as served
    cards: dict                     # flag -> what the browser read off its card
    status: dict                    # flag -> its row of `rollout status --output json`
    views: dict                     # flag -> GET /flags/<flag>.json
    console: list = field(default_factory=list)
    overflow: int = 0               # px wider than the viewport (phone)


class Page:
    """A served repository and how to look at it."""

    def __init__(self, repo: Path, env: dict, served: Served, auth: str | None = None):
        self.repo, self.env, self.srv, self.auth = repo, env, served, auth

    def get(self, path: str):
        headers = {"Authorization": f"Bearer {self.auth}"} if self.auth else {}
        return requests.get(self.srv.url + path, headers=headers, timeout=30)

    def look(self, browser, name: str, path: str, viewport=DESKTOP) -> Seen:
        creds = {"username": "oncall", "password": self.auth} if self.auth else None
        ctx = browser.new_context(viewport=viewport, http_credentials=creds)
        console = []
        try:
            page = ctx.new_page()
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}")
                    if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
            answer = page.goto(self.srv.url + path, wait_until="load")
            assert answer.status == 200, answer.status
            cards = {c["id"].removeprefix("flag-"): c for c in page.evaluate(CARDS_JS)}
            overflow = page.evaluate("() => document.documentElement.scrollWidth - innerWidth")
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
            if name == "soaking":        # the first screen: docs/status-page.png is one
                page.screenshot(path=str(SHOTS / f"{name}-first-screen.png"))
        finally:
            ctx.close()
        out = rollout(["status", "-o", "json"], self.repo, self.env)
        assert out.returncode == 0, out.stderr
        status = {f["flag"]: f for f in json.loads(out.stdout)["flags"]}
        views = {flag: self.get(f"/flags/{flag}.json").json() for flag in cards}
        return Seen(name, self.get(path).text, cards, status, views, console, overflow)


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def drilled(tmp_path_factory, fault: str, committed: int) -> Path:
    """A repository whose flag file says `committed`, and a store one drill filled (the
    run's shared rehearsal of that fault, tests/drill_cache.py: seed 7, 600 an hour)."""
    repo = make_repo(tmp_path_factory.mktemp(fault))
    set_percentage(repo, committed)
    drill(tmp_path_factory, fault, pinned=PINNED).copy_to(repo / ".rollout", "flags.db")
    return repo


@pytest.fixture(scope="module")
def full(tmp_path_factory, browser):
    repo = drilled(tmp_path_factory, "none", 100)
    env = {"ROLLOUT_NOW": PINNED}
    with Served(repo, env, "--interval", "3600", token=None) as srv:
        yield Page(repo, env, srv).look(browser, "full", "/")


@pytest.fixture(scope="module")
def held(tmp_path_factory, browser):
    repo = drilled(tmp_path_factory, "provider-outage", 25)
    env = {"ROLLOUT_NOW": PINNED}
    with Served(repo, env, "--interval", "3600", token=None) as srv:
        yield Page(repo, env, srv).look(browser, "held", f"/flags/{FLAG}")


def two_flags(tmp: Path):
    """skills_rollout applied at 5 % 24 h before `now`, summaries_rollout off."""
    from datetime import datetime, timezone

    repo = make_repo(tmp)
    text = (repo / f"rollout/flags/{FLAG}.yaml").read_text()
    (repo / f"rollout/flags/{OTHER}.yaml").write_text(
        text.replace(f"flag: {FLAG}", f"flag: {OTHER}")
            .replace("Claude Skills routing in the AI service", "Summaries of case files"))
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "a second flag")
    t0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
    for pct in (None, 5):
        if pct:
            set_percentage(repo, pct)
        out = rollout(["reconcile"], repo, {"ROLLOUT_NOW": t0.isoformat()})
        assert out.returncode == 0, out.stdout + out.stderr
    return repo, t0 + timedelta(hours=24)


@pytest.fixture(scope="module")
def production(tmp_path_factory):
    """The repository served as in production: with the page's credentials, the fakes."""
    repo, now = two_flags(tmp_path_factory.mktemp("prod"))
    fakes = Fakes(repo, now, FLAG)
    env = {**fakes.env, "ROLLOUT_PAGE_TOKEN": PAGE_TOKEN}
    try:
        with Served(repo, env, "--metrics", fakes.metrics, "--interval", "3600") as srv:
            srv.wait_until(lambda h: h["last_evaluation"] is not None)
            yield Page(repo, env, srv, auth=PAGE_TOKEN), fakes
    finally:
        fakes.close()


@pytest.fixture(scope="module")
def soaking(production, browser):
    page, _ = production
    return (page.look(browser, "soaking", "/"),
            page.look(browser, "soaking-phone", "/", viewport=PHONE))


@pytest.fixture(scope="module")
def aborted(production, soaking, browser):
    page, fakes = production
    fakes.nr.events = traffic(_now(page), faulty=True)          # the canary breaks
    code, _, _ = page.srv.post_hook({"state": "ACTIVATED", "title": "High Skill Error Rate"})
    assert code == 202
    page.srv.wait_until(lambda h: h["evaluations"] >= 2 and not h["evaluating"])
    deadline = time.monotonic() + 10            # the page's store part lives 2 s
    while page.get(f"/flags/{FLAG}.json").json()["state"] != "aborted":
        assert time.monotonic() < deadline, "the page never showed the abort"
        time.sleep(0.2)
    return page.look(browser, "aborted", f"/flags/{FLAG}"), fakes


def _now(page: Page):
    from datetime import datetime

    return datetime.fromisoformat(page.env["ROLLOUT_NOW"])


# -- what each state shows ------------------------------------------------------------------

def numbers_match(seen: Seen) -> None:
    """The page's numbers are `rollout status --output json`'s, and so is its JSON."""
    pct = lambda v: "—" if v is None else f"{v} %"
    assert seen.cards and set(seen.cards) <= set(seen.status)
    for flag, card in seen.cards.items():
        st, f = seen.status[flag], card["fields"]
        assert (f["desired"], f["applied"], f["step"]) == (pct(st["desired"]), pct(st["applied"]),
                                                          st["step"]), (flag, f, st)
        for key in ("time_in_step", "soak_remaining"):
            if key in f:
                assert f[key] == st[key], (flag, key)
        assert ("drift" in f) == (not st["in_sync"])
        assert seen.views[flag]["status"] == st


def test_canary_soaking_and_off(soaking):
    seen, phone = soaking
    numbers_match(seen)
    canary, off = seen.cards[FLAG], seen.cards[OTHER]
    assert canary["fields"]["state"] == "◐ SOAKING" and off["fields"]["state"] == "○ OFF"
    assert canary["fields"]["soak_remaining"] == "48h" and canary["progress"] == [86400, 259200]
    assert "▶ applied" in canary["text"] and "◆ committed" in canary["text"]
    view = seen.views[FLAG]
    assert view["gate"]["verdict"] == "hold" and view["gate"]["checks"][0]["cells"][0] == "Soak"
    assert view["guard"]["role"] == "leader" and view["guard"]["action"] in ("healthy", "held")
    assert "Last evaluation" in canary["text"] and "rollback" in canary["text"]   # chart legend
    assert phone.overflow <= 0, f"{phone.overflow}px wider than a phone"


def test_held_with_its_reasons(held):
    numbers_match(held)
    card = held.cards[FLAG]
    assert card["fields"]["state"] == "⚠ HELD" and "drift" in card["fields"]
    assert card["fields"]["summary"].startswith("held at 5% (committed 25%): step up 5% → 25%")
    hold = held.views[FLAG]["hold"]
    assert hold["kind"] == "held" and len(hold["reasons"]) > 5
    assert "HTTP 503 (drill: provider outage)" in card["text"]        # the reasons, listed


def test_aborted_with_its_revert_pull_request(aborted):
    seen, fakes = aborted
    numbers_match(seen)
    card, view = seen.cards[FLAG], seen.views[FLAG]
    [pull] = fakes.gh.open_pulls()
    assert card["fields"]["state"] == "✖ ABORTED" and view["abort"]["standing"] is True
    assert view["abort"]["revert_pull_request"] == pull["html_url"] in card["links"]
    assert {d["channel"]: d["status"] for d in view["abort"]["deliveries"]} == {
        "github": "sent", "slack": "sent", "pagerduty": "sent"}
    assert view["abort"]["severity"] == "SEV1" and view["abort"]["gate"]["verdict"] == "rollback"
    assert "The verdict that rolled it back" in card["text"] and "✖ rollback" in card["text"]
    assert view["gate"] is None and "while the abort stands" in view["gate_error"]
    assert view["chart"]["available"], view["chart"]["note"]     # New Relic's TIMESERIES


def test_full(full):
    numbers_match(full)
    card = full.cards[FLAG]
    assert card["fields"]["state"] == "● FULL" and card["fields"]["applied"] == "100 %"
    assert full.views[FLAG]["soak"]["remaining_seconds"] == 0
    history = full.views[FLAG]["history"]           # newest first
    assert [(e["from"], e["to"]) for e in history] == [(25, 100), (5, 25), (0, 5), (None, 0)]


def test_no_console_error_and_valid_html(soaking, held, aborted, full, production, tmp_path):
    pages = [*soaking, held, aborted[0], full]
    assert [(p.name, p.console) for p in pages if p.console] == []
    page, _ = production
    sources = {p.name: p.html for p in pages}
    sources["not-found"] = page.get("/flags/no_such_flag").text
    sources["unauthorised"] = requests.get(page.srv.url + "/", timeout=10).text
    files = []
    for name, text in sources.items():
        files.append(tmp_path / f"{name}.html")
        files[-1].write_text(text, encoding="utf-8")
    assert vnu_messages(files) == []
    assert all(len(t.encode()) < 200_000 for t in sources.values())


def test_credentials_guard_the_page(production):
    page, _ = production
    url = page.srv.url
    basic = "Basic " + base64.b64encode(f"someone:{PAGE_TOKEN}".encode()).decode()
    for path in ("/", f"/flags/{FLAG}", f"/flags/{FLAG}.json", "/status"):
        r = requests.get(url + path, timeout=10)
        assert r.status_code == 401 and "Basic" in r.headers["WWW-Authenticate"]
        assert requests.get(url + path, headers={"Authorization": basic}, timeout=10).ok
        assert requests.post(url + path, headers={"Authorization": basic},
                             timeout=10).status_code == 405
    assert page.srv.health()["page"] == "enabled, ROLLOUT_PAGE_TOKEN required"
