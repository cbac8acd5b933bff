"""High availability: two `rollout serve` processes against one PostgreSQL store. The
leader is killed with SIGKILL in the middle of an evaluation of a breach; the standby
takes the lease and rolls the flag back within --interval + --lease-ttl, and there is
never a second abort, page or revert pull request for one breach. Also: a store outage
makes the service unhealthy, never dead."""
from __future__ import annotations

import json
import random
import threading
import time

import pytest

from tests import pg
from tests.cli import rollout
from tests.serve_proc import Fakes, Served, live_repo, traffic

FLAG = "skills_rollout"
INTERVAL, TTL = 1.0, 2.0
EVALUATION = 6.0          # seconds an evaluation may take on a loaded shared machine
LOOK = 0.5                # seconds a look at the lease may take


class Cluster(Fakes):
    """A live flag in a PostgreSQL store, the fakes, and any number of instances."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.pg = pg.cluster()
        self.db = self.pg.create_database()
        self.repo, self.now = live_repo(tmp, "--store", self.db)
        super().__init__(self.repo, self.now, FLAG)
        self.instances: list[Served] = []

    def start(self, name: str) -> Served:
        srv = Served(self.repo, self.env, "--store", self.db, "--metrics", self.metrics,
                     "--interval", str(INTERVAL),
                     "--lease-ttl", str(TTL), log=self.tmp / f"{name}.log").start()
        self.instances.append(srv)
        return srv

    def leader(self, timeout: float = 15) -> Served:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for srv in self.instances:
                if srv.proc.poll() is None and srv.health()["role"] == "leader":
                    return srv
            time.sleep(0.05)
        raise AssertionError("no leader")

    def sql(self, query: str):
        return self.pg.execute(self.db, query)

    def aborts(self) -> int:
        return self.sql("SELECT count(*) FROM rollout_history WHERE kind = 'aborted'")[0][0]

    def percentage(self) -> int:
        return self.sql(f"SELECT percentage FROM feature_flags WHERE name = '{FLAG}'")[0][0]

    def pages(self) -> int:
        return self.notifications()[2]

    def resume(self) -> None:
        """Healthy traffic again, then the flag back at 5 % (retry, reconcile)."""
        self.nr.events = traffic(self.now)
        for args in (["retry", FLAG, "--reason", "drill: fault cleared"], ["reconcile"]):
            r = rollout([*args, "--store", self.db], self.repo, self.env)
            assert r.returncode == 0, r.stdout + r.stderr
        assert self.percentage() == 5

    def close(self) -> None:
        for srv in self.instances:
            srv.kill()
        super().close()
        self.pg.drop_database(self.db)


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path)
    yield c
    c.close()


def breach_under(c: Cluster, victim_delay: float, kill_after: float, kill_standby=False):
    """Break the canary while the leader's next NerdGraph request is held for
    `victim_delay` s; SIGKILL the leader (or the standby) `kill_after` s after that
    request arrived, restart it, and wait for the rollback. Returns (the instance killed,
    seconds from the kill to the abort row, or 0 when the leader finished first, and the
    wall-clock time of the kill)."""
    leader = c.leader()
    victim = next(s for s in c.instances if s is not leader and s.proc.poll() is None) \
        if kill_standby else leader
    aborts = c.aborts()
    seen = len(c.nr.requests)
    c.nr.delays = [victim_delay]
    deadline = time.monotonic() + 10
    while len(c.nr.requests) == seen:           # the leader's request is in
        assert time.monotonic() < deadline, "the leader sent no request"
        time.sleep(0.005)
    c.nr.events = traffic(c.now, faulty=True)   # what it will read once answered
    time.sleep(kill_after)
    done_before = c.aborts() > aborts
    victim.kill()
    killed_at, killed_wall = time.monotonic(), time.time()
    c.nr.delays = []
    deadline = killed_at + INTERVAL + TTL + EVALUATION + 3
    while c.aborts() == aborts:
        assert time.monotonic() < deadline, "nobody rolled back"
        time.sleep(0.02)
    took = 0.0 if done_before else time.monotonic() - killed_at
    c.instances.remove(victim)
    c.start(f"restart-{len(c.nr.requests)}")
    assert c.percentage() == 0 and c.aborts() == aborts + 1
    return victim, took, killed_wall


def became_leader(srv: Served) -> float:
    """When `srv` last took the lease (its log's wall clock, seconds since the epoch)."""
    from datetime import datetime

    return datetime.fromisoformat(srv.events("leader")[-1]["ts"]).timestamp()


def test_the_standby_takes_over_a_killed_leader_and_rolls_back_once(cluster):
    c = cluster
    c.start("a")
    c.start("b")
    c.leader()
    for cycle in range(2):
        if cycle:
            c.resume()
            c.leader().wait_until(lambda h: h["last_evaluation"] and
                                  h["last_evaluation"]["outcomes"][0]["action"] != "skipped")
        killed, took, killed_at = breach_under(c, victim_delay=5.0, kill_after=0.05)
        # the request of the killed leader never came back: the standby took the lease
        # within interval + TTL and did the rollback in its next evaluation
        survivor = c.leader()
        assert survivor is not killed
        assert became_leader(survivor) - killed_at <= INTERVAL + TTL + LOOK
        assert 0 < took <= INTERVAL + TTL + EVALUATION, took
        h = survivor.wait_until(lambda h: h["last_evaluation"] and any(
            o["action"] in ("rolled_back", "skipped") for o in h["last_evaluation"]["outcomes"]))
        assert h["lease"]["term"] >= 2 + cycle
        # one page, one Slack message per abort; one revert pull request for the revision
        c.leader().wait_until(lambda h: c.pages() == cycle + 1, timeout=10)
        assert (c.aborts(), c.pages(), len(c.slack.messages), len(c.gh.open_pulls())) == \
            (cycle + 1, cycle + 1, cycle + 1, 1)
    actors = [r[0] for r in c.sql("SELECT actor FROM rollout_history WHERE kind = 'aborted'")]
    assert all("rollout serve, loop" in a for a in actors), actors

    # a breach that wakes every instance at once through the webhook, beside the loop:
    # three guards race, one rolls back, one of each notification
    c.resume()
    c.leader().wait_until(lambda h: h["last_evaluation"] and
                          h["last_evaluation"]["outcomes"][0]["action"] != "skipped")
    c.nr.events = traffic(c.now, faulty=True)
    threads = [threading.Thread(target=srv.post_hook, args=({},)) for srv in c.instances]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    deadline = time.monotonic() + INTERVAL + EVALUATION
    while c.aborts() < 3:
        assert time.monotonic() < deadline, "nobody rolled back"
        time.sleep(0.02)
    time.sleep(INTERVAL + 1)                    # every instance has evaluated again by now
    c.leader().wait_until(lambda h: c.pages() == 3, timeout=10)
    assert (c.aborts(), c.pages(), len(c.slack.messages), len(c.gh.open_pulls())) == (3, 3, 3, 1)


def test_a_store_outage_makes_it_unhealthy_not_dead(cluster):
    c = cluster
    srv = c.start("a")
    srv.wait_until(lambda h: h["status"] == "ok" and h["last_evaluation"] is not None)
    name = c.db.rsplit("/", 1)[1]
    c.pg._admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    c.pg._admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,))
    try:
        # the lease look and the evaluation both fail, and both say so
        h = srv.wait_until(lambda h: any(p.startswith("store unreachable")
                                         for p in h["problems"]), timeout=20)
        assert h["status"] == "unhealthy" and h["store"]["reachable"] is False
        assert pg.PASSWORD not in json.dumps(h) and pg.PASSWORD not in srv.log.read_text()
        assert srv.get("/healthz")[0] == 503 and srv.get("/status")[0] == 503
        code, _, _ = srv.post_hook({})                  # still answered, evaluation queued
        assert code == 202
        time.sleep(2 * INTERVAL)
        assert srv.proc.poll() is None
    finally:
        c.pg._admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    srv.wait_until(lambda h: h["status"] == "ok", timeout=20)
    assert srv.stop() == 0


@pytest.mark.slow
def test_many_kills_at_random_moments_never_act_twice(cluster):
    """Kill the leader (or now and then the standby) at random points of its evaluation:
    before the answer, during the rollback, among the deliveries. Every breach ends in
    exactly one abort; never two pages, Slack messages or revert pull requests for one."""
    c = cluster
    rng = random.Random(11)
    c.start("a")
    c.start("b")
    c.leader()
    cycles = 12
    for cycle in range(cycles):
        if cycle:
            c.resume()
            c.leader().wait_until(lambda h: h["last_evaluation"] and
                                  h["last_evaluation"]["outcomes"][0]["action"] != "skipped")
        _, took, _ = breach_under(c, victim_delay=rng.uniform(0, 0.6),
                                  kill_after=rng.uniform(0, 1.2), kill_standby=rng.random() < 0.2)
        assert took <= INTERVAL + TTL + EVALUATION, (cycle, took)
        assert c.aborts() == cycle + 1
        assert c.pages() <= cycle + 1 and len(c.slack.messages) <= cycle + 1
        assert len(c.gh.open_pulls()) <= 1
    time.sleep(INTERVAL + TTL)
    assert c.aborts() == cycles and c.pages() <= cycles and len(c.gh.open_pulls()) <= 1
