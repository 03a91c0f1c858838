"""Test helpers: apply events in a few words; run the command line; dump a
database; the outside tools some tests need."""

import os
import shutil
import sqlite3
from datetime import date

import pytest

import cinflow
from cinflow.cli import main


def run(argv, capsys):
    """Run ``cinflow ARGV`` in this process: (exit code, stdout, stderr)."""
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def dump(path) -> list[str]:
    """A SQLite database's content as SQL, less the time each schema migration
    was applied (sqlite-utils records it)."""
    conn = sqlite3.connect(path)
    try:
        return [line for line in conn.iterdump() if '"_sqlite_migrations" VALUES' not in line]
    finally:
        conn.close()


class Runner:
    """Apply events to a fresh case in a few words: ``run(kent, child, [...])``."""

    def __init__(self, policy, child=None, case_id="T-1"):
        self.policy = policy
        self.case = policy.new_case(case_id, child or cinflow.Child(birth_date=date(2014, 6, 12)))

    def __call__(self, name, day, **attrs):
        self.case = self.policy.apply(self.case, cinflow.event(name, day, **attrs))
        return self.case.last

    def deadlines(self, name):
        return [d for d in self.case.deadlines if d.name == name]

    def open(self, name):
        found = [d for d in self.case.deadlines if d.name == name and d.is_open]
        assert len(found) == 1, (name, self.case.deadlines)
        return found[0]


def refused_by(item, rule, document=None):
    """Assert ``item`` was refused by ``rule`` (citing ``document``); return that reason."""
    assert not item.accepted, "expected a refusal"
    assert rule in [x.rule for x in item.reasons], item.reasons
    reason = next(x for x in item.reasons if x.rule == rule)
    if document is not None:
        assert reason.source.startswith(document)
    return reason


def route_rule(policy, case, day="2026-06-01", **attrs) -> str:
    """The id of the consent route ``policy`` would take for a refusal now."""
    from cinflow.rules import Context

    return policy.consent_route(Context(case, cinflow.event("consent_refused", day, **attrs))).rule.id


def plan_in_force(r, referral="2026-01-05", completed="2026-02-13", meeting="2026-02-25", chair="team_manager", **agreed):
    """Referral -> consent -> assessment (cin_plan) -> initial meeting (with
    whatever the meeting ``agreed``: next_review, review_chair)."""
    r("referral_received", referral)
    r("consent_given", referral, young_person_consent=True)
    r("assessment_completed", completed, outcome="cin_plan")
    item = r("cin_meeting", meeting, kind="initial", chair=chair, outcome="continue", **agreed)
    assert item.accepted, item.reasons
    return r


def chromium() -> str:
    """Headless Chromium's path; skipped without it, but CI must have it."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    if os.environ.get("CI"):
        pytest.fail("CI must have Chromium (.ci/run installs it)")
    pytest.skip("Chromium is not installed (CI installs it)")
