"""Notifier adapters against local servers that answer as Slack, PagerDuty and GitHub document."""
from __future__ import annotations

import base64
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from rollout.adapters.retry import DEFAULT_POLICY, RetryPolicy
from rollout.adapters.notify import (GitHubProposer, Incident, PagerDutyNotifier, SlackNotifier,
                                     branch_name)
from rollout.errors import ExternalError, UserError
from tests.fakes.github import FakeGitHub
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack

ROUTING_KEY = "R0UT1NGKEY0123456789abcdefABCDEF"   # PagerDuty keys are 32 characters
STATE_PATH = "rollout/flags/skills_rollout.yaml"
STATE_25 = "flag: skills_rollout\npercentage: 25\nphase: beta\n"
STATE_0 = "flag: skills_rollout\npercentage: 0\nphase: beta\n"
AT = datetime(2025, 3, 4, 5, 6, 7, tzinfo=timezone(timedelta(hours=2)))


def make_incident(**changes) -> Incident:
    base = Incident(
        flag="skills_rollout",
        revision="0123456789abcdef0123456789abcdef01234567",
        severity="SEV1",
        title="Skill error rate 7.2% > 5% for 5 minutes",
        reasons=("skill_error_rate 7.2% > 5% (rollback)", "p95 latency 11.3s > 10s"),
        evidence_markdown="| metric | canary | control |\n|---|---|---|\n| errors | 7.2% | 0.4% |",
        from_percentage=25,
        to_percentage=0,
        at=AT,
        state_path=STATE_PATH,
    )
    return replace(base, **changes)


@pytest.fixture
def waits():
    """What `shared(waits)`, the shared retry policy, waited."""
    return []


def shared(waits: list) -> RetryPolicy:
    return replace(DEFAULT_POLICY, sleep=waits.append)


@pytest.fixture
def slack():
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def pagerduty():
    with FakePagerDuty() as fake:
        yield fake


@pytest.fixture
def github():
    with FakeGitHub(files={STATE_PATH: STATE_25, "README.md": "ops\n"}) as fake:
        yield fake


# -- Incident ------------------------------------------------------------------------------------

def test_dedup_key_is_stable_per_flag_and_revision():
    a = make_incident()
    assert a.dedup_key == "rollout/skills_rollout/0123456789ab"
    # Same flag and revision, different moment and evidence: the same alert.
    assert make_incident(at=AT + timedelta(hours=1), severity="SEV3",
                         reasons=("other",)).dedup_key == a.dedup_key
    assert make_incident(revision="fedcba9876543210").dedup_key == "rollout/skills_rollout/fedcba987654"
    assert make_incident(flag="other_flag").dedup_key == "rollout/other_flag/0123456789ab"


@pytest.mark.parametrize("severity, pages, pd_severity", [
    ("SEV1", True, "critical"),
    ("SEV2", True, "error"),
    ("SEV3", False, "warning"),
])
def test_severity_mapping(severity, pages, pd_severity, pagerduty):
    incident = make_incident(severity=severity)
    assert incident.pages is pages
    PagerDutyNotifier(ROUTING_KEY, pagerduty.url).trigger(incident)
    assert pagerduty.events[-1]["payload"]["severity"] == pd_severity


@pytest.mark.parametrize("changes, message", [
    ({"severity": "SEV4"}, "Incident.severity"),
    ({"at": datetime(2025, 3, 4, 5, 6, 7)}, "timezone-aware"),
    ({"revision": ""}, "non-empty"),
])
def test_incident_rejects_bad_values(changes, message):
    with pytest.raises(ValueError, match=message):
        make_incident(**changes)


def test_timestamp_is_utc_iso8601():
    assert make_incident().timestamp == "2025-03-04T03:06:07Z"


# -- Slack ---------------------------------------------------------------------------------------

def test_slack_payload_shape(slack):
    SlackNotifier(slack.url).notify(make_incident(), links={"Revert PR": "https://gh/pull/1"})
    [req] = slack.requests
    assert req.method == "POST" and req.header("Content-Type") == "application/json"
    msg = req.json
    assert slack.messages == [msg]
    assert msg["text"] == ("SEV1 automatic rollback of skills_rollout: 25% → 0% — "
                           "Skill error rate 7.2% > 5% for 5 minutes")
    header, section, evidence, links, context = msg["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "emoji": True,
                                                 "text": "SEV1 rollback: skills_rollout"}}
    assert section["type"] == "section"
    assert section["text"] == {"type": "mrkdwn",
                               "text": "*Skill error rate 7.2% &gt; 5% for 5 minutes*"}
    assert [f["type"] for f in section["fields"]] == ["mrkdwn"] * 4
    flag, severity, percentage, reasons = (f["text"] for f in section["fields"])
    assert flag == "*Flag*\n`skills_rollout`"
    assert severity == "*Severity*\nSEV1"
    assert percentage == "*Percentage*\n25% → 0%"
    assert reasons == "*Reasons*\n• skill_error_rate 7.2% &gt; 5% (rollback)\n• p95 latency 11.3s &gt; 10s"
    assert evidence["text"]["text"].startswith("*Evidence*\n```| metric | canary | control |")
    assert evidence["text"]["text"].endswith("| errors | 7.2% | 0.4% |```")
    assert links["text"]["text"] == "<https://gh/pull/1|Revert PR>"
    assert context["type"] == "context"
    assert "0123456789ab" in context["elements"][0]["text"]
    assert STATE_PATH in context["elements"][0]["text"]


def test_slack_long_text_stays_within_block_kit_limits(slack):
    huge = make_incident(title="T" * 5000, reasons=tuple("r" * 900 for _ in range(10)),
                         evidence_markdown="e" * 10_000, flag="f" * 200)
    SlackNotifier(slack.url).notify(huge)
    # The fake enforces the limits with 400 invalid_blocks, so acceptance is the proof.
    [msg] = slack.messages
    header, section, evidence, _ = msg["blocks"]
    assert len(header["text"]["text"]) == 150 and header["text"]["text"].endswith("…")
    assert len(section["text"]["text"]) == 3000
    assert all(len(f["text"]) <= 2000 for f in section["fields"])
    assert len(evidence["text"]["text"]) == 3000 and evidence["text"]["text"].endswith("…```")
    assert len(msg["text"]) <= 3000


def test_slack_invalid_payload_is_an_external_error_naming_it(slack, waits):
    slack.fail_next(400, body="invalid_payload")
    with pytest.raises(ExternalError) as err:
        SlackNotifier(slack.url, policy=shared(waits)).notify(make_incident())
    assert str(err.value) == "Slack webhook: HTTP 400 invalid_payload"
    assert len(slack.requests) == 1 and waits == []   # a 4xx is not retried


def test_slack_exhausted_retries_do_not_leak_the_webhook_url(slack, waits):
    slack.fail_next(503, times=4)
    with pytest.raises(ExternalError) as err:
        SlackNotifier(slack.url, policy=shared(waits)).notify(make_incident())
    assert "XXXXXXXX" not in str(err.value) and "<webhook URL>" in str(err.value)
    assert "failed after 4 attempts: HTTP 503" in str(err.value)
    assert "XXXXXXXX" not in repr(SlackNotifier(slack.url))


# -- PagerDuty -----------------------------------------------------------------------------------

def test_pagerduty_trigger_payload_shape(pagerduty):
    incident = make_incident()
    key = PagerDutyNotifier(ROUTING_KEY, pagerduty.url).trigger(
        incident, links={"Revert pull request": "https://github.com/acme/ops/pull/7"})
    assert key == "rollout/skills_rollout/0123456789ab"
    [req] = pagerduty.requests
    event = req.json
    assert set(event) == {"routing_key", "event_action", "dedup_key", "payload", "links"}
    assert event["routing_key"] == ROUTING_KEY
    assert event["event_action"] == "trigger"
    assert event["dedup_key"] == incident.dedup_key
    payload = event["payload"]
    assert payload["summary"] == ("SEV1 automatic rollback of skills_rollout: 25% → 0% — "
                                  "Skill error rate 7.2% > 5% for 5 minutes")
    assert payload["source"] == "rollout-controller"
    assert payload["severity"] == "critical"
    assert payload["timestamp"] == "2025-03-04T03:06:07Z"
    assert payload["component"] == "skills_rollout"
    assert payload["group"] == "rollout"
    assert payload["class"] == "automatic-rollback"
    assert payload["custom_details"] == {
        "flag": "skills_rollout", "revision": incident.revision, "severity": "SEV1",
        "from_percentage": 25, "to_percentage": 0, "reasons": list(incident.reasons),
        "state_file": STATE_PATH, "evidence": incident.evidence_markdown}
    assert event["links"] == [{"href": "https://github.com/acme/ops/pull/7",
                               "text": "Revert pull request"}]
    assert pagerduty.alerts == {incident.dedup_key: "triggered"}


def test_pagerduty_resolve_sends_only_the_key(pagerduty):
    notifier = PagerDutyNotifier(ROUTING_KEY, pagerduty.url)
    notifier.trigger(make_incident())
    notifier.resolve(make_incident(at=AT + timedelta(hours=3)))
    assert pagerduty.requests[1].json == {"routing_key": ROUTING_KEY, "event_action": "resolve",
                                          "dedup_key": "rollout/skills_rollout/0123456789ab"}
    assert pagerduty.alerts == {"rollout/skills_rollout/0123456789ab": "resolved"}


def test_pagerduty_summary_is_cut_to_1024(pagerduty):
    PagerDutyNotifier(ROUTING_KEY, pagerduty.url).trigger(make_incident(title="x" * 3000))
    assert len(pagerduty.events[0]["payload"]["summary"]) == 1024


def test_pagerduty_invalid_event_names_the_errors(pagerduty):
    with pytest.raises(ExternalError) as err:
        PagerDutyNotifier("too-short", pagerduty.url).trigger(make_incident())
    assert str(err.value) == ("PagerDuty trigger: HTTP 400 Event object is invalid; "
                              "Length of 'routing_key' is incorrect (should be 32 characters)")


def test_pagerduty_429_honours_retry_after(pagerduty, waits):
    pagerduty.fail_next(429, headers={"Retry-After": "7"},
                        body={"status": "throttle event", "message": "Requests for this service "
                                                                      "are arriving too quickly."})
    PagerDutyNotifier(ROUTING_KEY, pagerduty.url, policy=shared(waits)).trigger(make_incident())
    assert len(pagerduty.requests) == 2
    assert waits == [7.0]
    assert pagerduty.requests[0].json == pagerduty.requests[1].json   # the same event again
    assert len(pagerduty.events) == 1


def test_pagerduty_500_three_times_then_success(pagerduty, waits):
    pagerduty.fail_next(500, times=3, body={"status": "error", "message": "Internal"})
    PagerDutyNotifier(ROUTING_KEY, pagerduty.url, policy=shared(waits)).trigger(make_incident())
    assert [r.forced for r in pagerduty.requests] == [True, True, True, False]
    assert waits == [0.5, 1.0, 2.0]   # the shared policy's exponential backoff
    assert len(pagerduty.events) == 1


def test_pagerduty_from_env():
    notifier = PagerDutyNotifier.from_env({"PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
                                           "PAGERDUTY_EVENTS_URL": "http://127.0.0.1:9/v2/enqueue"})
    assert notifier.url == "http://127.0.0.1:9/v2/enqueue"
    assert PagerDutyNotifier.from_env({"PAGERDUTY_ROUTING_KEY": ROUTING_KEY}).url == \
        "https://events.pagerduty.com/v2/enqueue"
    assert ROUTING_KEY not in repr(notifier)
    with pytest.raises(UserError, match="PAGERDUTY_ROUTING_KEY is not set"):
        PagerDutyNotifier.from_env({})


# -- GitHub --------------------------------------------------------------------------------------

def proposer(fake: FakeGitHub, token: str | None = None) -> GitHubProposer:
    return GitHubProposer(token or fake.token, fake.repository, fake.url)


def test_github_opens_one_pull_request_with_percentage_zero(github):
    incident = make_incident()
    url = proposer(github).propose(incident, STATE_0)
    branch = "rollout/abort-skills_rollout-0123456789ab"
    assert branch_name(incident) == branch
    assert url == "https://github.com/acme/ops/pull/1"

    calls = [(r.method, r.path) for r in github.requests]
    assert calls == [
        ("GET", "/repos/acme/ops/pulls"),
        ("GET", "/repos/acme/ops"),
        ("GET", "/repos/acme/ops/git/ref/heads/main"),
        ("POST", "/repos/acme/ops/git/refs"),
        ("GET", f"/repos/acme/ops/contents/{STATE_PATH}"),
        ("PUT", f"/repos/acme/ops/contents/{STATE_PATH}"),
        ("POST", "/repos/acme/ops/pulls"),
    ]
    for req in github.requests:
        assert req.header("Authorization") == f"Bearer {github.token}"
        assert req.header("Accept") == "application/vnd.github+json"
        assert req.header("X-GitHub-Api-Version") == "2022-11-28"
    assert github.requests[0].query == {"state": "open", "head": f"acme:{branch}"}
    assert github.requests[3].json == {"ref": f"refs/heads/{branch}", "sha": github.refs["main"]}
    assert github.requests[4].query == {"ref": branch}

    put = github.requests[5].json
    assert set(put) == {"message", "content", "branch", "sha"}
    assert base64.b64decode(put["content"]).decode() == STATE_0
    assert "percentage: 0\n" in base64.b64decode(put["content"]).decode()
    assert put["branch"] == branch
    assert put["message"].startswith("rollout: roll back skills_rollout to 0% (SEV1, abort of 0123456789ab)")

    pull = github.requests[6].json
    assert pull["head"] == branch and pull["base"] == "main"
    assert pull["title"] == "Roll back skills_rollout to 0% (SEV1): Skill error rate 7.2% > 5% for 5 minutes"
    body = pull["body"]
    assert body.startswith("## Skill error rate 7.2% > 5% for 5 minutes\n")
    assert "- skill_error_rate 7.2% > 5% (rollback)\n- p95 latency 11.3s > 10s" in body
    assert incident.evidence_markdown in body
    assert "makes git agree with production again and clears the abort" in body

    # What GitHub now holds: the branch changed, main untouched, one open pull request.
    assert github.file(STATE_PATH, branch) == STATE_0
    assert github.file(STATE_PATH) == STATE_25
    assert github.file("README.md", branch) == "ops\n"
    assert [p["html_url"] for p in github.open_pulls()] == [url]


def test_github_second_propose_returns_same_url_and_creates_nothing(github):
    first = proposer(github).propose(make_incident(), STATE_0)
    before = len(github.requests)
    second = proposer(github).propose(make_incident(at=AT + timedelta(minutes=5)), STATE_0)
    assert second == first
    assert [(r.method, r.path) for r in github.requests[before:]] == [("GET", "/repos/acme/ops/pulls")]
    assert len(github.pulls) == 1


def test_github_reuses_an_existing_branch(github):
    # An earlier run created the branch before dying: 422 "Reference already exists" is fine.
    branch = branch_name(make_incident())
    github.create_branch(branch)
    url = proposer(github).propose(make_incident(), STATE_0, base="main")
    assert [r.status for r in github.requests_to("POST", "/repos/acme/ops/git/refs")] == [422]
    assert ("GET", "/repos/acme/ops") not in [(r.method, r.path) for r in github.requests]
    assert github.file(STATE_PATH, branch) == STATE_0
    assert url == "https://github.com/acme/ops/pull/1"

    # A human closed that pull request; the guard runs again. The branch already carries
    # the change, so no empty commit is made, and a new pull request is opened.
    github.pulls[0]["state"] = "closed"
    commits = len(github.commits)
    again = proposer(github).propose(make_incident(), STATE_0)
    assert len(github.requests_to("PUT", "/repos/acme/ops/contents")) == 1   # the first run's
    assert len(github.commits) == commits
    assert again == "https://github.com/acme/ops/pull/2"


def test_github_pull_created_meanwhile_is_returned(github):
    # Another guard run opened the pull request between our lookup and our creation.
    branch = branch_name(make_incident())
    first = proposer(github).propose(make_incident(), STATE_0)
    github.fail_next(200, body=[], match="GET /repos/acme/ops/pulls")
    again = proposer(github).propose(make_incident(), STATE_0)
    assert again == first
    posts = github.requests_to("POST", "/repos/acme/ops/pulls")
    assert [r.status for r in posts] == [201, 422] and len(github.pulls) == 1
    assert github.requests[-1].path == "/repos/acme/ops/pulls" and github.requests[-1].method == "GET"
    assert github.requests[-1].query["head"] == f"acme:{branch}"


def test_github_bad_token_is_an_external_error_with_githubs_message(github):
    with pytest.raises(ExternalError) as err:
        proposer(github, token="wrong").propose(make_incident(), STATE_0)
    assert str(err.value) == "GitHub GET /repos/acme/ops/pulls: HTTP 401 Bad credentials"
    assert len(github.requests) == 1 and github.pulls == []


def test_github_missing_state_file_names_it(github):
    with pytest.raises(ExternalError) as err:
        proposer(github).propose(make_incident(state_path="rollout/flags/nope.yaml"), STATE_0)
    assert str(err.value) == ("GitHub GET /repos/acme/ops/contents/rollout/flags/nope.yaml: "
                              "HTTP 404 Not Found")


def test_github_from_env():
    env = {"GITHUB_TOKEN": "t0k", "GITHUB_REPOSITORY": "acme/ops",
           "GITHUB_API_URL": "https://ghe.example.com/api/v3"}
    p = GitHubProposer.from_env(env)
    assert (p.repository, p.api_url) == ("acme/ops", "https://ghe.example.com/api/v3")
    assert "t0k" not in repr(p)
    assert GitHubProposer.from_env({**env, "GITHUB_API_URL": ""}).api_url == "https://api.github.com"
    with pytest.raises(UserError, match="GITHUB_TOKEN is not set"):
        GitHubProposer.from_env({"GITHUB_REPOSITORY": "acme/ops"})
    with pytest.raises(UserError, match="expected 'owner/name'"):
        GitHubProposer("t", "acme")


def test_fake_github_enforces_documented_errors(github):
    # The guard tests lean on this fake, so its refusals are checked against the docs here.
    import requests
    api, auth = f"{github.url}/repos/acme/ops", {"Authorization": f"Bearer {github.token}"}
    main_sha = github.refs["main"]
    r = requests.post(f"{api}/git/refs", json={"ref": "refs/heads/main", "sha": main_sha},
                      headers=auth)
    assert (r.status_code, r.json()["message"]) == (422, "Reference already exists")
    put = {"message": "m", "content": base64.b64encode(b"x").decode(), "branch": "main"}
    r = requests.put(f"{api}/contents/{STATE_PATH}", json=put, headers=auth)
    assert (r.status_code, r.json()["message"]) == (422, 'Invalid request.\n\n"sha" wasn\'t supplied.')
    r = requests.put(f"{api}/contents/{STATE_PATH}", json={**put, "sha": "0" * 40}, headers=auth)
    assert r.status_code == 409
    github.create_branch("same")
    r = requests.post(f"{api}/pulls", json={"title": "t", "head": "same", "base": "main"},
                      headers=auth)
    assert r.status_code == 422
    assert r.json()["errors"][0]["message"] == "No commits between main and same"
    r = requests.get(f"{api}/contents/{STATE_PATH}", headers=auth)
    assert base64.b64decode(r.json()["content"]).decode() == STATE_25
    assert github.file(STATE_PATH) == STATE_25 and github.refs["main"] == main_sha
