"""The one retry policy every adapter uses (rollout/adapters/retry.py), with a recording
sleep instead of a patched module; and the two settings the command line reads for it."""
from __future__ import annotations

import time
from dataclasses import replace

import pytest

from rollout.adapters.retry import (Retry, RetryPolicy, cap_http_attempts, deadline,
                                   http_attempt_cap)
from rollout.cli.common import http_attempts_cap, notify_deadline
from rollout.errors import ExternalError, UserError


def scripted(*outcomes):
    """An attempt that raises or returns each outcome in turn; records the timeouts."""
    seen, queue = [], list(outcomes)

    def attempt(timeout):
        seen.append(timeout)
        out = queue.pop(0)
        if isinstance(out, BaseException):
            raise out
        return out
    return attempt, seen


@pytest.mark.parametrize("outcomes, waits, result", [
    (["ok"], [], "ok"),
    ([Retry("HTTP 503"), "ok"], [0.5], "ok"),
    ([Retry("HTTP 503"), Retry("HTTP 502"), Retry("timeout"), "ok"], [0.5, 1.0, 2.0], "ok"),
    ([Retry("HTTP 429", wait=7), "ok"], [7], "ok"),                 # the answer's own hint
    ([Retry("HTTP 429", wait=3600), "ok"], [30.0], "ok"),           # capped at max_wait
    ([Retry("HTTP 429", wait=0), "ok"], [0], "ok"),
])
def test_backoff_and_hints(outcomes, waits, result):
    slept = []
    attempt, _ = scripted(*outcomes)
    assert RetryPolicy(sleep=slept.append).run(attempt, what="X") == result
    assert slept == waits


def test_the_last_reason_in_one_line_after_the_last_attempt():
    slept = []
    attempt, seen = scripted(*[Retry(f"HTTP 50{i}") for i in range(3)])
    with pytest.raises(ExternalError, match=r"^X: GET u failed after 3 attempts: HTTP 502$"):
        RetryPolicy(attempts=3, timeout=2.5, sleep=slept.append).run(attempt, what="X: GET u")
    assert seen == [2.5] * 3 and slept == [0.5, 1.0]        # no wait after the last attempt
    attempt, _ = scripted(Retry("TIMEOUT"), Retry("TIMEOUT"))
    with pytest.raises(ExternalError, match=r"^store s: cannot connect after 2 attempts: TIMEOUT$"):
        RetryPolicy(attempts=2, sleep=slept.append).run(
            attempt, what="store s", gave_up=lambda n, last: f"store s: cannot connect after {n} "
                                                            f"attempts: {last}")


def test_anything_but_retry_ends_the_run_at_once():
    slept = []
    attempt, seen = scripted(Retry("HTTP 503"), ExternalError("HTTP 401: refused"), "never")
    with pytest.raises(ExternalError, match="401"):
        RetryPolicy(sleep=slept.append).run(attempt, what="X")
    assert len(seen) == 2 and slept == [0.5]


def test_a_deadline_cuts_every_timeout_and_wait_and_stops_in_time():
    slept = []
    attempt, seen = scripted(*[Retry("no answer")] * 4)
    started = time.monotonic()
    with deadline(0.3), pytest.raises(ExternalError, match=r"no time left to retry \(no answer\)"):
        RetryPolicy(timeout=10, backoff=5, sleep=lambda s: (slept.append(s), time.sleep(s))
                    ).run(attempt, what="Slack: POST u")
    assert time.monotonic() - started < 1.0
    assert all(t <= 0.3 for t in seen) and slept and all(s <= 0.3 for s in slept)
    with deadline(0), pytest.raises(ExternalError, match=r"no time left to send \(deadline spent\)"):
        RetryPolicy().run(lambda timeout: "never", what="Slack: POST u")


def test_capped_never_raises_the_attempts():
    p = RetryPolicy(attempts=4)
    assert p.capped(None) is p and p.capped(9) is p
    assert p.capped(1).attempts == 1 and p.capped(0).attempts == 1
    assert replace(p, sleep=print) == p                       # sleep is not part of identity


def test_the_http_cap_is_set_for_a_run_and_restored():
    previous = cap_http_attempts(2)
    try:
        assert http_attempt_cap() == 2
    finally:
        assert cap_http_attempts(previous) == 2


@pytest.mark.parametrize("value, cap", [("", None), ("2", 2), (" 1 ", 1), ("0", None),
                                        ("-1", None), ("two", None)])
def test_rollout_http_attempts_read_at_the_edge(value, cap):
    assert http_attempts_cap({"ROLLOUT_HTTP_ATTEMPTS": value}) == cap


@pytest.mark.parametrize("value, seconds", [("", 20.0), ("1.5", 1.5), ("600", 600.0)])
def test_rollout_notify_deadline_read_at_the_edge(value, seconds):
    assert notify_deadline({"ROLLOUT_NOTIFY_DEADLINE": value}) == seconds


@pytest.mark.parametrize("value", ["0", "601", "nan", "soon", "-3"])
def test_a_bad_notify_deadline_is_one_line(value):
    with pytest.raises(UserError, match=r"ROLLOUT_NOTIFY_DEADLINE=.*expected seconds, 0 < value <= 600"):
        notify_deadline({"ROLLOUT_NOTIFY_DEADLINE": value})
