"""Every hookspec has a test here (test_hook_<name>), and plugin loading
fails loudly."""

from datetime import date
from importlib.metadata import EntryPoint
from pathlib import Path
from types import ModuleType

import pytest

import cinflow
from cinflow import hookimpl, hookspecs
from cinflow.errors import PluginError
from cinflow.plugins import Registry, find_entry_points, plugin_manager

from helpers import Runner, plan_in_force

D = date.fromisoformat
HOOKS = sorted(name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), "cinflow_spec"))


@pytest.fixture
def town():
    from policy_fixtures import strict_town

    reg = Registry.load()
    reg.add_module(strict_town)
    return reg["strict-town"]


def test_every_hook_has_a_test():
    names = set(globals())
    assert HOOKS and [h for h in HOOKS if f"test_hook_{h}" not in names] == []


def test_every_hook_is_documented_with_its_signature():
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    pm = plugin_manager([])
    for name in HOOKS:
        args = ", ".join(getattr(pm.hook, name).spec.argnames)
        assert f"{name}({args})" in readme, name


def test_hook_transition_guards(town):
    r = plan_in_force(Runner(town))
    saturday = r("visit", "2026-03-07")
    assert not saturday.accepted and saturday.reasons[0].rule == "strict-town.no_weekend_visits"
    assert saturday.reasons[0].source == "test-procedure.txt §1"
    assert r("visit", "2026-03-09").accepted


def test_hook_chair_rules(town):
    r = plan_in_force(Runner(town))
    item = r("cin_meeting", "2026-03-10", kind="review", chair="team_manager", outcome="continue")
    assert [x.rule for x in item.reasons] == ["strict-town.lead_professional_chairs"]
    assert r("cin_meeting", "2026-03-10", kind="review", chair="lead_professional", outcome="continue").accepted


def test_hook_consent_refusal_routes(town):
    r = Runner(town)
    r("referral_received", "2026-01-05")
    assert r("consent_refused", "2026-01-06", significant_harm_likely=False).accepted
    assert r.case.state == "s47_enquiry"  # the authority's route wins over the national "close"


def test_hook_deadline_rules(town):
    # Tightening: 20 WD beats the national 45; the version in force on the referral date is used.
    r = Runner(town)
    r("referral_received", "2026-01-05")
    d = r.open("assessment")
    assert (d.due, d.rule) == (D("2026-02-02"), "strict-town.faster_assessment")
    r2 = Runner(town)
    r2("referral_received", "2027-01-04")
    assert r2.open("assessment").due == D("2027-01-25")  # 15 WD from 2027


def test_misspelt_hook_fails_at_start_up():
    bad = ModuleType("bad_policy")

    @hookimpl
    def transition_guard():  # missing "s"
        return []

    bad.transition_guard = transition_guard
    with pytest.raises(PluginError, match="transition_guard"):
        plugin_manager([bad])


def test_hook_with_unknown_argument_is_rejected():
    bad = ModuleType("bad_args")

    @hookimpl
    def chair_rules(policy, council):
        return []

    bad.chair_rules = chair_rules
    with pytest.raises(PluginError, match="council"):
        plugin_manager([bad])


def test_hook_returning_the_wrong_thing_is_reported():
    from policy_fixtures import strict_town

    odd = ModuleType("odd")
    odd.POLICY = strict_town.POLICY.__class__("odd", "Odd", "returns junk")

    @hookimpl
    def chair_rules():
        return ["team_manager"]

    odd.chair_rules = chair_rules
    reg = Registry.load()
    reg.add_module(odd)
    with pytest.raises(PluginError, match="ChairRule"):
        reg["odd"]


class _Dist:
    def __init__(self, name):
        self.name, self.version = name, "1.0"


def _ep(name, value, dist):
    ep = EntryPoint(name, value, "cinflow")
    return ep._for(_Dist(dist)) if hasattr(ep, "_for") else ep


def test_two_plugins_claiming_one_authority_is_an_error(monkeypatch):
    eps = [_ep("kent", "cinflow_policies.kent", "cinflow"), _ep("kent", "kent_rival", "cinflow-kent-rival")]
    monkeypatch.setattr("cinflow.plugins.entry_points", lambda group: eps)
    with pytest.raises(PluginError, match="'kent' is claimed by more than one plugin"):
        find_entry_points()


def test_load_plugins_env_var_filters(monkeypatch):
    monkeypatch.setenv("CINFLOW_LOAD_PLUGINS", "")
    assert Registry.load().ids() == ["england"]
    monkeypatch.setenv("CINFLOW_LOAD_PLUGINS", "kent")
    assert Registry.load().ids() == ["england", "kent"]


def test_entry_point_must_match_declared_id(monkeypatch):
    eps = [_ep("england", "cinflow.national", "cinflow"), _ep("kent-two", "cinflow_policies.kent", "x")]
    monkeypatch.setattr("cinflow.plugins.entry_points", lambda group: eps)
    reg = Registry.load()
    with pytest.raises(PluginError, match="declares id 'kent'"):
        reg["kent-two"]


def test_unknown_policy_names_the_known_ones():
    with pytest.raises(cinflow.UnknownPolicyError, match="known: cheshire-west-and-chester, england, example-shire, kent, london-borough"):
        Registry.load()["kentt"]


def test_one_machine_per_policy_no_models_attached(registry):
    kent = registry["kent"]
    assert registry["kent"] is kent
    assert kent.machine.models == [] and not kent.machine.auto_transitions
    r = plan_in_force(Runner(kent))
    assert kent.machine.models == [] and r.case.state == "cin_plan"
