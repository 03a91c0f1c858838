"""`cinflow policies show`, `policies check` and `diagram`: generated from the
plugins themselves."""

import json
from itertools import chain

import pytest

from cinflow.plugins import Registry

from helpers import run

REGISTRY = Registry.load()


@pytest.mark.parametrize("policy_id", REGISTRY.ids())
def test_catalogue_lists_exactly_the_rules_the_plugin_holds(policy_id, capsys):
    code, out, _ = run(["policies", "show", policy_id, "--format", "json"], capsys)
    assert code == 0
    doc = json.loads(out)
    policy = REGISTRY[policy_id]
    in_books = {r.id for r in chain.from_iterable(policy.rulebooks)}
    in_hooks = {o.rule.id for o in chain(policy.guards, policy.chair_rules, policy.consent_routes, policy.deadline_rules)}
    listed = [r["id"] for r in doc["rules"]]
    assert len(listed) == len(set(listed)) and set(listed) == in_books | in_hooks
    for rule in doc["rules"]:
        assert rule["citation"]["document"] and rule["citation"]["section"]
        assert bool(rule["enforced_as"]) != bool(rule["not_enforced"]), rule["id"]


def test_every_seed_authority_and_the_example_plugin_are_listed(capsys):
    code, out, _ = run(["policies"], capsys)
    ids = [line.split()[0] for line in out.splitlines()]
    assert code == 0 and ids == sorted(ids)
    assert {"england", "kent", "london-borough", "reading", "west-berkshire", "wokingham",
            "cheshire-west-and-chester", "wirral", "example-shire"} == set(ids)
    assert "berkshire-west" not in ids  # a base layer, not an authority


def test_catalogue_text_shows_parameters_and_citations(capsys):
    code, out, _ = run(["policies", "show", "london-borough"], capsys)
    assert code == 0
    assert "london-borough.initial_meeting" in out
    assert "15 working days after the decision that a CIN meeting is required" in out
    assert ("cites: A London borough (Azeus Care), Child in Need plans, meetings and children moving to another "
            "local authority (undated), Timescales and Frequency of CIN Meetings") in out
    assert "3 weeks before the date set for the next CIN meeting" in out
    assert "roles: a Practice Lead" in out


def test_wirral_says_it_sets_no_review_frequency(capsys):
    _, out, _ = run(["policies", "show", "wirral", "--format", "json"], capsys)
    rule = next(r for r in json.loads(out)["rules"] if r["id"] == "wirral.review_frequency")
    assert rule["parameters"][0].startswith("no fixed timescale: the date agreed at the meeting")
    assert "an earlier next_review agreed on the event is used instead" in rule["enforced_as"][0]


def test_unknown_policy_is_one_line(capsys):
    code, out, err = run(["policies", "show", "kentt"], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1 and "unknown authority 'kentt'" in err


def test_policies_check_passes_for_every_installed_policy(capsys):
    code, out, _ = run(["policies", "check"], capsys)
    assert code == 0
    assert all(line.endswith(": ok") for line in out.splitlines())


def test_policies_check_exits_1_on_a_problem(monkeypatch, capsys):
    monkeypatch.setattr("cinflow.conformance.check_policy", lambda registry, pid: ["made-up problem"])
    code, out, _ = run(["policies", "check", "kent"], capsys)
    assert code == 1 and "made-up problem" in out


def test_diagram_is_mermaid_with_the_rules_on_the_edges(capsys):
    code, out, _ = run(["diagram", "kent"], capsys)
    assert code == 0
    assert "stateDiagram-v2" in out
    lines = out.splitlines()
    i = lines.index("  cin_plan --> closed: cin_meeting (kind=review, outcome=close)")
    rules = lines[i + 1]  # the rules checked on an edge follow it as a comment
    assert rules.startswith("  %% rules checked: ")
    assert "kent.end_at_meeting" in rules and "kent.cp_step_down_minimum" in rules
    assert "kent.iro_chair" in rules  # chair rules for reviews
    assert "classDef" not in out and "Class " not in out


def test_diagram_draws_only_the_routes_the_policy_has(capsys):
    _, kent, _ = run(["diagram", "kent"], capsys)
    _, london, _ = run(["diagram", "london-borough"], capsys)
    # Kent has no early-help route for refused consent; the London borough does.
    assert "consent_refused (route=stepped_down" not in kent
    assert ("cin_plan --> stepped_down: consent_refused (route=stepped_down)\n"
            "  %% rules checked: london-borough.consent_refused_targeted\n") in london


def test_plugins_table_names_distribution_version_and_hooks(capsys):
    code, out, _ = run(["plugins", "--format", "json"], capsys)
    rows = {p["module"]: p for p in json.loads(out)}
    base = rows["cinflow_policies.berkshire_west"]
    assert base["authority"] is False and "transition_guards" in base["hooks"]
    assert rows["cinflow_policies.reading"]["hooks"] == ["deadline_rules"]
    assert rows["cinflow_policies.reading"]["distribution"].startswith("cinflow 0.")


BUNDLED = [pid for pid in REGISTRY.ids() if REGISTRY.distribution(pid).startswith("cinflow ")]


@pytest.mark.parametrize("policy_id", BUNDLED)
def test_every_enforced_rule_of_a_bundled_policy_has_a_named_test(policy_id):
    """The worked-test promise, kept: each enforced rule id appears in a test that asserts it."""
    from pathlib import Path

    text = "\n".join(p.read_text() for p in Path(__file__).parent.glob("test_*.py"))
    policy = REGISTRY[policy_id]
    untested = [r.id for r in chain.from_iterable(policy.rulebooks)
                if not r.not_enforced and r.id not in text and f'"{r.id.split(".", 1)[1]}"' not in text]
    assert untested == []


def test_policies_show_gives_each_rules_level_words_and_who_may_except(capsys):
    code, out, _ = run(["policies", "show", "kent"], capsys)
    assert code == 0
    block = out.split("kent.review_chair\n", 1)[1].split("\n\n", 1)[0]
    assert 'level: should ("should be chaired by")' in block
    assert ("exception authorised by: a Team Manager, a Practice Lead, a Senior Practice Lead, a Service Manager or "
            "an Assistant Director") in block
    assert "chair rule (comply or explain): review meetings are to be chaired by" in block
    iro = out.split("kent.iro_chair\n", 1)[1].split("\n\n", 1)[0]
    assert "level: must" in iro and "raised to must:" in iro and "exception authorised by" not in iro
    code, out, _ = run(["policies", "show", "kent", "--format", "json"], capsys)
    rules = {r["id"]: r for r in json.loads(out)["rules"]}
    assert (rules["kent.visit_interval"]["level"], rules["kent.visit_interval"]["exception_roles"]) == ("should", None)
    assert all(r["level"] in ("must", "should", "advice") and r["words"] for r in rules.values())
    assert rules["kent.review_chair"]["exception_roles"][:2] == ["team_manager", "practice_lead"]
