"""`rollout serve` as a real process on 127.0.0.1 with a SQLite store and the fakes of
New Relic (NerdGraph), Slack, PagerDuty and GitHub: liveness, status, the webhook's
refusals (each leaving the store as it was), a webhook-triggered rollback, blindness and
an orderly SIGTERM."""
from __future__ import annotations

import json
import sqlite3
import time
from datetime import datetime, timezone

import pytest

from tests.cli import rollout
from tests.serve_proc import HOOK_TOKEN, Fakes, Served, live_repo, traffic

FLAG = "skills_rollout"


class World(Fakes):
    """A live repository, the fakes, and the environment that points the guard at them."""

    def __init__(self, tmp):
        self.repo, self.now = live_repo(tmp)
        super().__init__(self.repo, self.now, FLAG)

    def serve(self, *args, **kwargs) -> Served:
        return Served(self.repo, self.env, "--metrics", self.metrics, *args, **kwargs)

    def db(self):
        return sqlite3.connect(self.repo / ".rollout/flags.db")

    def snapshot(self):
        """What a refused call must not change: the flag, its history, the deliveries."""
        with self.db() as db:
            return [db.execute(q).fetchall() for q in (
                "SELECT * FROM feature_flags", "SELECT * FROM rollout_history",
                "SELECT * FROM rollout_deliveries")]

    def hook_calls(self):
        with self.db() as db:
            return db.execute("SELECT source, status, flags, detail, calls FROM "
                              "rollout_hook_calls ORDER BY id").fetchall()

    def new_calls(self, after: int, timeout: float = 10):
        """The calls recorded past the first `after` (the log is written in the background)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = self.hook_calls()
            if len(rows) > after:
                return rows[after:]
            time.sleep(0.02)
        raise AssertionError("no webhook call was recorded")



@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = World(tmp_path_factory.mktemp("serve"))
    yield w
    w.close()


@pytest.fixture(scope="module")
def served(world):
    """One service for the read-only checks and the refusals (the rate limit test last)."""
    with world.serve("--interval", "3600") as srv:
        srv.wait_until(lambda h: h["last_evaluation"] is not None)
        yield srv


def test_healthz_reports_the_loop_the_store_and_the_lease(served):
    code, h = served.get("/healthz")
    assert code == 200 and h["status"] == "ok" and h["problems"] == []
    assert h["role"] == "leader" and h["lease"]["holder"] == h["instance"] == \
        h["lease"]["holder"] and h["lease"]["term"] >= 1
    assert h["store"]["reachable"] is True and h["hook"] == "enabled"
    last = h["last_evaluation"]
    assert last["trigger"] == "loop" and last["blind"] is False and last["error"] is None
    assert last["outcomes"][0]["flag"] == FLAG
    assert last["outcomes"][0]["action"] in ("healthy", "held")
    assert 0 <= last["age_seconds"] < 60


def test_status_is_the_document_of_rollout_status(served, world):
    code, doc = served.get("/status")
    cli = json.loads(rollout(["status", "-o", "json"], world.repo, world.env).stdout)
    assert code == 200 and doc["flags"] == cli["flags"] and doc["at"] == cli["at"]


REFUSALS = [
    # what, how to call, expected status, words of the answer
    ("no token", dict(token=None), 401, "bearer token"),
    ("a wrong token", dict(token="x" * 64), 401, "bearer token"),
    ("another scheme", dict(token=None, headers={"Authorization": f"Basic {HOOK_TOKEN}"}), 401,
     "bearer token"),
    ("a 1 MB body", dict(data=b"{" + b" " * 1_000_000 + b"}"), 413, "larger than 65536"),
    ("not JSON by type", dict(data=b"flags=x", content_type="text/plain"), 415, "application/json"),
    ("malformed JSON", dict(data=b"{not json"), 400, "not valid JSON"),
    ("a JSON list", dict(data=b"[1, 2]"), 400, "JSON object"),
    ("an unknown flag", dict(payload={"flags": ["no_such_flag"]}), 422, "unknown flag 'no_such_flag'"),
    ("a bad flags field", dict(payload={"flags": "skills_rollout"}), 422, "field flags"),
]


@pytest.mark.parametrize("what, how, status, words", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_the_hook_refuses_and_changes_nothing(served, world, what, how, status, words):
    # within the bursts of the rate limits: 3 calls without the token, 8 with it
    before, evaluations = world.snapshot(), served.health()["evaluations"]
    rows = len(world.hook_calls())
    code, body, headers = served.post_hook(**how)
    assert (code, words in body["error"]) == (status, True), body
    [(source, recorded, flags, detail, calls)] = world.new_calls(rows)
    assert (source, recorded, flags, calls) == ("127.0.0.1", status, "[]", 1)
    time.sleep(0.2)
    assert world.snapshot() == before
    assert served.health()["evaluations"] == evaluations      # nothing was queued


def test_a_big_body_without_length_is_cut_off(served, world):
    before, rows = world.snapshot(), len(world.hook_calls())
    chunks = (b"x" * 16384 for _ in range(64))             # chunked: no Content-Length
    r = served.http.post(served.url + "/hooks/newrelic", data=chunks, timeout=10, headers={
        "Authorization": f"Bearer {HOOK_TOKEN}", "Content-Type": "application/json"})
    assert r.status_code == 413 and world.snapshot() == before
    assert world.new_calls(rows)[-1][1] == 413


def test_a_named_flag_and_a_new_relic_issue_are_accepted(served, world):
    evaluations, rows = served.health()["evaluations"], len(world.hook_calls())
    payload = {"source": "newrelic", "issueId": "0ea2df1c", "state": "ACTIVATED",
               "title": "High Skill Error Rate [SEV1]\n\x1b[31m", "flags": [FLAG]}
    code, body, _ = served.post_hook(payload)
    assert (code, body) == (202, {"accepted": True, "evaluating": [FLAG]})
    served.wait_until(lambda h: h["evaluations"] > evaluations)
    last = served.health()["last_evaluation"]
    assert last["trigger"] == "hook" and [o["flag"] for o in last["outcomes"]] == [FLAG]
    source, status, flags, detail, calls = world.new_calls(rows)[-1]
    assert (status, json.loads(flags)) == (202, [FLAG])
    assert "issueId=0ea2df1c" in detail and "\x1b" not in detail and "\n" not in detail


def test_a_flood_is_rate_limited_per_source_and_the_log_stays_small(served, world):
    """100 calls in a second from one source: 429 with Retry-After after the burst, nothing
    changed; the unauthenticated flood does not use up the token holder's budget."""
    time.sleep(1.0)                           # a token back in the bucket
    before = world.snapshot()
    rows_before = len(world.hook_calls())
    anon = [served.post_hook({}, token=None)[0] for _ in range(50)]
    assert set(anon) <= {401, 429} and anon[-1] == 429
    answers = [served.post_hook({}) for _ in range(100)]
    codes = [a[0] for a in answers]
    assert codes[0] == 202 and 429 in codes
    first = codes.index(429)
    assert 1 <= first <= 12 and set(codes[first:]) <= {429, 202}
    assert codes.count(202) <= 15
    assert int(answers[first][2]["Retry-After"]) >= 1
    served.wait_until(lambda h: not h["evaluating"])
    assert world.snapshot() == before          # healthy evaluations, refusals: nothing written
    # past a budget of refusal rows a minute, refusals are counted, not written one by one
    assert len(world.hook_calls()) - rows_before < 150
    logged = "\n".join(json.dumps(e) for e in served.events())
    assert HOOK_TOKEN not in logged and HOOK_TOKEN not in json.dumps(world.hook_calls())


def test_no_token_configured_refuses_every_call(world):
    with world.serve("--interval", "3600", token=None) as srv:
        code, body, _ = srv.post_hook({}, token=HOOK_TOKEN)
        assert code == 503 and "ROLLOUT_HOOK_TOKEN is not set" in body["error"]
        assert srv.health()["hook"] == "disabled: ROLLOUT_HOOK_TOKEN is not set"
    with world.serve("--interval", "3600", token="short") as srv:
        code, body, _ = srv.post_hook({}, token="short")
        assert code == 503 and "shorter than 32" in body["error"]


def test_an_accepted_hook_rolls_a_breach_back_once(tmp_path):
    w = World(tmp_path)
    try:
        with w.serve("--interval", "3600") as srv:
            first = srv.wait_until(lambda h: h["last_evaluation"] is not None)
            assert first["last_evaluation"]["outcomes"][0]["action"] in ("healthy", "held")
            w.nr.events = traffic(w.now, faulty=True)          # the canary breaks
            code, _, _ = srv.post_hook({"state": "ACTIVATED", "title": "High Skill Error Rate"})
            assert code == 202
            h = srv.wait_until(lambda h: h["evaluations"] >= 2)
            out = h["last_evaluation"]["outcomes"][0]
            assert (out["action"], h["last_evaluation"]["trigger"]) == ("rolled_back", "hook")
            with w.db() as db:
                assert db.execute("SELECT percentage FROM feature_flags").fetchone() == (0,)
                aborts = db.execute("SELECT actor FROM rollout_history WHERE kind = 'aborted'"
                                    ).fetchall()
            assert len(aborts) == 1 and "rollout serve, hook" in aborts[0][0]
            assert w.notifications() == (1, 1, 1)
            # more calls: more evaluations, never a second rollback or notification
            for _ in range(3):
                assert srv.post_hook({})[0] == 202
            srv.wait_until(lambda h: h["evaluations"] >= 3 and not h["evaluating"])
            with w.db() as db:
                assert db.execute("SELECT count(*) FROM rollout_history WHERE kind = 'aborted'"
                                  ).fetchone() == (1,)
            assert w.notifications() == (1, 1, 1)
            rolled = [e for e in srv.events("evaluation") if e["action"] == "rolled_back"]
            assert len(rolled) == 1 and rolled[0]["flag"] == FLAG and rolled[0]["duration_ms"] > 0
            assert rolled[0]["reasons"] and rolled[0]["severity"] == "SEV1"
            # SIGTERM: exit 0 and the lease is released at once
            assert srv.stop() == 0
            with w.db() as db:
                holder, expires = db.execute("SELECT holder, expires_at FROM rollout_leases"
                                             ).fetchone()
            assert holder == h["instance"]
            assert datetime.fromisoformat(expires) <= datetime.now(timezone.utc)
            assert [e["event"] for e in srv.events()][-3:] == ["stopping", "lease_released",
                                                               "stopped"]
    finally:
        w.close()


def test_a_new_relic_outage_makes_it_blind_and_unhealthy_not_dead(tmp_path):
    w = World(tmp_path)
    try:
        with w.serve("--interval", "1") as srv:
            srv.wait_until(lambda h: h["last_evaluation"] is not None)
            key, w.nr.api_key = w.nr.api_key, "NRAK-ROTATED"     # our key is refused: 401
            h = srv.wait_until(lambda h: h["status"] == "unhealthy", timeout=30)
            code, _ = srv.get("/healthz")
            assert code == 503 and "blind" in h["problems"][0]
            assert h["last_evaluation"]["blind"] is True
            assert h["last_evaluation"]["outcomes"][0]["action"] == "held"
            w.nr.api_key = key
            srv.wait_until(lambda h: h["status"] == "ok", timeout=30)
            assert srv.proc.poll() is None
            with w.db() as db:
                assert db.execute("SELECT percentage FROM feature_flags").fetchone() == (5,)
    finally:
        w.close()


def test_the_hook_cannot_roll_back_without_the_steps_evidence(tmp_path):
    """An alert fires on its own few minutes; the judge needs the step's evidence. A
    10-minute burst of 15 % errors on 120 canary requests after a healthy hour is not yet
    evidence beyond the rollback line (docs/judge.md), so the webhook's evaluation holds:
    a forged or early alert can never roll back by itself."""
    from datetime import timedelta

    from tests.events import CONTROL, Profile, events

    w = World(tmp_path)
    try:
        fresh = w.now - timedelta(minutes=10)
        w.nr.events = (traffic(fresh, n=3600)
                       + events(120, "canary", Profile(error_rate=0.15), start=fresh,
                                span=timedelta(minutes=10), seed=2)
                       + events(120, "control", CONTROL, start=fresh,
                                span=timedelta(minutes=10), seed=2))
        with w.serve("--interval", "3600") as srv:
            loop = srv.wait_until(lambda h: h["last_evaluation"] is not None)["last_evaluation"]
            assert loop["trigger"] == "loop" and loop["outcomes"][0]["action"] != "rolled_back", \
                loop["outcomes"]
            assert srv.post_hook({})[0] == 202
            h = srv.wait_until(lambda h: h["evaluations"] >= 2)
            assert h["last_evaluation"]["trigger"] == "hook"
            assert h["last_evaluation"]["outcomes"][0]["action"] == "held"
            with w.db() as db:
                assert db.execute("SELECT percentage FROM feature_flags").fetchone() == (5,)
    finally:
        w.close()
