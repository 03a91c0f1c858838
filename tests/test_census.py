"""`cinflow census`: the DfE CIN census return from the case store, checked by
the DfE rules (../shared/tools/census-check), with problems reported, never
written silently."""

import os
import re
import sqlite3
import subprocess
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import pytest

import cinflow
import cinflow.census
from cinflow.cli import main
from cinflow.plugins import Registry
from cinflow.simulation import Parameters, simulate
from cinflow.store import Store

from helpers import run

REGISTRY = Registry.load()
ORACLE = Path(__file__).resolve().parents[2] / "shared" / "tools" / "census-check" / "census-check"
BUNDLED = ["kent", "london-borough", "reading", "west-berkshire", "wokingham", "cheshire-west-and-chester", "wirral"]
LA = {"kent": "886", "london-borough": "308", "reading": "870", "west-berkshire": "869", "wokingham": "872",
      "cheshire-west-and-chester": "896", "wirral": "344"}
STAMP = "2027-04-15T09:00:00"
KEY = "3f1c0be1a8d27e94c65b0a7d19e2f483b5c6d70e8f912a3b"  # for tests only


def child(**kw):
    return cinflow.Child(birth_date=kw.pop("birth_date", date(2014, 6, 12)), sex="F", ethnicity="WBRI",
                         upn_unknown_reason="UN5", **kw)


def store_of(tmp_path, cases):
    db = tmp_path / "cases.db"
    with Store(db, REGISTRY) as store:
        for case in cases:
            store.add(case)
    return db


def case_with(policy_id, case_id, events, **child_kw):
    policy = REGISTRY[policy_id]
    case = policy.new_case(case_id, child(**child_kw))
    for name, day, attrs in events:
        case = policy.apply(case, cinflow.event(name, day, **attrs))
        assert case.last.accepted, (name, day, case.last.reasons)
    return case


REFERRAL = ("referral_received", "2026-04-20", {"referral_source": "3A", "primary_need": "N4"})
PLAN = [REFERRAL, ("consent_given", "2026-04-21", {}),
        ("assessment_completed", "2026-05-28", {"outcome": "cin_plan", "factors": ["4B", "3B"]}),
        ("cin_meeting", "2026-06-02", {"kind": "initial", "chair": "team_manager", "outcome": "continue"})]
CP = [("referral_received", "2026-05-04", {"referral_source": "6", "primary_need": "N1"}),
      ("strategy_discussion", "2026-05-04", {}),
      ("s47_completed", "2026-05-21", {"outcome": "icpc", "factors": ["16A"]}),
      ("cp_plan_started", "2026-05-22", {"categories": ["NEG"], "previous_plans": 1})]


def export(tmp_path, capsys, db, *extra, year=2027, la="886"):
    out = tmp_path / "census.xml"
    code, text, err = run(["census", "--db", str(db), "--year", str(year), "--la", la, "-o", str(out),
                           "--datetime", STAMP, *extra], capsys)
    return code, out, text, err


def test_a_worked_return(tmp_path, capsys):
    db = store_of(tmp_path, [
        case_with("kent", "K-PLAN", PLAN),
        case_with("kent", "K-CP", CP + [("cp_review", "2026-08-13", {}), ("cp_review", "2027-02-04", {})]),
        case_with("kent", "K-NFA", [REFERRAL, ("case_closed", "2026-04-21", {"reason": "no further action"})]),
        case_with("kent", "K-OLD", [("referral_received", "2025-06-02", {"referral_source": "1A", "primary_need": "N5"}),
                                    ("case_closed", "2025-06-03", {"reason": "RC7"})]),
        case_with("kent", "K-LATER", [("referral_received", "2027-04-12", {"referral_source": "2A"})]),
    ])
    code, out, text, err = export(tmp_path, capsys, db)
    assert code == 0, err
    assert "3 children" in text and "personal data" in text
    xml = out.read_text()
    assert xml.startswith("<?xml") and "<!-- CIN census return made by cinflow" in xml
    root = ET.fromstring(xml)
    assert root.findtext("Header/CollectionDetails/ReferenceDate") == "2027-03-31"
    assert root.findtext("Header/Source/LEA") == "886" and root.findtext("Header/Source/DateTime") == STAMP
    kids = {c.findtext("ChildIdentifiers/LAchildID"): c for c in root.iter("Child")}
    assert set(kids) == {"KPLAN", "KCP", "KNFA"}  # closed before 1 April 2026, or referred after 31 March 2027: out
    plan = kids["KPLAN"].find("CINdetails")
    assert plan.findtext("Assessments/AssessmentActualStartDate") == "2026-04-21"
    assert plan.findtext("Assessments/AssessmentAuthorisationDate") == "2026-05-28"
    assert [f.text for f in plan.iter("AssessmentFactors")] == ["4B", "3B"]
    assert plan.findtext("CINPlanDates/CINPlanStartDate") == "2026-06-02" and plan.find("CINPlanDates/CINPlanEndDate") is None
    assert plan.findtext("ReferralNFA") == "0" and plan.findtext("PrimaryNeedCode") == "N4"
    cp = kids["KCP"].find("CINdetails")
    assert cp.findtext("Section47/S47ActualStartDate") == "2026-05-04"
    assert cp.findtext("Section47/InitialCPCtarget") == "2026-05-26"  # 15 WD, over the 25 May bank holiday
    assert cp.findtext("Section47/DateOfInitialCPC") == cp.findtext("ChildProtectionPlans/CPPstartDate") == "2026-05-22"
    assert cp.findtext("Section47/ICPCnotRequired") == "0"
    assert cp.findtext("Assessments/AssessmentAuthorisationDate") == "2026-05-21"  # the assessment under s47
    assert cp.findtext("ChildProtectionPlans/InitialCategoryOfAbuse") == "NEG"
    assert cp.findtext("ChildProtectionPlans/NumberOfPreviousCPP") == "1"
    assert [d.text for d in cp.findall("ChildProtectionPlans/Reviews/CPPreviewDate")] == ["2026-08-13", "2027-02-04"]
    nfa = kids["KNFA"].find("CINdetails")
    assert (nfa.findtext("ReferralNFA"), nfa.findtext("ReasonForClosure"), nfa.findtext("CINclosureDate")) == \
        ("1", "RC7", "2026-04-21")
    # Child elements in the order the XSD requires.
    assert [e.tag for e in kids["KCP"].find("CINdetails")] == [
        "CINreferralDate", "ReferralSource", "PrimaryNeedCode", "Assessments", "Section47", "ReferralNFA",
        "ChildProtectionPlans"]


@pytest.mark.parametrize("break_it, message", [
    (lambda c: c.execute("UPDATE events SET attributes = '{\"primary_need\":\"N4\"}' WHERE seq = 0"),
     "no referral source recorded"),
    (lambda c: c.execute("""UPDATE cases SET facts = json_set(facts, '$.closure_reason', NULL)"""),
     "with no reason for closure"),
    (lambda c: c.execute("""UPDATE events SET attributes = '{"previous_plans":0}' WHERE event = 'cp_plan_started'"""),
     "has no category of abuse"),
    (lambda c: c.execute("UPDATE cases SET child = json_set(child, '$.disabled', json('true'))"),
     "recorded as disabled but with no disability codes"),
    (lambda c: [c.execute(f"UPDATE {t} SET {k} = 'CASE-' || {k} || '-WITH-A-VERY-LONG-IDENTIFIER'")
                for t, k in (("cases", "id"), ("events", "case_id"))],
     "must be 1-20 letters and digits"),
])
def test_a_broken_store_is_reported_and_nothing_written(tmp_path, capsys, break_it, message):
    closed = PLAN + [("manager_decision", "2026-09-01", {"kind": "closure_rationale", "role": "team_manager"}),
                     ("cin_meeting", "2026-09-02", {"kind": "review", "chair": "team_manager", "outcome": "close"})]
    cp = CP + [("cp_plan_ended", "2026-12-01", {"outcome": "closed"})]
    db = store_of(tmp_path, [case_with("kent", "K1", closed), case_with("kent", "K2", cp)])
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA foreign_keys = OFF")
    break_it(conn)
    conn.commit()
    conn.close()
    code, out, text, err = export(tmp_path, capsys, db)
    assert code == 2 and message in err and "nothing was written" in err
    assert not out.exists() and "Traceback" not in err


def test_pseudonymised_return_hides_identifiers(tmp_path, capsys, monkeypatch):
    db = store_of(tmp_path, [case_with("kent", "K-PLAN", PLAN)])
    monkeypatch.delenv("CINFLOW_PSEUDONYM_KEY", raising=False)
    code, *_ , err = export(tmp_path, capsys, db, "--pseudonymise")
    assert code == 2 and "CINFLOW_PSEUDONYM_KEY" in err
    monkeypatch.setenv("CINFLOW_PSEUDONYM_KEY", KEY)
    code, out, text, _ = export(tmp_path, capsys, db, "--pseudonymise")
    xml = out.read_text()
    assert code == 0 and "KPLAN" not in xml and "K-PLAN" not in xml and "Pseudonymised" in text
    first = ET.fromstring(xml).findtext(".//LAchildID")
    assert first.startswith("P") and len(first) == 20
    export(tmp_path, capsys, db, "--pseudonymise")
    assert ET.fromstring(out.read_text()).findtext(".//LAchildID") == first  # same key, same pseudonym
    monkeypatch.setenv("CINFLOW_PSEUDONYM_KEY", "Zm9yIHRlc3RzIG9ubHk6IGFub3RoZXIga2V5")  # base64 works too
    export(tmp_path, capsys, db, "--pseudonymise")
    assert ET.fromstring(out.read_text()).findtext(".//LAchildID") != first


@pytest.mark.parametrize("weak", ["7", " ", "test-secret", "0123456789abcdef", "a" * 64, "deadbeef" * 8,
                                  "00112233445566778899aabbccddeeff", "A" * 24, "correct horse battery staple"])
def test_weak_pseudonym_keys_are_refused(tmp_path, capsys, monkeypatch, weak):
    db = store_of(tmp_path, [case_with("kent", "K-PLAN", PLAN)])
    monkeypatch.setenv("CINFLOW_PSEUDONYM_KEY", weak)
    code, out, text, err = export(tmp_path, capsys, db, "--pseudonymise")
    assert code == 2 and not out.exists()
    assert len(err.strip().splitlines()) == 1 and ("128 bits" in err or "pattern" in err), err
    assert "--new-key" in err and (weak.strip() not in err or len(weak.strip()) < 2)  # the key is never echoed


def test_new_key_prints_a_fresh_key_that_is_accepted(tmp_path, capsys, monkeypatch):
    code, out, err = run(["census", "--new-key"], capsys)
    key = out.strip()
    assert code == 0 and re.fullmatch(r"[0-9a-f]{64}", key) and out == key + "\n"
    code, again, _ = run(["census", "--new-key"], capsys)
    assert again.strip() != key
    db = store_of(tmp_path, [case_with("kent", "K-PLAN", PLAN)])
    monkeypatch.setenv("CINFLOW_PSEUDONYM_KEY", key)
    assert export(tmp_path, capsys, db, "--pseudonymise")[0] == 0
    assert "--new-key" in run(["census", "--help"], capsys)[1]


def test_a_pseudonymised_run_never_shows_a_case_id(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CINFLOW_PSEUDONYM_KEY", KEY)
    db = store_of(tmp_path, [case_with("kent", "K-DISABLED", PLAN, disabled=True),
                             case_with("kent", "K-PLAIN", PLAN)])
    code, out, text, err = export(tmp_path, capsys, db, "--pseudonymise")
    assert code == 2 and "recorded as disabled but with no disability codes" in err and not out.exists()
    pseudonym = cinflow.census.child_id("K-DISABLED", KEY.encode())
    assert f"cinflow: census: {pseudonym}: " in err
    for raw in ("K-DISABLED", "KDISABLED", "K-PLAIN", "KPLAIN"):
        assert raw not in text and raw not in err
    # Without --pseudonymise the problem names the case, as the council needs.
    code, out, text, err = export(tmp_path, capsys, db)
    assert code == 2 and "cinflow: census: K-DISABLED: " in err
    # A valid pseudonymised return: no case id in anything it prints or writes.
    conn = sqlite3.connect(db)
    conn.execute("UPDATE cases SET child = json_set(child, '$.disability_codes', json('[\"HAND\"]'))")
    conn.commit()
    conn.close()
    code, out, text, err = export(tmp_path, capsys, db, "--pseudonymise")
    xml = out.read_text()
    assert code == 0, err
    for raw in ("K-DISABLED", "KDISABLED", "K-PLAIN", "KPLAIN"):
        assert raw not in text and raw not in err and raw not in xml
    assert "birth date" in xml.split("-->")[0] and "personal data" in text


def test_a_return_says_synthetic_only_while_every_case_was_simulated(tmp_path, capsys):
    db = tmp_path / "sim.db"
    assert main(["simulate", "--authority", "kent", "--referrals", "30", "--warm-up", "0", "--db", str(db),
                 "--workers", "1", "--quiet", "--format", "json"]) == 0
    code, out, text, err = export(tmp_path, capsys, db)
    assert code == 0, err
    assert "Every case in it was simulated: synthetic data, no personal data." in text
    assert "simulated cases only" in out.read_text().split("-->")[0]
    # One recorded case of the same authority makes the return personal data, the others still simulated.
    with Store(db, REGISTRY) as store:
        store.add(case_with("kent", "K-PLAN", PLAN))
    code, out, text, err = export(tmp_path, capsys, db)
    assert code == 0, err
    assert "It holds personal data: handle it accordingly." in text and "synthetic data" not in text
    assert "It holds personal data about children" in out.read_text().split("-->")[0]
    # A recorded case of another authority does not count for this one's return.
    other = tmp_path / "other.db"
    assert main(["simulate", "--authority", "kent", "--referrals", "30", "--warm-up", "0", "--db", str(other),
                 "--workers", "1", "--quiet", "--format", "json"]) == 0
    with Store(other, REGISTRY) as store:
        store.add(case_with("reading", "R-PLAN", PLAN))
    code, out, text, err = export(tmp_path, capsys, other, "--authority", "kent")
    assert code == 0, err
    assert "synthetic data, no personal data" in text


def test_upn_unknown_only_for_children_without_a_upn(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CINFLOW_PSEUDONYM_KEY", KEY)
    with_upn = case_with("kent", "K-UPN", PLAN, upn="A123456789012")
    without = case_with("kent", "K-NOUPN", PLAN)  # child() gives upn_unknown_reason UN5
    bare = REGISTRY["kent"].new_case("K-BARE", cinflow.Child(birth_date=date(2014, 6, 12), sex="M", ethnicity="WBRI"))
    for name, day, attrs in PLAN:
        bare = REGISTRY["kent"].apply(bare, cinflow.event(name, day, **attrs))
    db = store_of(tmp_path, [with_upn, without, bare])
    for extra in ((), ("--pseudonymise",)):
        code, out, _, err = export(tmp_path, capsys, db, *extra)
        assert code == 0, err
        ids = {c.findtext("LAchildID"): c for c in ET.fromstring(out.read_text()).iter("ChildIdentifiers")}
        name = (lambda cid: cinflow.census.child_id(cid, KEY.encode() if extra else None))
        upn, nou, none = ids[name("K-UPN")], ids[name("K-NOUPN")], ids[name("K-BARE")]
        assert upn.find("UPNunknown") is None
        assert upn.findtext("UPN") == (None if extra else "A123456789012")
        assert nou.find("UPN") is None and nou.findtext("UPNunknown") == "UN5"
        assert none.find("UPN") is None and none.find("UPNunknown") is None


def test_several_authorities_need_a_choice(tmp_path, capsys):
    db = store_of(tmp_path, [case_with("kent", "K1", PLAN), case_with("wirral", "W1", [REFERRAL])])
    code, *_, err = export(tmp_path, capsys, db)
    assert code == 2 and "choose one with --authority" in err
    code, *_, err = export(tmp_path, capsys, db, "--authority", "reading")
    assert code == 2 and "holds no cases of 'reading'" in err
    code, *_, err = export(tmp_path, capsys, db, "--authority", "wirral", la="88")
    assert code == 2 and "three digits" in err


def _oracle():
    if ORACLE.exists():
        return ORACLE
    if os.environ.get("CI"):
        pytest.fail(f"CI needs the census oracle at {ORACLE}")
    pytest.skip("the census oracle (../shared/tools/census-check) is not here")


@pytest.mark.oracle
def test_a_simulated_cohort_passes_the_dfe_rules(tmp_path, capsys):
    """5,040 simulated referrals across all seven bundled authorities (720 each), one
    return per authority, every one checked by the DfE rules and the XSD: no errors."""
    oracle = _oracle()
    db = tmp_path / "sim.db"
    simulate(Parameters(tuple(BUNDLED), 720, date(2026, 4, 1), 12, 2027), db, REGISTRY, workers=2)
    files = []
    for authority in BUNDLED:
        out = tmp_path / f"{authority}.xml"
        assert main(["census", "--db", str(db), "--authority", authority, "--year", "2027", "--la", LA[authority],
                     "-o", str(out), "--datetime", STAMP]) == 0
        files.append(out)

    def check(path):
        done = subprocess.run([str(oracle), str(path)], capture_output=True, text=True, timeout=900)
        return path, done

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(check, files))
    for path, done in results:
        summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr
        with capsys.disabled():  # queries are reported on every run, not failed
            print(f"\ncensus-check {path.stem}: {summary}")
        assert done.returncode == 0 and "census: 0 errors" in summary, done.stdout[-3000:] + done.stderr[-2000:]


def test_the_engine_refuses_what_the_census_would_reject():
    kent = REGISTRY["kent"]
    case = case_with("kent", "K-R", CP[:3])  # an s47 enquiry that will have a conference
    # A CP plan can only start at the conference: not from an enquiry still under way...
    early = case_with("kent", "K-E", CP[:2])
    early = kent.apply(early, cinflow.event("cp_plan_started", "2026-05-12", categories=["NEG"]))
    assert not early.last.accepted and early.last.reasons[0].rule == "lifecycle.not_from_state"
    # ...nor at a weekend (rule 8875), and a plan cannot end the day it starts (rule 8840).
    assert not kent.apply(case, cinflow.event("cp_plan_started", "2026-05-23", categories=["NEG"])).last.accepted
    started = kent.apply(case, cinflow.event("cp_plan_started", "2026-05-22", categories=["NEG"]))
    assert not kent.apply(started, cinflow.event("cp_plan_ended", "2026-05-22", outcome="closed")).last.accepted
    # No activity after a closure, and no second CIN plan while one is in force (rules 8565, 4004, 4014).
    plan = case_with("kent", "K-P", PLAN)
    again = kent.apply(plan, cinflow.event("cin_meeting", "2026-06-10", kind="initial", chair="team_manager",
                                           outcome="continue"))
    assert not again.last.accepted and again.state == "cin_plan" and again.facts.plan_started == date(2026, 6, 2)
    closed = kent.apply(plan, cinflow.event("child_died", "2026-07-01"))
    for name, attrs in (("visit", {}), ("strategy_discussion", {}),
                        ("cin_meeting", {"kind": "review", "chair": "team_manager", "outcome": "continue"})):
        later = kent.apply(closed, cinflow.event(name, "2026-07-02", **attrs))
        assert not later.last.accepted and later.state == "closed"
