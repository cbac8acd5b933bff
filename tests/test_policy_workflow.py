"""The pull request's preview comment: the report of policy/preview_report.py, and the
sticky-comment script that posts it (and the gate's table) through `gh api`.

`gh` is replaced by a stand-in on PATH that records each call and answers the comment
listing by running the script's own `--jq` filter with the real jq, so the filter that
picks the comment to edit is exercised as written.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.policy_support import POLICY_DIR
from tests.pulumi_harness import ROOT

import preview_report

SCRIPT = ROOT / ".github" / "scripts" / "sticky-comment.sh"
MARKER = "<!-- pulumi-preview-report -->"

# What `pulumi preview --policy-pack` prints (CLI 3.1xx layout), trimmed.
PREVIEW_FAILED = """\
Previewing update (prod)

Loading policy packs...

     Type                                  Name            Plan       Info
     pulumi:pulumi:Stack                   skills-rollout-prod         1 error
     └─ render:services:WebService         web             update     [diff: ~serviceDetails]

Policies:
    ❌ skills-rollout-policy@v0.1.0 (local: policy)
        - [mandatory]  web-health-check  (render:services:WebService: web)
          The web service has a health check path (seed 002 Deployment Architecture)
          'legal-platform-web' has no health check path (serviceDetails.healthCheckPath is None)

Resources:
    ~ 1 to update
    35 unchanged
"""

FAKE_GH = """#!/usr/bin/env python3
import json, os, subprocess, sys
args = sys.argv[1:]
record = {"args": args}
if "--input" in args:
    with open(args[args.index("--input") + 1]) as f:
        record["body"] = json.load(f)["body"]
with open(os.environ["FAKE_GH_LOG"], "a") as f:
    f.write(json.dumps(record) + "\\n")
if "--jq" in args:
    with open(os.environ["FAKE_GH_COMMENTS"]) as f:
        listing = f.read()
    out = subprocess.run(["jq", "-r", args[args.index("--jq") + 1]], input=listing,
                         capture_output=True, text=True, check=True)
    sys.stdout.write(out.stdout)
"""


# ---------------------------------------------------------------- the report

def test_the_report_puts_the_policy_section_first():
    text = preview_report.report(PREVIEW_FAILED, 255, "3f2c9e1")
    assert text.startswith(MARKER + "\n## `pulumi preview` of prod with the policy pack: ❌ failed (exit 255)")
    results = text.split("### Policy results", 1)[1].split("<details>", 1)[0]
    assert "[mandatory]  web-health-check" in results and "Resources:" not in results
    assert "~ 1 to update" in text.split("<details>", 1)[1]
    assert "Commit 3f2c9e1." in text


@pytest.mark.parametrize(("output", "section"), [
    (PREVIEW_FAILED, "Policies:\n    ❌ skills-rollout-policy@v0.1.0 (local: policy)"),
    ("Diagnostics:\n  x\n\nPolicy Violations:\n    [advisory]  skills-rollout-policy v0.1.0  manual-deploys\n"
     "    'legal-platform-web' has autoDeploy 'yes'\n\nResources:\n    1 unchanged\n",
     "Policy Violations:\n    [advisory]  skills-rollout-policy v0.1.0  manual-deploys"),
    ("\x1b[1mPolicies:\x1b[0m\n    ✅ skills-rollout-policy@v0.1.0 (local: policy)\n", "Policies:\n    ✅"),
    ("error: could not log in to Pulumi Cloud\n", None),
])
def test_the_policy_section_of_each_cli_layout(output, section):
    found = preview_report.policy_section(output)
    assert (found is None) if section is None else found.startswith(section)


def test_a_preview_that_stopped_early_says_so():
    text = preview_report.report("error: could not log in\n", 255)
    assert "printed no policy section" in text and "could not log in" in text


def test_a_long_preview_is_trimmed_from_the_front_and_a_fence_cannot_be_closed_early():
    long = "Previewing\n" + "x" * (preview_report.MAX_OUTPUT + 5000) + "\n```\nPolicies:\n    ✅ ok\n"
    text = preview_report.report(long, 0)
    assert len(text) < 65_536 and "✅ passed" in text and "Policies:" in text
    assert "Previewing" not in text
    assert "````text" in text              # longer than any backtick run in the output


def test_the_command_line(tmp_path):
    out = tmp_path / "preview.txt"
    out.write_text(PREVIEW_FAILED)
    cmd = [sys.executable, str(POLICY_DIR / "preview_report.py")]
    ok = subprocess.run(cmd + [str(out), "0", "abc123"], capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.startswith(MARKER)
    bad = subprocess.run(cmd + [str(tmp_path / "missing.txt"), "1"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "cannot read" in bad.stderr
    usage = subprocess.run(cmd + [str(out), "not-a-number"], capture_output=True, text=True)
    assert usage.returncode == 2 and usage.stderr.startswith("usage:")


# ---------------------------------------------------------------- the sticky comment

def comment(id_, login, body):
    return {"id": id_, "user": {"login": login}, "body": body}


@pytest.fixture
def gh(tmp_path):
    if not shutil.which("jq"):
        pytest.skip("jq is not installed (GitHub's runners have it)")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "gh"
    fake.write_text(FAKE_GH)
    fake.chmod(0o755)
    report = tmp_path / "report.md"
    report.write_text(f"{MARKER}\n## preview\n")

    def run(comments, *extra, marker=MARKER):
        (tmp_path / "comments.json").write_text(json.dumps(comments))
        log = tmp_path / "gh.log"
        log.write_text("")
        env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
               "FAKE_GH_LOG": str(log), "FAKE_GH_COMMENTS": str(tmp_path / "comments.json"),
               "GITHUB_REPOSITORY": "acme/ops", "PR_NUMBER": "42", "GH_TOKEN": "ghs_fake"}
        done = subprocess.run(["bash", str(SCRIPT), str(report), marker, *extra], env=env,
                              capture_output=True, text=True, timeout=30)
        calls = [json.loads(line) for line in log.read_text().splitlines()]
        return done, calls
    return run


def writes(calls):
    return [(c["args"][2], c["args"][3], c["body"]) for c in calls if "--method" in c["args"]]


def test_the_bots_last_comment_is_edited_not_a_humans_quote(gh):
    done, calls = gh([comment(7, "github-actions[bot]", f"{MARKER}\nold"),
                      comment(8, "alice", f"{MARKER}\nquoted by a human"),
                      comment(9, "github-actions[bot]", "<!-- rollout-gate-report -->\ngate"),
                      comment(11, "github-actions[bot]", f"{MARKER}\nnewer")])
    assert done.returncode == 0, done.stderr
    assert writes(calls) == [("PATCH", "repos/acme/ops/issues/comments/11", f"{MARKER}\n## preview\n")]


def test_a_first_report_creates_the_comment(gh):
    done, calls = gh([comment(8, "alice", "looks good")])
    assert done.returncode == 0, done.stderr
    assert writes(calls) == [("POST", "repos/acme/ops/issues/42/comments", f"{MARKER}\n## preview\n")]


def test_without_create_only_an_existing_comment_is_updated(gh):
    done, calls = gh([], "no")
    assert done.returncode == 0 and writes(calls) == []


def test_a_marker_that_could_break_the_filter_is_refused(gh):
    done, calls = gh([], marker='<!-- x" or true -->')
    assert done.returncode == 2 and calls == [] and "marker must look like" in done.stderr
