"""The status page without a browser: the view model's states as a table, the gate's rows
as the pull-request comment's, who may read the page, what is never shown, and the app's
answers (statuses, headers, methods), called in process through ASGI.

The page in a real browser against `rollout serve` is tests/test_status_page.py."""
from __future__ import annotations

import asyncio
import base64
import json
import shutil
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from rollout.core.flag_view import build_view, flag_status
from rollout.core.state import Applied, Event
from rollout.flagfiles import load_flag
from tests.cli import ROOT

FLAG = "skills_rollout"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
H = timedelta(hours=1)
PAGE_TOKEN = "page-token-" + "abcdef0123456789" * 2          # >= 32 characters
HOOK_TOKEN = "hook-token-" + "0123456789abcdef" * 2
SLACK_URL = "https://hooks.slack.com/services/T000/B000/secretsecretsecret"


@pytest.fixture(scope="module")
def catalog():
    from rollout.core.catalog import load_catalog

    return load_catalog()


def state(pct: int, revision: str = "rev-1"):
    return replace(load_flag(ROOT / "rollout/flags/skills_rollout.yaml"), percentage=pct,
                   revision=revision)


def ev(kind, hours, frm, to, *reasons, revision="rev-1", id=None, evidence=None):
    return Event(FLAG, T0 + hours * H, kind, frm, to, tuple(reasons), revision=revision,
                 actor="tester", id=id, evidence=evidence or {})


CREATE = ev("applied", 0, None, 0, "create the flag at 0%", id=1)
TO5 = ev("applied", 1, 0, 5, "step up", id=2)

# name, committed %, applied % (None: not in the store), history, hours after T0, state, words
STATES = [
    ("never applied", 0, None, [], 0, "not applied", "reconcile creates it at 0%"),
    ("off", 0, 0, [CREATE], 2, "off", "no user gets the feature"),
    ("canary soaking", 5, 5, [CREATE, TO5], 25, "soaking", "48h remaining"),
    ("canary soak served", 5, 5, [CREATE, TO5], 80, "ready", "next step may be proposed"),
    ("full", 100, 100, [CREATE, TO5, ev("applied", 80, 5, 25), ev("applied", 250, 25, 100)],
     300, "full", "every user at 100%"),
    ("held", 25, 5, [CREATE, TO5, ev("held", 80, 5, 25, "gate hold: a", "gate hold: b",
                                     "gate hold: a")], 81, "held",
     "held at 5% (committed 25%): gate hold: a (and 1 more)"),
    ("drift", 25, 5, [CREATE, TO5], 80, "drift", "applied 5% differs from committed 25%"),
    ("aborted", 5, 0, [CREATE, TO5, ev("aborted", 30, 5, 0, "Skill error rate 12 %", id=3)], 31,
     "aborted", "rolled back from 5% to 0%: Skill error rate 12 %"),
    ("abort cleared by a new commit", 5, 0,
     [CREATE, TO5, ev("aborted", 30, 5, 0, "breach", revision="rev-0", id=3)], 31, "drift",
     "differs from committed 5%"),
]


@pytest.mark.parametrize("name, want, have, history, hours, word, words", STATES,
                         ids=[s[0] for s in STATES])
def test_the_card_says_which_state_and_why(catalog, name, want, have, history, hours, word,
                                           words):
    at = T0 + hours * H
    applied = Applied(FLAG, have, have > 0, 1) if have is not None else None
    v = build_view(state(want), applied, history, at, catalog=catalog)
    assert (v.state, words in v.summary) == (word, True), v.summary
    assert v.status == flag_status(state(want), applied, history, at)
    assert [r.applied for r in v.ladder] == [s.percentage == have for s in state(0).ladder.steps]
    assert [r.committed for r in v.ladder].index(True) == [0, 5, 25, 100].index(want)
    assert json.loads(json.dumps(v.to_json()))["status"] == v.status.to_json()


def test_soak_progress_and_end(catalog):
    v = build_view(state(5), Applied(FLAG, 5, True, 2), [CREATE, TO5], T0 + 25 * H,
                   catalog=catalog)
    assert v.soak.fraction == pytest.approx(24 / 72)
    assert v.soak.ends == T0 + 73 * H and v.status.soak_remaining == "48h"


def test_an_abort_shows_its_revert_pull_request_and_its_recorded_verdict(catalog):
    from rollout.core.gate import evaluate, soak_check

    gate = evaluate(catalog, "canary", None, soak=soak_check(True, "soak served"), flag=FLAG).to_json()
    gate["checks"][1]["code"] = "THRESHOLD_CROSSED"      # the judge's reason code
    abort = ev("aborted", 30, 5, 0, "breach", id=3, evidence={"severity": "SEV1", "gate": gate})
    deliveries = {"github": ("sent", 1, "https://github.com/acme/ops/pull/7"),
                  "slack": ("failed", 2, "HTTP 500"), "pagerduty": ("sending", 1, "")}
    v = build_view(state(5), Applied(FLAG, 0, False, 3), [CREATE, TO5, abort], T0 + 31 * H,
                   catalog=catalog, deliveries=deliveries)
    a = v.abort
    assert a.standing and a.severity == "SEV1" and a.revert_pr == deliveries["github"][2]
    assert [(d.channel, d.status, d.link) for d in a.deliveries] == [
        ("github", "sent", deliveries["github"][2]), ("pagerduty", "sending", None),
        ("slack", "failed", None)]
    assert a.gate.origin == "abort" and [r.code for r in a.gate.rows][:2] == ["SOAK_SERVED", "THRESHOLD_CROSSED"]
    from rollout.serve.page_html import card

    html = card(v)
    assert "<code>THRESHOLD_CROSSED</code>" in html and 'href="https://github.com/acme/ops/pull/7"' in html
    assert "✖ failed" in html and "… sending" in html and "✔ sent" in html


def test_gate_rows_are_the_pull_request_comments(catalog):
    from rollout.core.gate import evaluate, soak_check
    from rollout.core.gate_render import render_markdown

    result = evaluate(catalog, "canary", None, soak=soak_check(False, "soak 24h of 72h"),
                      flag=FLAG, next_step="beta")
    v = build_view(state(5), Applied(FLAG, 5, True, 2), [CREATE, TO5], T0 + 25 * H,
                   catalog=catalog, gate=result.to_json())
    comment = render_markdown(result, catalog)
    assert len(v.gate.rows) == len(result.checks) > 3
    for row in v.gate.rows:
        cells = [row.metric, row.canary, row.control, row.delta, row.target, row.threshold]
        assert "| " + " | ".join(cells) + " |" in comment.replace("\\|", "|")
    assert v.gate.verdict == "hold" and v.gate.next_step == "beta"


def test_a_hostile_text_is_escaped_and_no_script_link_is_made(catalog):
    from rollout.serve.page_html import card

    evil = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    abort = ev("aborted", 30, 5, 0, evil, id=3)
    v = build_view(state(5), Applied(FLAG, 0, False, 3), [CREATE, TO5, abort], T0 + 31 * H,
                   catalog=catalog, deliveries={"github": ("sent", 1, "javascript:alert(3)")})
    html = card(v)
    assert "<script" not in html and "<img" not in html and "javascript:alert(3)</a>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="javascript' not in html


def test_html_tables_escape_every_cell_but_the_marked_ones():
    from rollout.core.tables import html_table

    out = html_table(["a<b", "c"], [["<i>x</i>", "<b>ok</b>"]], markup=(1,), cls="t")
    assert out == ('<table class="t"><thead><tr><th scope="col">a&lt;b</th><th scope="col">c</th>'
                   '</tr></thead><tbody><tr><td>&lt;i&gt;x&lt;/i&gt;</td><td><b>ok</b></td>'
                   '</tr></tbody></table>')


# -- who may read it ---------------------------------------------------------------------------

ACCESS = [
    # host, page token, hook token, --page-public, mode, words of the reason
    ("127.0.0.1", None, None, False, "local", None),
    ("::1", None, None, False, "local", None),
    ("localhost", None, None, False, "local", None),
    ("0.0.0.0", None, None, False, "disabled", "ROLLOUT_PAGE_TOKEN is not set"),
    ("0.0.0.0", None, None, True, "public", None),
    ("0.0.0.0", PAGE_TOKEN, HOOK_TOKEN, False, "credentials", None),
    ("127.0.0.1", PAGE_TOKEN, None, True, "credentials", None),     # a token always counts
    ("0.0.0.0", "short", None, False, "disabled", "shorter than 32"),
    ("127.0.0.1", "short", None, False, "disabled", "shorter than 32"),
    ("0.0.0.0", HOOK_TOKEN, HOOK_TOKEN, False, "disabled", "must differ from ROLLOUT_HOOK_TOKEN"),
]


@pytest.mark.parametrize("host, token, hook, public, mode, words", ACCESS)
def test_who_may_read_the_page(host, token, hook, public, mode, words):
    from rollout.serve.page_auth import page_access

    a = page_access(host, token, hook, public)
    assert a.mode == mode and (words is None or words in a.problem)
    assert PAGE_TOKEN not in a.describe() and HOOK_TOKEN not in a.describe()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


CREDENTIALS = [
    (basic("oncall", PAGE_TOKEN), True),
    (basic("", PAGE_TOKEN), True),
    (f"Bearer {PAGE_TOKEN}", True),
    (f"bearer {PAGE_TOKEN}", True),
    (basic("oncall", PAGE_TOKEN + "x"), False),
    (basic(PAGE_TOKEN, "oncall"), False),              # the token as user name is not it
    ("Basic " + base64.b64encode(PAGE_TOKEN.encode()).decode(), False),   # no colon
    ("Basic !!!not-base64", False),
    (f"Token {PAGE_TOKEN}", False),
    ("", False),
    (None, False),
]


@pytest.mark.parametrize("header, ok", CREDENTIALS)
def test_page_credentials(header, ok):
    from rollout.serve.page_auth import credentials_match

    assert credentials_match(header, PAGE_TOKEN) is ok


def test_secrets_are_blanked_in_every_form():
    from rollout.serve.service_secrets import Redactor, url_secrets

    r = Redactor([PAGE_TOKEN, SLACK_URL + "?a=1&b=2", "short", None] +
                 url_secrets("postgres://rollout:p%40ss-w0rd-long@db:5432/prod") +
                 url_secrets("host=db password='kv-password-1' dbname=prod"))
    text = (f"a {PAGE_TOKEN} b {SLACK_URL}?a=1&amp;b=2 c {json.dumps(SLACK_URL + '?a=1&b=2')} "
            f"d p@ss-w0rd-long e kv-password-1 f short")
    out = r(text)
    assert PAGE_TOKEN not in out and "secretsecret" not in out and "w0rd" not in out
    assert "kv-password" not in out and out.endswith("f short") and out.count("***") >= 5


# -- the app, in process -----------------------------------------------------------------------

def call(app, method: str, path: str, headers: dict | None = None):
    """One HTTP request through the ASGI app: (status, headers, body)."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "client": ("127.0.0.1", 40000),
             "server": ("127.0.0.1", 8080),
             "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]}
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = sent[0]
    return (start["status"], {k.decode(): v.decode() for k, v in start["headers"]},
            b"".join(m.get("body", b"") for m in sent[1:]).decode())


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A flags directory and an SQLite store: the canary applied 24 h ago, then a held move
    whose reason carries secrets (as if a person had pasted them)."""
    from rollout.adapters.store import open_store

    tmp = tmp_path_factory.mktemp("page")
    (tmp / "flags").mkdir()
    shutil.copy(ROOT / "rollout/flags/skills_rollout.yaml", tmp / "flags")
    url = f"sqlite:///{tmp / 'flags.db'}"
    with open_store(url) as store:
        store.apply(FLAG, 0, None, ev("applied", 0, None, 0, "create"))
        store.apply(FLAG, 5, 1, ev("applied", 1, 0, 5, "step up"))
        store.record(ev("held", 2, 5, 25, f"pasted {PAGE_TOKEN} and {SLACK_URL}",
                        "<b>bold?</b>"))
    return tmp, url


def app_for(world, monkeypatch, host="127.0.0.1", token=None, public=False):
    from rollout.serve.app import Service, build_app
    from rollout.serve.config import ServeConfig
    from rollout.serve.page import page_routes

    tmp, url = world
    monkeypatch.setenv("SLACK_WEBHOOK_URL", SLACK_URL)
    cfg = ServeConfig(host=host, port=0, interval=60, lease_ttl=120, store_url=url,
                      history_url=None, metrics_url=None, flags_dir=tmp / "flags",
                      window=H, hook_window=H / 6, clock=lambda: T0 + 25 * H, actor="tester",
                      hook_token=HOOK_TOKEN, page_token=token, page_public=public)
    svc = Service.create(cfg)
    return svc, build_app(svc, routes=page_routes())


@pytest.fixture
def protected(world, monkeypatch):
    svc, app = app_for(world, monkeypatch, host="0.0.0.0", token=PAGE_TOKEN)
    yield app
    svc.close()


PAGES = ["/", f"/flags/{FLAG}", f"/flags/{FLAG}.json", "/status"]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_wants_the_credentials(protected, path):
    code, headers, body = call(protected, "GET", path)
    assert code == 401 and headers["www-authenticate"].startswith("Basic realm=")
    assert "credentials required" in body and "skills_rollout</" not in body
    assert call(protected, "GET", path, {"Authorization": basic("me", PAGE_TOKEN)})[0] == 200
    assert call(protected, "GET", path, {"Authorization": f"Bearer {PAGE_TOKEN}"})[0] == 200
    assert call(protected, "GET", path, {"Authorization": f"Bearer {HOOK_TOKEN}"})[0] == 401


@pytest.mark.parametrize("path", PAGES[:3])
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_the_page_cannot_change_anything(protected, path, method):
    code, headers, _ = call(protected, method, path, {"Authorization": f"Bearer {PAGE_TOKEN}"})
    assert code == 405 and "GET" in headers["allow"]
    assert headers["x-frame-options"] == "DENY"


def test_security_headers_and_no_secret_on_any_answer(protected):
    auth = {"Authorization": basic("me", PAGE_TOKEN)}
    for path, want in [("/", 200), (f"/flags/{FLAG}", 200), (f"/flags/{FLAG}.json", 200),
                       ("/flags/nope", 404), ("/flags/..%2F..%2Fetc", 404), ("/status", 200)]:
        code, headers, body = call(protected, "GET", path, auth)
        assert code == want, (path, body[:300])
        csp = headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src" not in csp
        assert "frame-ancestors 'none'" in csp and headers["referrer-policy"] == "no-referrer"
        assert headers["cache-control"] == "no-store" and headers["x-content-type-options"] == "nosniff"
        assert PAGE_TOKEN not in body and "secretsecret" not in body and HOOK_TOKEN not in body
        if path == "/":
            assert "pasted *** and https://hooks.slack.com/services/***" in body and "&lt;b&gt;bold?&lt;/b&gt;" in body
    code, headers, css = call(protected, "GET", "/static/page.css")
    assert code == 200 and headers["content-type"].startswith("text/css") and ".card" in css


def test_the_json_is_the_view_and_its_status_is_rollout_status(world, protected):
    from rollout.adapters.store import open_store
    from rollout.flagfiles import load_flags
    from rollout.status import status_document

    code, _, body = call(protected, "GET", f"/flags/{FLAG}.json", {"Authorization": f"Bearer {PAGE_TOKEN}"})
    doc = json.loads(body)
    with open_store(world[1]) as store:
        expected = status_document(load_flags(world[0] / "flags"), store, T0 + 25 * H)
    # the store redacted the Slack URL's token when the row was written (rollout/redact.py);
    # the page token, not a secret of the writer's process, is blanked by the page
    status = json.loads(json.dumps(expected["flags"][0]).replace(PAGE_TOKEN, "***"))
    assert code == 200 and doc["status"] == status and doc["state"] == "held"
    assert doc["soak"]["remaining_seconds"] == 48 * 3600 and doc["gate"]["verdict"] == "hold"
    assert [c["cells"][0] for c in doc["gate"]["checks"]][0] == "Soak"


def test_without_credentials_the_page_is_open_only_on_loopback(world, monkeypatch):
    for host, public, want in [("127.0.0.1", False, 200), ("0.0.0.0", False, 503),
                               ("0.0.0.0", True, 200)]:
        svc, app = app_for(world, monkeypatch, host=host, public=public)
        try:
            for path in ("/", "/status"):
                code, _, body = call(app, "GET", path)
                assert code == want, (host, path, body[:200])
            code, _, body = call(app, "GET", "/healthz")
            assert json.loads(body)["page"].startswith("disabled" if want == 503 else "open")
        finally:
            svc.close()


def test_guessing_is_rate_limited(world, monkeypatch):
    svc, app = app_for(world, monkeypatch, host="0.0.0.0", token=PAGE_TOKEN)
    try:
        codes = [call(app, "GET", "/", {"Authorization": basic("x", f"guess-{i}")})[0]
                 for i in range(12)]
        assert codes[:10] == [401] * 10 and codes[-1] == 429
    finally:
        svc.close()


def test_a_standby_says_when_the_leader_last_renewed_its_lease(catalog):
    """Behind Render's balancer a viewer may reach either instance: a standby, which runs
    no timed evaluation, tells when the leader last looked instead."""
    from types import SimpleNamespace

    from rollout.adapters.store.service_tables import Lease
    from rollout.serve.page_data import PageData
    from rollout.serve.page_html import card

    now = datetime.now(timezone.utc)
    lease = Lease("guard-loop", "srv-a:12:abc", 3, now - 10 * H, now + timedelta(seconds=100))
    loop = SimpleNamespace(leader=False, lease=lease, last=None)
    g = PageData(SimpleNamespace(lease_ttl=120), loop).guard(FLAG)
    assert (g.role, g.at, g.leader) == ("standby", None, "srv-a:12:abc")
    assert 19 <= g.leader_renewed_seconds < 30
    v = replace(build_view(state(5), Applied(FLAG, 5, True, 2), [CREATE, TO5], T0 + 25 * H,
                           catalog=catalog), guard=g)
    html = card(v)
    assert "No evaluation by this instance yet (standby" in html
    assert "<code>srv-a:12:abc</code>, renewed its lease 2" in html
