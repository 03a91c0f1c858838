"""The conformance suite: every installed policy passes it, and each check
catches the mistake it is for."""

import re
from types import ModuleType

import pytest

from cinflow import hookimpl
from cinflow.conformance import check_policy
from cinflow.errors import InputError, PluginError
from cinflow.plugins import Registry
from cinflow.rules import DeadlineRule, RuleBook, on

REGISTRY = Registry.load()


@pytest.mark.parametrize("policy_id", REGISTRY.ids())
def test_every_installed_policy_conforms(policy_id):
    assert check_policy(REGISTRY, policy_id) == []


def test_all_seven_seed_authorities_are_installed():
    assert {"kent", "london-borough", "reading", "west-berkshire", "wokingham", "cheshire-west-and-chester",
            "wirral"} <= set(REGISTRY.ids())


def make_policy(yaml_rules: str, policy_id="bad-town", stated=True, **hooks) -> tuple[Registry, str]:
    """A policy from flow-mapping rules; ``stated`` gives each rule a level and
    words unless it has them (the check for that is tested on its own)."""
    if stated:
        yaml_rules = re.sub(r"\{text:", '{level: must, words: "must", text:', yaml_rules)
    module = ModuleType(f"bad_{policy_id.replace('-', '_')}")
    module.RULES = RuleBook.from_yaml(
        f"policy: {{id: {policy_id}, title: Bad, description: a broken policy, document: bad.txt}}\n"
        f"rules:\n{yaml_rules}", module.__name__)
    module.POLICY = module.RULES.info
    for name, fn in hooks.items():
        setattr(module, name, hookimpl(fn))
    reg = Registry.load()
    reg.add_module(module)
    return reg, module.RULES


def problems(yaml_rules, policy_id="bad-town", **hooks):
    reg, _ = make_policy(yaml_rules, policy_id, **hooks)
    return check_policy(reg, policy_id)


def test_a_rule_without_a_citation_fails():
    out = problems('  uncited: {text: "Something.", section: "", not_enforced: "advice"}\n')
    assert out == ["bad-town.uncited: no citation (document and section are both required)"]


def test_a_rule_no_hook_enforces_must_say_why():
    out = problems('  forgotten: {text: "Something.", section: "§1"}\n')
    assert out == ["bad-town.forgotten: no hook enforces it; enforce it or say why not (not_enforced)"]


def test_a_timescale_looser_than_the_national_one_fails():
    reg, rules = make_policy(
        '  slow: {text: Assess in 60 WD., section: "§1", timescale: {unit: working_days, counts_from: referral, '
        'values: {"2020-01-01": 60}}}\n')
    module = reg.module("bad-town")
    module.deadline_rules = hookimpl(lambda: [
        DeadlineRule("assessment", rules.slow, opens_on=[on("referral_received")], fulfilled_by=[on("assessment_completed")])
    ])
    out = check_policy(reg, "bad-town")
    assert len(out) == 1 and "later than the national england.assessment_timescale" in out[0]


def test_a_tighter_timescale_passes():
    reg, rules = make_policy(
        '  quick: {text: Assess in 30 WD., section: "§1", timescale: {unit: working_days, counts_from: referral, '
        'values: {"2020-01-01": 30}}}\n')
    reg.module("bad-town").deadline_rules = hookimpl(lambda: [
        DeadlineRule("assessment", rules.quick, opens_on=[on("referral_received")], fulfilled_by=[on("assessment_completed")])
    ])
    assert check_policy(reg, "bad-town") == []


def test_unknown_chair_roles_and_outcomes_fail_when_the_yaml_loads():
    # Rule params are typed: a role or outcome that does not exist fails with one line at start-up.
    with pytest.raises(InputError, match=r"rules.chair.params.roles\[0\]: 'mayor' is not one of: social_worker"):
        make_policy('  chair: {text: The mayor chairs., section: "§1", params: {roles: [mayor]}}\n')
    with pytest.raises(InputError, match=r"rules.outcomes.params.outcomes\[0\]: 'adjourn' is not one of: continue"):
        make_policy('  outcomes: {text: Odd outcomes., section: "§2", params: {outcomes: [adjourn]}, not_enforced: "t"}\n')
    with pytest.raises(InputError, match=r"rules.chair.params: unknown attribute 'role' for ruleparams \(known: roles,"):
        make_policy('  chair: {text: A typo., section: "§1", params: {role: [team_manager]}}\n')


def test_a_trigger_that_can_never_match_fails():
    reg, rules = make_policy(
        '  minutes: {text: Minutes in 5 WD., section: "§1", timescale: {unit: working_days, counts_from: meeting, '
        'values: {"2020-01-01": 5}}}\n')
    reg.module("bad-town").deadline_rules = hookimpl(lambda: [
        DeadlineRule("minutes", rules.minutes, opens_on=[on("cin_meeting", outcome="contnue")],
                     fulfilled_by=[on("minutes_sent")])
    ])
    # Object checks run when the policy is assembled (Registry.get), not only in `policies check`.
    out = check_policy(reg, "bad-town")
    assert out == ["bad-town.minutes: trigger cin_meeting (outcome=contnue): 'contnue' is not a value of outcome"]
    with pytest.raises(PluginError, match="'contnue' is not a value of outcome"):
        reg["bad-town"]


def test_a_misspelt_hook_fails_at_start_up():
    out = problems('  r: {text: "x", section: "§1", not_enforced: "test"}\n', transition_guard=lambda: [])
    assert len(out) == 1 and "transition_guard" in out[0]


def test_policy_ids_are_kebab_case():
    reg, _ = make_policy('  r: {text: "x", section: "§1", not_enforced: "test"}\n', policy_id="bad-town")
    assert check_policy(reg, "Bad_Town") == ["policy id 'Bad_Town' is not kebab-case"]


def test_no_two_plugins_claim_one_authority_id():
    # A second module claiming an installed id is refused before it could shadow it
    # (two installed distributions doing so: test_hooks.test_two_plugins_claiming_one_authority_is_an_error).
    from cinflow.errors import PluginError

    with pytest.raises(PluginError, match="authority id 'kent' is already registered"):
        make_policy('  r: {text: "x", section: "§1", not_enforced: "test"}\n', policy_id="kent")


def test_a_rule_that_states_no_level_fails():
    reg, _ = make_policy('  r: {text: "x", section: "§1", not_enforced: "test"}\n', stated=False)
    assert check_policy(reg, "bad-town") == [
        "bad-town.r: states no level: give level (must, should or advice) and the words of the source it rests on (words)"]


def test_only_a_must_is_raised_and_only_a_should_takes_exception_roles():
    with pytest.raises(InputError, match="rules.r.raised: only a rule at level must can be raised"):
        make_policy('  r: {level: should, words: "should", raised: "why", text: "x", section: "§1", not_enforced: "t"}\n',
                    stated=False)
    with pytest.raises(InputError, match="rules.r.exception_roles: only a should rule takes exceptions"):
        make_policy('  r: {level: must, words: "must", exception_roles: [team_manager], text: "x", section: "§1", '
                    'not_enforced: "t"}\n', stated=False)
    with pytest.raises(InputError, match=r"rules\['r'\].level: 'may' is not one of: must, should, advice"):
        make_policy('  r: {level: may, words: "may", text: "x", section: "§1", not_enforced: "t"}\n', stated=False)
