"""Conventions every command keeps: --format json wherever something is
printed, `due` filters, a broken plugin is one line (exit 1), citations a
practitioner can read, and a diagram that can be read (mermaid, and SVG drawn
offline)."""

import json
import os
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path
from types import ModuleType

import click
import pytest

import cinflow.cli
from cinflow import hookimpl
from cinflow.cli import cli, main
from cinflow.errors import PluginError
from cinflow.plugins import Registry
from cinflow.rules import PolicyInfo

from helpers import chromium, run

EXAMPLES = Path(__file__).parent.parent / "examples"
REGISTRY = Registry.load()


def _commands(group, path=()):
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _commands(command, path + (name,))
        yield path + (name,), command


# -- --format json on every command that prints -------------------------------------------------

@pytest.mark.parametrize("path, command", list(_commands(cli)), ids=lambda v: " ".join(v) if isinstance(v, tuple) else "")
def test_every_command_takes_format_json(path, command):
    formats = [p for p in command.params if "--format" in getattr(p, "opts", ())]
    assert formats, f"cinflow {' '.join(path)} has no --format"
    assert {"text", "json"} <= set(formats[0].type.choices)


def test_policies_check_as_json(monkeypatch, capsys):
    code, out, _ = run(["policies", "check", "kent", "wirral", "--format", "json"], capsys)
    assert code == 0 and json.loads(out) == [{"policy": "kent", "ok": True, "problems": []},
                                             {"policy": "wirral", "ok": True, "problems": []}]
    monkeypatch.setattr("cinflow.conformance.check_policy", lambda registry, pid: ["made-up problem"])
    code, out, _ = run(["policies", "check", "kent", "--format", "json"], capsys)
    assert code == 1 and json.loads(out) == [{"policy": "kent", "ok": False, "problems": ["made-up problem"]}]


def test_diagram_as_json_is_the_states_and_edges(capsys):
    code, out, _ = run(["diagram", "wirral", "--format", "json"], capsys)
    doc = json.loads(out)
    assert code == 0 and (doc["policy"], doc["title"], doc["initial"]) == ("wirral", "Wirral Council", "new")
    assert [s["id"] for s in doc["states"]][:3] == ["new", "referral", "assessment"]
    assert {s["id"] for s in doc["states"] if s["final"]} == {"closed", "stepped_down", "looked_after", "transferred"}
    edge = next(e for e in doc["edges"] if (e["from"], e["to"], e["event"]) == ("cin_plan", "closed", "cin_meeting"))
    assert edge["when"] == {"kind": ["review"], "outcome": ["close"]} and "wirral.chair" in edge["rules"]
    died = [e for e in doc["edges"] if e["event"] == "child_died"]
    assert len(died) == 8 and all(e["from_every_open_state"] and e["to"] == "closed" for e in died)
    assert not any(e["event"] in ("visit", "minutes_circulated") for e in doc["edges"])  # internal: no edge


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    db = tmp_path_factory.mktemp("sim") / "sim.db"
    assert main(["simulate", "--authority", "kent", "--referrals", "30", "--warm-up", "0", "--db", str(db), "--workers", "1",
                 "--quiet", "--format", "json"]) == 0
    return db


def test_report_and_census_say_what_they_wrote_as_json(simulated, tmp_path, capsys):
    capsys.readouterr()
    out_html = tmp_path / "r.html"
    code, out, _ = run(["report", str(simulated), "--html", str(out_html), "--format", "json"], capsys)
    doc = json.loads(out)
    assert code == 0 and out.count("\n") == 1 and out_html.exists()
    assert doc["wrote"] == str(out_html) and doc["personal_data"] is False and "synthetic" in doc["contains"]
    xml = tmp_path / "census.xml"
    code, out, _ = run(["census", "--db", str(simulated), "--authority", "kent", "--year", "2027", "--la", "886",
                        "-o", str(xml), "--format", "json"], capsys)
    doc = json.loads(out)
    assert code == 0 and out.count("\n") == 1 and xml.exists()
    assert doc["wrote"] == str(xml) and "census" in doc["contains"] and doc["counts"]["children"] == 30
    # Every case was simulated: the return says it holds no real child's record.
    assert doc["pseudonymised"] is False and doc["synthetic"] is True and doc["personal_data"] is False
    assert "simulated cases only: synthetic data" in xml.read_text().split("-->")[0]


# -- due: filters and today ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def cases_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("due") / "cases.db"
    for name in ("kent-cin-plan", "london-borough-comply-or-explain", "wirral-withheld-consent",
                 "london-borough-twelve-months"):
        assert main(["run", str(EXAMPLES / f"{name}.yaml"), "--db", str(db), "--format", "json"]) == 0
    return db


def _due(capsys, db, *args):
    code, out, err = run(["due", "--db", str(db), *args, "--format", "json"], capsys)
    assert code == 0, err
    return json.loads(out)


def test_due_filters_by_authority_case_status_and_limit(cases_db, capsys):
    capsys.readouterr()
    every = _due(capsys, cases_db, "--as-of", "2026-06-30")
    assert len({r["authority"] for r in every}) >= 2 and {r["status"] for r in every} == {"open", "overdue"}
    kent = _due(capsys, cases_db, "--as-of", "2026-06-30", "--authority", "kent")
    assert kent and kent == [r for r in every if r["authority"] == "kent"]
    both = _due(capsys, cases_db, "--as-of", "2026-06-30", "--authority", "kent", "--authority", "london-borough")
    assert both == [r for r in every if r["authority"] in ("kent", "london-borough")]
    one = _due(capsys, cases_db, "--as-of", "2026-06-30", "--case", "K-001")
    assert one and {r["case"] for r in one} == {"K-001"}
    overdue = _due(capsys, cases_db, "--as-of", "2026-06-30", "--status", "overdue")
    assert overdue == [r for r in every if r["status"] == "overdue"]
    assert _due(capsys, cases_db, "--as-of", "2026-06-30", "--status", "open", "--status", "overdue") == every
    assert _due(capsys, cases_db, "--as-of", "2026-06-30", "--limit", "2") == every[:2]
    assert _due(capsys, cases_db, "--as-of", "2026-06-30", "--case", "K-001", "--status", "open",
                "--limit", "1") == [r for r in one if r["status"] == "open"][:1]
    # text: the filters are said, and so is a cut
    code, out, _ = run(["due", "--db", str(cases_db), "--as-of", "2026-06-30", "--limit", "1"], capsys)
    assert code == 0 and f"The soonest 1 of {len(every)} shown (--limit 1)." in out
    code, out, _ = run(["due", "--db", str(cases_db), "--as-of", "2026-06-30", "--case", "nobody"], capsys)
    assert code == 0 and out == "Nothing open or overdue matching the filters on 2026-06-30.\n"


def test_due_rejects_an_unknown_authority_and_a_bad_limit(cases_db, capsys):
    code, out, err = run(["due", "--db", str(cases_db), "--authority", "kentt"], capsys)
    assert code == 2 and out == "" and "unknown authority 'kentt'" in err and err.count("\n") == 1
    code, _, err = run(["due", "--db", str(cases_db), "--limit", "0"], capsys)
    assert code == 2 and "--limit" in err
    code, _, err = run(["due", "--db", str(cases_db), "--status", "met"], capsys)
    assert code == 2 and "--status" in err


def test_due_defaults_to_today(cases_db, monkeypatch, capsys):
    class Today(date):
        @classmethod
        def today(cls):
            return cls(2026, 6, 30)

    monkeypatch.setattr(cinflow.cli, "date", Today)
    assert _due(capsys, cases_db) == _due(capsys, cases_db, "--as-of", "2026-06-30")
    code, out, _ = run(["due", "--help"], capsys)
    assert "default: today" in " ".join(out.split())


# -- a broken plugin is one line, exit 1 --------------------------------------------------------

def _broken(hook_name, body, module_name="broken_town"):
    module = ModuleType(module_name)
    module.POLICY = PolicyInfo(module_name.replace("_", "-"), "Broken Town", "a plugin whose hook raises")
    setattr(module, hook_name, hookimpl(body))
    registry = Registry.load()
    registry.add_module(module)
    return registry, module.POLICY.id


def test_a_hook_that_raises_names_the_plugin_and_the_hook():
    def transition_guards(policy):
        return {}["guards"]

    registry, pid = _broken("transition_guards", transition_guards)
    with pytest.raises(PluginError) as caught:
        registry[pid]
    assert str(caught.value) == ("policy broken-town: plugin module broken_town's hook transition_guards failed: "
                                 "KeyError: 'guards'")


def test_a_hook_answering_with_no_list_is_named():
    def deadline_rules():
        return 42

    registry, pid = _broken("deadline_rules", deadline_rules, "odd_town")
    with pytest.raises(PluginError, match="plugin module odd_town's hook deadline_rules returned 42, not a list"):
        registry[pid]


def test_the_cli_prints_a_broken_plugin_as_one_line_and_exits_1(monkeypatch, tmp_path, capsys):
    def chair_rules(policy):
        raise RuntimeError("the rule book\nwas not found")

    registry, pid = _broken("chair_rules", chair_rules)
    monkeypatch.setattr(cinflow.cli, "_registry", lambda: registry)
    scenario = tmp_path / "s.yaml"
    scenario.write_text(f"authority: {pid}\nchild: {{birth_date: 2014-06-12}}\n"
                        "events: [{date: 2026-01-05, event: referral_received}]\n")
    for argv in (["run", str(scenario)], ["policies", "show", pid], ["diagram", pid]):
        code, out, err = run(argv, capsys)
        assert code == 1 and out == "" and "Traceback" not in err, argv
        assert err == ("cinflow: error: policy broken-town: plugin module broken_town's hook chair_rules failed: "
                       "RuntimeError: the rule book was not found\n")
    # bad input is still exit 2
    code, _, err = run(["policies", "show", "nowhere"], capsys)
    assert code == 2 and "unknown authority" in err


def test_a_guard_that_raises_on_an_event_is_one_line(monkeypatch, tmp_path, capsys):
    from cinflow.rules import Guard, RuleBook

    module = ModuleType("flaky_town")
    book = RuleBook.from_yaml("policy: {id: flaky-town, title: Flaky Town, description: a guard that raises, "
                              "document: flaky.txt}\nrules:\n  sums: {text: Sums add up., section: §1}\n", "flaky")
    module.POLICY = book.info

    def _divide(ctx):
        return 1 / 0

    @hookimpl
    def transition_guards():
        return [Guard(book.sums, {"referral_received"}, _divide)]

    module.transition_guards = transition_guards
    registry = Registry.load()
    registry.add_module(module)
    monkeypatch.setattr(cinflow.cli, "_registry", lambda: registry)
    scenario = tmp_path / "s.yaml"
    scenario.write_text("authority: flaky-town\nchild: {birth_date: 2014-06-12}\n"
                        "events: [{date: 2026-01-05, event: referral_received}]\n")
    code, out, err = run(["run", str(scenario)], capsys)
    assert code == 1 and out == "" and err == (
        f"cinflow: error: policy flaky-town: rule flaky-town.sums's check (plugin module {__name__}) failed on "
        "referral_received of 2026-01-05: ZeroDivisionError: division by zero\n")


# -- citations a practitioner can read ----------------------------------------------------------

KENT_DOC = ("Kent County Council, Child in Need Plans and Meetings Policy; Guidance for Child in Need Plans and "
            "Child in Need Meetings (February 2023)")


def test_refusals_cite_the_documents_title_date_and_section(capsys):
    code, out, _ = run(["run", str(EXAMPLES / "kent-cin-plan.yaml")], capsys)
    flat = " ".join(out.replace("│", " ").split())
    assert code == 0 and "REFUSED" in flat
    assert f"source: {KENT_DOC}, Policy §5" in flat
    assert "000_1fb2c8a7d3e76d05.txt" not in out
    # the JSON keeps the file name
    _, out, _ = run(["run", str(EXAMPLES / "kent-cin-plan.yaml"), "--format", "json"], capsys)
    refused = next(h for h in json.loads(out)["history"] if not h["accepted"])
    assert refused["reasons"][0]["source"].startswith("000_1fb2c8a7d3e76d05.txt Policy §5")


def test_policy_cite_reads_every_layers_documents():
    wirral = REGISTRY["wirral"]
    # the national baseline cites Kent's procedure where it restates a duty: named in its POLICY.cites
    assert wirral.cite("000_1fb2c8a7d3e76d05.txt Policy §3 Consent") == f"{KENT_DOC}, Policy §3 Consent"
    assert wirral.cite("004_d34424156da75e59.txt 2.3 Child in Need Meetings") == (
        "Wirral Council, Children in Need Procedure (undated), 2.3 Child in Need Meetings")
    assert wirral.cite("Working Together to Safeguard Children 2023 Chapter 4") == (
        "Working Together to Safeguard Children 2023 (15 December 2023), Chapter 4")
    # a shared guidance is its author's, whichever council uses it
    assert REGISTRY["reading"].cite("002_9701fea80e3d08df.txt 3. Timescales").startswith(
        "Berkshire West (shared guidance), Child in Need Meeting and Plan: guidance for practitioners")
    # a document the policy does not describe is left as it is
    assert wirral.cite("cinflow lifecycle (cinflow/states)") == "cinflow lifecycle (cinflow/states)"


def test_catalogue_cites_for_practitioners_and_keeps_the_file_name_in_json(capsys):
    code, out, _ = run(["policies", "show", "kent"], capsys)
    assert code == 0
    block = out.split("kent.review_chair\n", 1)[1].split("\n\n", 1)[0]
    assert f"cites: {KENT_DOC}, Policy §5" in block
    _, out, _ = run(["policies", "show", "kent", "--format", "json"], capsys)
    rule = next(r for r in json.loads(out)["rules"] if r["id"] == "kent.review_chair")
    assert rule["citation"]["document"] == "000_1fb2c8a7d3e76d05.txt"
    assert rule["citation"]["section"].startswith("Policy §5")
    assert (rule["citation"]["author"], rule["citation"]["date"]) == ("Kent County Council", "2023-02-01")
    assert rule["citation"]["title"].startswith("Child in Need Plans and Meetings Policy")
    assert rule["citation"]["text"] == f"{KENT_DOC}, {rule['citation']['section']}"


# -- a diagram that can be read -----------------------------------------------------------------

ENDINGS = ("became_looked_after", "child_died", "moved_abroad", "case_closed", "eighteenth_birthday")


def test_diagram_draws_the_endings_once_with_short_labels_and_a_title(capsys):
    code, out, _ = run(["diagram", "wirral"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[:5] == ["---", 'title: "wirral: Wirral Council"', "---", "stateDiagram-v2", "  direction LR"]
    edges = [line.strip() for line in lines if "-->" in line]
    for ending in ENDINGS:
        assert sum(ending in e for e in edges) == 1, ending
    assert "open --> closed: child_died, moved_abroad, case_closed, eighteenth_birthday" in edges
    assert "open --> looked_after: became_looked_after" in edges
    assert not any("strategy_discussion" in e for e in edges)  # said once, in the group's name
    assert "strategy_discussion from any of them leads to s47_enquiry" in out
    # one short label per edge: the event and what selects it; the rules follow as a comment
    i = lines.index("  cin_plan --> closed: cin_meeting (kind=review, outcome=close)")
    assert lines[i + 1] == "  %% rules checked: wirral.chair"
    assert not any("." in e.partition(":")[2] for e in edges)  # no rule id on an edge
    assert "  initial_cin --> cin_plan: cin_meeting (kind=initial, outcome=continue|reassess|escalate)" in lines


@pytest.mark.oracle
def test_diagram_svg_is_drawn_offline_with_the_states_and_the_title(tmp_path, capsys):
    if shutil.which("dot") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have Graphviz (.ci/run installs it)")
        pytest.skip("Graphviz is not installed (CI installs it)")
    out = tmp_path / "wirral.svg"
    code, said, _ = run(["diagram", "wirral", "--svg", str(out)], capsys)
    assert code == 0 and said.startswith(f"Wrote {out}: the lifecycle of wirral (Wirral Council)")
    drawing = out.read_text()
    assert "<!DOCTYPE" not in drawing and "https://" not in drawing
    code, said, _ = run(["diagram", "wirral", "--svg", str(tmp_path / "again.svg"), "--format", "json"], capsys)
    assert code == 0 and json.loads(said)["wrote"] == str(tmp_path / "again.svg")
    dom = subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", out.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    assert "<svg" in dom
    texts = set(re.findall(r"<text[^>]*>([^<]*)</text>", dom))
    assert "wirral: Wirral Council" in texts
    from cinflow import states

    assert set(states.STATES) <= texts
    assert "Rules checked on each edge" in texts and "wirral.chair" in " ".join(texts)


def test_diagram_svg_without_graphviz_is_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr("shutil.which", lambda name: None)
    code, out, err = run(["diagram", "wirral", "--svg", str(tmp_path / "w.svg")], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1 and "apt-get install graphviz" in err
    assert not (tmp_path / "w.svg").exists()
