"""The command line: the JSON contract, the timeline, the database, bad input."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cinflow.cli import main

from helpers import run

EXAMPLE = Path(__file__).parent.parent / "examples" / "kent-cin-plan.yaml"


def test_json_contract(capsys):
    code, out, err = run(["run", str(EXAMPLE), "--format", "json"], capsys)
    assert code == 0 and err == ""
    doc = json.loads(out)
    assert (doc["authority"], doc["case"], doc["state"]) == ("kent", "K-001", "cin_plan")
    assert set(doc["history"][0]) == {"date", "event", "accepted", "from", "to", "reasons", "advice", "exceptions", "recorded_by"}
    # Nothing stored it: who recorded an item is known only once a store holds it.
    assert (doc["history"][0]["advice"], doc["history"][0]["exceptions"], doc["history"][0]["recorded_by"]) == ([], [], None)
    refused = [h for h in doc["history"] if not h["accepted"]]
    assert len(refused) == 1 and refused[0]["reasons"][0]["rule"] == "kent.review_chair"
    reason = refused[0]["reasons"][0]
    assert set(reason) == {"rule", "message", "source", "remedies"}
    # A should: the remedy is the right chair, or an exception a Team Manager (or anyone senior) authorises.
    assert [(m["kind"], m.get("roles")) for m in reason["remedies"]] == [
        ("needs_chair", ["team_manager", "senior_practitioner"]),
        ("needs_exception", ["team_manager", "practice_lead", "senior_practice_lead", "service_manager", "assistant_director"])]
    assert {"name", "due", "status", "opened_on", "met_on", "ended_on", "rule", "source"} == set(doc["deadlines"][0])
    by_name = {}
    for d in doc["deadlines"]:
        by_name.setdefault(d["name"], []).append(d)
    assert by_name["initial_cin_meeting"] == [{
        "name": "initial_cin_meeting", "due": "2026-02-27", "status": "met", "opened_on": "2026-02-13",
        "met_on": "2026-02-25", "ended_on": None,
        "rule": "kent.initial_meeting",
        "source": "000_1fb2c8a7d3e76d05.txt Policy §5 Child in Need Meetings (Initial Child in Need meeting)"}]
    assert [d["status"] for d in by_name["visit"]] == ["met", "overdue"]  # as_of 2026-06-30
    assert [d["status"] for d in by_name["cin_review"]] == ["met", "open"]


def test_automatic_items_are_flagged(tmp_path, capsys):
    f = tmp_path / "s.yaml"
    f.write_text("authority: kent\nchild: {birth_date: 2008-02-29}\n"
                 "events: [{date: 2025-11-03, event: referral_received}]\nas_of: 2026-03-02\n")
    code, out, _ = run(["run", str(f), "--format", "json"], capsys)
    doc = json.loads(out)
    assert code == 0 and doc["state"] == "closed" and doc["case"] == "s"
    assert doc["history"][-1] == {"date": "2026-03-01", "event": "eighteenth_birthday", "accepted": True,
                                  "from": "referral", "to": "closed", "reasons": [], "advice": [], "exceptions": [],
                                  "automatic": True, "recorded_by": None}
    # The 45-WD assessment (due 2026-01-08: Christmas, Boxing Day and New Year skipped) was never done:
    # the 18th birthday ends it, missed, not cancelled.
    assert [(d["due"], d["status"]) for d in doc["deadlines"]] == [("2026-01-08", "missed")]


def test_text_timeline(capsys):
    code, out, _ = run(["run", str(EXAMPLE)], capsys)
    assert code == 0
    assert "REFUSED" in out and "kent.review_chair" in out and "overdue" in out and "2026-02-27" in out


def test_run_db_then_due(tmp_path, capsys):
    db = tmp_path / "cases.db"
    assert run(["run", str(EXAMPLE), "--db", str(db)], capsys)[0] == 0
    code, out, _ = run(["due", "--db", str(db), "--as-of", "2026-06-30", "--format", "json"], capsys)
    rows = json.loads(out)
    assert code == 0 and [r["due"] for r in rows] == sorted(r["due"] for r in rows)
    assert rows[0] == {"case": "K-001", "authority": "kent", "name": "visit", "due": "2026-04-17", "status": "overdue",
                       "rule": "kent.visit_interval", "source": rows[0]["source"]}
    # the same case again is refused, and the database keeps the first
    code, _, err = run(["run", str(EXAMPLE), "--db", str(db)], capsys)
    assert code == 2 and "already" in err


def test_policies_lists_ids_with_descriptions(capsys):
    code, out, _ = run(["policies"], capsys)
    assert code == 0
    ids = [line.split()[0] for line in out.splitlines()]
    assert {"england", "kent"} <= set(ids)


def test_plugins_lists_hooks(capsys):
    code, out, _ = run(["plugins", "--format", "json"], capsys)
    kent = next(p for p in json.loads(out) if p["policy"] == "kent")
    assert kent["module"] == "cinflow_policies.kent" and "chair_rules" in kent["hooks"]
    assert kent["distribution"].startswith("cinflow ")


BAD = [
    ("authority: kentt\nchild: {birth_date: 2014-06-12}\nevents: [{date: 2026-01-05, event: referral_received}]\n",
     "unknown authority 'kentt' (known: "),
    ("authority: kent\nchild: {birth_date: 2014-06-12}\nevents: [{date: 2026-02-30, event: referral_received}]\n",
     "events[0].date: '2026-02-30' is not a real date"),
    ("authority: kent\nchild: {birth_date: 2014-06-12}\nevents: [{date: 2026-01-05, event: referal_received}]\n",
     "unknown event 'referal_received'"),
    ("authority: kent\nchild: {birth_date: 2014-06-12}\nevents: [{date: 2026-01-05, event: visit, seen: true}]\n",
     "events[0]: unknown attribute 'seen' for visit"),
    ("authority: kent\nchild: {birth_date: 2014-06-12}\nevents:\n - {date: 2026-01-05, event: referral_received}\n"
     " - {date: 2026-01-04, event: consent_given}\n", "events[1]: consent_given on 2026-01-04 is before"),
    ("authority: kent\nchild: {birth_date: 2014-06-12, hair: red}\nevents: [{date: 2026-01-05, event: referral_received}]\n",
     "unknown attribute 'hair'"),
    ("authority: kent\nchild: {birth_date: 2014-06-12}\nevents: []\n", "events: the list is empty"),
    ("authority: kent\nchild: {birth_date: 2014-06-12}\nevents: [{date: 2026-01-05, event: cin_meeting, kind: first, chair: team_manager, outcome: continue}]\n",
     "events[0].kind: 'first' is not one of: initial, review"),
    ("authority: kent\nauthority: kent\n", "duplicate key 'authority'"),
    ("authority: [unclosed\n", "not valid YAML"),
    ("- just a list\n", "a scenario is a mapping"),
]


@pytest.mark.parametrize("text, message", BAD)
def test_bad_scenarios_exit_2_with_one_line(tmp_path, capsys, text, message):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    code, out, err = run(["run", str(f)], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_missing_file_and_database(tmp_path, capsys):
    code, _, err = run(["run", str(tmp_path / "none.yaml")], capsys)
    assert code == 2 and "no such file" in err
    code, _, err = run(["due", "--db", str(tmp_path / "none.db"), "--as-of", "2026-01-01"], capsys)
    assert code == 2 and "no such database" in err
    assert not (tmp_path / "none.db").exists()


def test_console_script_bad_date_is_a_usage_error():
    proc = subprocess.run([sys.executable, "-m", "cinflow.cli", "due", "--db", "x.db", "--as-of", "2026-13-01"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "is not a real date" in proc.stderr and "Traceback" not in proc.stderr


EXAMPLES = {
    "kent-cin-plan.yaml": ("cin_plan", ["kent.review_chair"]),
    "london-borough-twelve-months.yaml": ("cin_plan", ["london-borough.twelve_month_limit"]),
    "reading-after-child-protection.yaml": (
        "closed", [["berkshire-west.minimum_plan_length", "berkshire-west.post_cp_plan_ending"]]),
    "wirral-withheld-consent.yaml": ("closed", ["wirral.withheld_consent_discussion"]),
    "cheshire-west-and-chester-caf.yaml": ("stepped_down", ["cheshire-west-and-chester.closure_needs_review"]),
    "london-borough-comply-or-explain.yaml": ("closed", ["london-borough.conclusion_agreed"]),
}


def test_the_comply_or_explain_example_shows_advice_and_an_exception(capsys):
    code, out, _ = run(["run", str(EXAMPLE.parent / "london-borough-comply-or-explain.yaml"), "--format", "json"], capsys)
    doc = json.loads(out)
    advised = [(h["date"], [a["rule"] for a in h["advice"]]) for h in doc["history"] if h["advice"]]
    assert advised == [("2026-05-20", ["london-borough.next_meeting_date"])]
    (closing,) = [h for h in doc["history"] if h["exceptions"]]
    assert (closing["date"], closing["to"]) == ("2026-07-01", "closed")
    assert closing["exceptions"][0] | {"reason": "-"} == {
        "rule": "london-borough.conclusion_agreed", "role": "service_manager", "reason": "-",
        "source": "001_0fbde886a1ba2318.txt Next Steps", "recorded_on": "2026-07-01"}
    refused = next(h for h in doc["history"] if not h["accepted"])
    assert [m["kind"] for m in refused["reasons"][0]["remedies"]] == ["needs_decision", "needs_exception"]
    # The review after the advised meeting fell due at the 3-month maximum (20 May -> 20 Aug).
    assert [d["due"] for d in doc["deadlines"] if d["rule"] == "london-borough.review_interval"] == ["2026-08-20"]
    code, out, _ = run(["run", str(EXAMPLE.parent / "london-borough-comply-or-explain.yaml")], capsys)
    assert "advice london-borough.next_meeting_date" in out and "by exception to" in out and "to proceed:" in out


def test_every_shipped_example_is_pinned():
    assert sorted(EXAMPLES) == sorted(p.name for p in EXAMPLE.parent.glob("*.yaml"))


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_shipped_examples_run_to_their_documented_end(name, capsys):
    code, out, _ = run(["run", str(EXAMPLE.parent / name), "--format", "json"], capsys)
    doc = json.loads(out)
    state, refusals = EXAMPLES[name]
    assert code == 0 and doc["state"] == state
    got = [[r["rule"] for r in h["reasons"]] for h in doc["history"] if not h["accepted"]]
    assert got == [r if isinstance(r, list) else [r] for r in refusals]


@pytest.mark.parametrize("argv", [
    ["report", "{db}", "--html", "/no-such-folder/report.html"],
    ["census", "--db", "{db}", "--year", "2027", "--la", "886", "-o", "/no-such-folder/census.xml"],
])
def test_an_output_that_cannot_be_written_is_one_line(tmp_path, capsys, argv):
    db = tmp_path / "sim.db"
    assert main(["simulate", "--authority", "kent", "--referrals", "20", "--db", str(db), "--quiet"]) == 0
    capsys.readouterr()
    code, out, err = run([a.replace("{db}", str(db)) for a in argv], capsys)
    assert code == 2 and err.startswith("cinflow: error: cannot write /no-such-folder/") and "Traceback" not in err


def test_a_csv_folder_that_cannot_be_made_fails_before_the_run(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = run(["simulate", "--authority", "kent", "--referrals", "20", "--db", str(tmp_path / "s.db"),
                        "--csv", str(blocker / "csv"), "--quiet"], capsys)
    assert code == 2 and "--csv" in err and not (tmp_path / "s.db").exists()


@pytest.mark.parametrize("argv, fault", [
    (["due", "--db", "x.db", "--as-of", "x"], "'x' is not a real date"),
    (["tick", "--as-of", "2026-01-01"], "Missing option '--db'"),
    (["run", str(EXAMPLE), "--format", "xml"], "'xml' is not one of"),
])
def test_a_bad_option_is_one_line_naming_it(argv, fault, capsys):
    code, out, err = run(argv, capsys)
    assert code == 2 and out == "" and err.count("\n") == 1 and fault in err and "--help" in err


def test_an_as_of_before_the_last_event_is_refused_on_the_command_line(capsys):
    code, _, err = run(["run", str(EXAMPLE), "--as-of", "2026-02-01"], capsys)
    assert code == 2 and err.count("\n") == 1 and "--as-of: 2026-02-01 is before the case's last event (2026-05-14)" in err
