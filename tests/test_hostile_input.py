"""Hostile input (issue 11): whatever a scenario, policy or calibration file
holds, cinflow answers with exit 2 and one short line on stderr, quickly;
never a traceback, never a runaway.  Worked examples for each kind of attack,
then hypothesis throwing mixtures of them at ``cinflow run``."""

import os
import resource
import subprocess
import sys
import time
from datetime import date, datetime
from importlib import resources
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cinflow.calendar import FIRST_DATE, LAST_DATE
from cinflow.cli import main
from cinflow.convert import MAX_BYTES, MAX_DEPTH, MAX_VALUES, load_yaml, structure_event
from cinflow.errors import InputError
from cinflow.rules import RuleBook
from cinflow.scenario import MAX_EVENTS, parse_scenario
from cinflow.simulation.calibration import load_calibration

CHILD = "{birth_date: 2014-06-12}"
EVENTS = (
    "{date: 2026-01-05, event: referral_received}",
    "{date: 2026-01-05, event: consent_given, young_person_consent: true}",
    "{date: 2026-02-13, event: assessment_completed, outcome: cin_plan}",
    "{date: 2026-02-25, event: cin_meeting, kind: initial, chair: team_manager, outcome: continue, next_review: 2026-05-20}",
)
ERROR = "cinflow: error: "


def scenario(authority="kent", case="H-1", child=CHILD, events=EVENTS, extra=()) -> str:
    lines = [f"authority: {authority}", f"case: {case}", f"child: {child}", "events:"]
    lines += [f"  - {e}" for e in events] + list(extra)
    return "\n".join(lines) + "\n"


def bomb(levels: int = 9) -> str:
    """A "billion laughs": ``levels`` lists of nine aliases each, 9**levels strings expanded."""
    parts = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    parts += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "{" + ", ".join(parts) + "}"


def run_text(tmp_path, capsys, text, *args, name="hostile.yaml"):
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    code = main(["run", str(path), *args])
    out, err = capsys.readouterr()
    return code, out, err


def refused(tmp_path, capsys, text, *args) -> str:
    """Run ``text``; assert exit 2 with one short line and no output; return the line."""
    code, out, err = run_text(tmp_path, capsys, text, *args)
    assert code == 2 and out == "", (code, out[:200], err[:200])
    assert one_short_line(err), err[:500]
    return err


def one_short_line(err: str) -> bool:
    return err.startswith(ERROR) and err.endswith("\n") and err.count("\n") == 1 and len(err) < 1000 \
        and "Traceback" not in err


# -- aliases ---------------------------------------------------------------------


def test_an_alias_bomb_under_case_is_refused_fast_in_bounded_memory(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(scenario(case=bomb(9)))

    def one_gigabyte():
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "cinflow", "run", str(path)], capture_output=True, text=True,
                          timeout=20, preexec_fn=one_gigabyte)
    assert time.monotonic() - started < 20
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == f"{ERROR}{path}: line 2: YAML anchors (&l0) are not allowed in scenario files\n"


@pytest.mark.parametrize("text, message", [
    (scenario(case="&c K-1", extra=["as_of: *c"]), "line 2: YAML anchors (&c) are not allowed in scenario files"),
    (scenario(extra=["as_of: *somewhere"]), "line 9: YAML aliases (*somewhere) are not allowed in scenario files"),
    (scenario(extra=["notes: " + bomb(4)]), "line 9: YAML anchors (&l0) are not allowed in scenario files"),
])
def test_scenarios_refuse_aliases_and_anchors(tmp_path, capsys, text, message):
    assert message in refused(tmp_path, capsys, text)


def test_policy_and_calibration_files_bound_aliases_instead():
    assert load_yaml("a: &x [1, 2]\nb: *x\n", "p.yaml") == {"a": [1, 2], "b": [1, 2]}
    started = time.monotonic()
    with pytest.raises(InputError, match=r"^policy.yaml: line 6: more than 200,000 values \(aliases expanded\)$"):
        RuleBook.from_yaml(bomb(9).strip("{}").replace(", l", "\nl"), "policy.yaml")
    assert time.monotonic() - started < 2
    with pytest.raises(InputError, match=r"^p.yaml: line 1: YAML alias \*x is inside the collection it names$"):
        load_yaml("a: &x [1, *x]\n", "p.yaml")
    with pytest.raises(InputError, match=r"^p.yaml: line 2: nested more than 50 levels deep \(aliases expanded\)$"):
        load_yaml("a: &x " + "[" * 30 + "]" * 30 + "\nb: " + "[" * 25 + "*x" + "]" * 25 + "\n", "p.yaml")


def test_a_calibration_alias_bomb_is_one_line(tmp_path):
    path = tmp_path / "cal.yaml"
    path.write_text(resources.files("cinflow.simulation").joinpath("england-2025.yaml").read_text()
                    + "notes: " + bomb(9) + "\n")
    with pytest.raises(InputError, match=r"more than 200,000 values \(aliases expanded\)$"):
        load_calibration(path)


# -- sizes and nesting ---------------------------------------------------------------


def test_nesting_deeper_than_the_limit_is_one_line(tmp_path, capsys):
    assert MAX_DEPTH == 50
    deep = refused(tmp_path, capsys, scenario(case="[" * 60 + "]" * 60))
    assert deep.endswith("hostile.yaml: line 2: nested more than 50 levels deep\n")
    assert "nest" in refused(tmp_path, capsys, scenario(case="[" * 5000 + "]" * 5000))  # libyaml's own limit
    assert "nest" in refused(tmp_path, capsys, scenario(events=["{date: 2026-01-05, event: visit, seen_alone: "
                                                                 + "{a: " * 100 + "1" + "}" * 100 + "}"]))
    within = refused(tmp_path, capsys, scenario(case="[" * 48 + "]" * 48))  # deep enough, but just not a case id
    assert "case: expected a case id, got [[[[...]]]]" in within


def test_file_size_value_count_and_event_count_are_limited(tmp_path, capsys):
    big = scenario() + "#" * MAX_BYTES
    assert refused(tmp_path, capsys, big).endswith(f"hostile.yaml: over {MAX_BYTES:,} bytes, the limit for an input file\n")
    many = scenario(extra=["notes: [" + "0," * MAX_VALUES + "0]"])
    assert refused(tmp_path, capsys, many).endswith("line 9: more than 200,000 values\n")
    lots = scenario(events=["{date: 2026-01-05, event: visit}"] * (MAX_EVENTS + 1))
    assert refused(tmp_path, capsys, lots).endswith("hostile: events: 10,001 events, over the limit of 10,000 for one scenario\n")


def test_error_messages_quote_a_short_prefix_of_a_value(tmp_path, capsys):
    err = refused(tmp_path, capsys, scenario(authority="x" * 100_000))
    assert f"unknown authority '{'x' * 58}… (known: " in err
    err = refused(tmp_path, capsys, scenario(child="[" + "0, " * 50_000 + "0]"))
    assert "child: expected a mapping of birth_date" in err and "got [0, 0, 0, 0, 0, 0, ...]" in err
    err = refused(tmp_path, capsys, scenario(case="{" + ", ".join(f"k{i}: {'v' * 500}" for i in range(200)) + "}"))
    assert "case: expected a case id, got {'k0': 'vvvvvvvv" in err
    assert "line 2: a number of more than 100 characters" in refused(tmp_path, capsys, scenario(case="9" * 5000))
    err = refused(tmp_path, capsys, scenario(events=[f"{{date: 2026-01-05, event: {'e' * 10_000}}}"]))
    assert f"events[0].event: unknown event '{'e' * 58}…" in err


# -- dates ------------------------------------------------------------------------


def test_the_supported_dates():
    assert (FIRST_DATE, LAST_DATE) == (date(1900, 1, 1), date(2199, 12, 31))


@pytest.mark.parametrize("text, message", [
    (scenario(events=["{date: 9999-12-31, event: referral_received}"]),
     "events[0].date: 9999-12-31 is outside the dates cinflow supports (1900-01-01 to 2199-12-31)"),
    (scenario(events=["{date: 2200-01-01, event: referral_received}"]), "events[0].date: 2200-01-01 is outside"),
    (scenario(child="{birth_date: 1899-12-31}"), "child.birth_date: 1899-12-31 is outside the dates"),
    (scenario(child="{birth_date: 0001-01-01}"), "child.birth_date: 0001-01-01 is outside the dates"),
    (scenario(events=[*EVENTS[:3], EVENTS[3].replace("2026-05-20", "9999-12-31")]),
     "events[3].next_review: 9999-12-31 is outside the dates"),
    (scenario(events=[*EVENTS, "{date: 2026-03-01, event: supervision_order_made, ends_on: 9999-12-31}"]),
     "events[4].ends_on: 9999-12-31 is outside the dates"),
    (scenario(extra=["as_of: 9999-12-31"]), "as_of: 9999-12-31 is outside the dates"),
])
def test_dates_outside_the_supported_range_are_one_line(tmp_path, capsys, text, message):
    assert message in refused(tmp_path, capsys, text)


def test_the_last_supported_dates_run(tmp_path, capsys):
    """18th birthday in 2206, reviews and orders ending on the last day: nothing overflows."""
    events = ["{date: 2199-12-01, event: referral_received}",
              "{date: 2199-12-01, event: consent_given, young_person_consent: true}",
              "{date: 2199-12-10, event: assessment_completed, outcome: cin_plan}",
              "{date: 2199-12-20, event: cin_meeting, kind: initial, chair: team_manager, outcome: continue,"
              " next_review: 2199-12-31}",
              "{date: 2199-12-21, event: supervision_order_made, ends_on: 2199-12-31}"]
    code, out, err = run_text(tmp_path, capsys, scenario(child="{birth_date: 2188-02-29}", events=events,
                                                         extra=["as_of: 2199-12-31"]), "--format", "json")
    assert (code, err) == (0, "")
    assert '"next_wakeup": "2206-03-01"' in out


def test_a_scenario_before_the_policys_first_rule_version_warns(tmp_path, capsys):
    early = [e.replace("2026-", "1990-") for e in EVENTS[:3]]
    code, out, err = run_text(tmp_path, capsys, scenario(events=early))
    assert code == 0 and "Case H-1 under kent" in out
    assert err == ("cinflow: warning: events before 2013-04-15 predate kent's first rule version; "
                   "no deadlines were opened for them\n")
    # An agreed date still opens its deadline: the warning says only the timescales are missing.
    code, out, err = run_text(tmp_path, capsys, scenario(events=[e.replace("2026-", "2012-") for e in EVENTS]),
                              "--format", "json")
    assert code == 0 and '"due": "2012-05-20"' in out
    assert err == ("cinflow: warning: events before 2013-04-15 predate kent's first rule version; "
                   "no timescale applied to them (only agreed dates)\n")
    code, out, err = run_text(tmp_path, capsys, scenario())
    assert (code, err) == (0, "")


# -- keys, tags and characters --------------------------------------------------------


@pytest.mark.parametrize("text, message", [
    ("authority: kent\n? [a, b]\n: 1\n", "line 2: a key must be a plain value, not a list"),
    (scenario(child="{birth_date: 2014-06-12, ? {a: 1} : 2}"), "line 3: a key must be a plain value, not a mapping"),
    (scenario(extra=["1: one", "zz: two", "null: three"]), "unknown key 'zz' (known: authority, case, child, events, as_of)"),
    (scenario(child="{birth_date: 2014-06-12, 7: a, 2.5: b}"), "child: unknown attribute 2.5 for child (known: "),
    (scenario(events=["{date: 2026-01-05, event: visit, 3: x, seen: y}"]), "events[0]: unknown attribute 'seen' for visit"),
    (scenario(events=["{date: 2026-01-05, event: [referral_received]}"]), "events[0].event: unknown event ['referral_received']"),
    (scenario(events=["{date: !!timestamp 2026-01-05T10:00:00, event: referral_received}"]),
     "events[0].date: '2026-01-05T10:00:00' is not a real date (YYYY-MM-DD)"),
    (scenario(events=["{date: !!timestamp '2001-12-14 21:59:43.10 -5', event: referral_received}"]),
     "events[0].date: '2001-12-14 21:59:43.10 -5' is not a real date"),
    (scenario(case='"\\udc80"'), "line 2: not valid YAML (found invalid Unicode character escape code)"),
    (scenario(case="!!binary AAAA"), "case: expected a case id, got b'\\x00\\x00\\x00'"),
    (scenario(case="!!int twelve"), "line 2: 'twelve' is not a whole number"),
    (scenario(events=["!!set {a, b}"]), "events[0]: expected a mapping with 'date' and 'event', got set"),
    (b"authority: kent\n\xff\xfe\n", "cannot read (UnicodeDecodeError)"),
])
def test_odd_keys_tags_and_characters_are_one_line(tmp_path, capsys, text, message):
    assert message in refused(tmp_path, capsys, text)


def test_an_explicit_timestamp_of_a_date_is_a_date(tmp_path, capsys):
    text = scenario(events=["{date: !!timestamp 2026-01-05, event: referral_received}"])
    code, _, err = run_text(tmp_path, capsys, text)
    assert (code, err) == (0, "")


def test_lone_surrogates_never_reach_a_terminal_or_the_database(tmp_path, capsys):
    data = {"authority": "kent", "case": "\udc80", "child": {"birth_date": "2014-06-12"},
            "events": [{"date": "2026-01-05", "event": "referral_received"}]}
    with pytest.raises(InputError, match=r"^s: case: expected a case id, got '\\udc80'$"):
        parse_scenario(data, "s")
    with pytest.raises(InputError, match=r"^event.reason: 'no \\udc80' holds a lone surrogate"):
        structure_event({"date": "2026-01-05", "event": "case_closed", "reason": "no \udc80"})
    # A file name that is not UTF-8 (the default case id is the name), run for real:
    # stderr shows what it cannot encode as escapes.
    path = tmp_path / os.fsdecode(b"\xff.yaml")
    path.write_text(scenario().replace("case: H-1\n", ""))
    done = subprocess.run([sys.executable, "-m", "cinflow", "run", str(path)], capture_output=True, timeout=60)
    err = done.stderr.decode()
    assert done.returncode == 2 and one_short_line(err) and "case: expected a case id, got '\\udcff'" in err


def test_a_date_and_time_from_python_is_not_a_date():
    with pytest.raises(InputError, match=r"got a date and time '2026-01-05T10:00:00'$"):
        structure_event({"date": datetime(2026, 1, 5, 10), "event": "referral_received"})


def test_policy_timescales_are_bounded():
    text = ("policy: {id: test, title: T, description: d, document: doc.pdf}\n"
            "rules:\n  r: {text: t, section: '1', timescale: {unit: days, counts_from: referral,"
            " values: {2020-01-01: 20000}}}\n")
    with pytest.raises(InputError, match=r"^p: rules.r.timescale.values: 20000 days is over the limit of 10,000$"):
        RuleBook.from_yaml(text, "p")
    with pytest.raises(InputError, match=r"^p: rules.r.timescale.values: 9999-01-01 is outside the dates"):
        RuleBook.from_yaml(text.replace("2020-01-01: 20000", "9999-01-01: 5"), "p")


# -- fuzzing --------------------------------------------------------------------------

FIELDS = ("authority", "case", "child", "events", "as_of", "notes")
ODD_DATES = ("9999-12-31", "0001-01-01", "2026-02-29", "2024-02-29", "2026-13-01", "2026-00-10", "10000-01-01",
             "+2026-01-05", "2026-1-5", "20260105", "2026-W01-1", "1899-12-31", "1900-01-01", "2199-12-31",
             "2200-01-01", "2026-01-05T00:00:00", "'2026-01-05'", "2026-01-05 ", "~", "[]", "{}")
TIMESTAMPS = ("2026-01-05", "2026-01-05T10:00:00", "2026-01-05 10:00:00.5 +01:00", "2001-12-14t21:59:43.10-05:00",
              "9999-12-31T23:59:59", "0001-01-01", "soon")
KEYS = ("1", "2.5", "null", "true", "zz", "'x'", "~", "0x1F", ".inf", "-0", "2026-01-05", '"\\t"')


def place(text_for, draw, value: str) -> str:
    """A scenario with ``value`` put in one of its places (a top-level field,
    the child, an event attribute)."""
    where = draw(st.sampled_from(("authority", "case", "child", "child_attr", "events", "event_attr", "as_of", "notes")))
    if where in ("authority", "case", "child"):
        return text_for(**{where: value})
    if where == "child_attr":
        return text_for(child=f"{{birth_date: 2014-06-12, disabled: {value}}}")
    if where == "events":
        return text_for(events=[value])
    if where == "event_attr":
        i = draw(st.integers(0, len(EVENTS) - 1))
        events = list(EVENTS)
        events[i] = events[i][:-1] + f", extra: {value}}}"
        return text_for(events=events)
    return text_for(extra=[f"{where}: {value}"])


@st.composite
def hostile_scenarios(draw):
    """(kind, file contents, allowed exit codes)."""
    kind = draw(st.sampled_from(("valid", "alias", "deep", "date", "unhashable", "mixed", "timestamp", "surrogate",
                                 "junk", "bytes")))
    if kind == "valid":
        start = draw(st.dates(date(2000, 1, 1), date(2190, 1, 1)))
        born = draw(st.dates(date(start.year - 17, 1, 1), start))
        shift = [e.replace("2026-", f"{start.year:04d}-") for e in EVENTS]
        authority = draw(st.sampled_from(("kent", "wirral", "london-borough", "cheshire-west-and-chester")))
        return kind, scenario(authority=authority, child=f"{{birth_date: {born.isoformat()}}}", events=shift), {0}
    if kind == "alias":
        value = draw(st.sampled_from((bomb(draw(st.integers(1, 9))), "&a x", "*a", "[&a 1, *a]")))
        return kind, place(scenario, draw, value), {2}
    if kind == "deep":
        n = draw(st.integers(MAX_DEPTH - 3, 1200))
        opener, closer = draw(st.sampled_from((("[", "]"), ("{a: ", "}"), ("[{b: ", "}]"))))
        return kind, place(scenario, draw, opener * n + "1" + closer * n), {2}
    if kind == "date":
        value = draw(st.sampled_from(ODD_DATES) | st.dates().map(date.isoformat))
        field = draw(st.sampled_from(("date", "birth_date", "as_of", "next_review", "ends_on", "next_visit")))
        if field == "birth_date":
            return kind, scenario(child=f"{{birth_date: {value}}}"), {0, 2}
        if field == "as_of":
            return kind, scenario(extra=[f"as_of: {value}"]), {0, 2}
        if field == "next_review":
            return kind, scenario(events=[*EVENTS[:3], EVENTS[3].replace("2026-05-20", value)]), {0, 2}
        if field == "ends_on":
            return kind, scenario(events=[*EVENTS, f"{{date: 2026-03-01, event: supervision_order_made, ends_on: {value}}}"]), {0, 2}
        if field == "next_visit":
            return kind, scenario(events=[*EVENTS, f"{{date: 2026-03-01, event: visit, next_visit: {value}}}"]), {0, 2}
        return kind, scenario(events=[f"{{date: {value}, event: referral_received}}"]), {0, 2}
    if kind == "unhashable":
        key = draw(st.sampled_from(("[a, b]", "{a: 1}", "[]", "[[1], {2: 3}]")))
        form = draw(st.integers(0, 2))
        if form == 0:
            return kind, scenario() + f"? {key}\n: 1\n", {2}
        if form == 1:
            return kind, scenario(child=f"{{? {key} : 1, birth_date: 2014-06-12}}"), {2}
        return kind, scenario(events=[f"{{? {key} : 1, date: 2026-01-05, event: visit}}"]), {2}
    if kind == "mixed":
        keys = draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=5, unique=True))
        pairs = [f"{k}: {i}" for i, k in enumerate(keys)]
        if draw(st.booleans()):
            return kind, scenario(extra=pairs), {2}
        return kind, scenario(child="{birth_date: 2014-06-12, " + ", ".join(pairs) + "}"), {2}
    if kind == "timestamp":
        value = "!!timestamp " + draw(st.sampled_from(TIMESTAMPS))
        return kind, place(scenario, draw, value) if draw(st.booleans()) else \
            scenario(events=[f"{{date: {value}, event: referral_received}}"]), {0, 2}
    if kind == "surrogate":
        code = draw(st.integers(0xD800, 0xDFFF))
        return kind, place(scenario, draw, f'"x\\u{code:04x}"'), {2}
    if kind == "bytes":
        return kind, draw(st.binary(max_size=300)), {2}
    # junk: random text put somewhere, or over a line, or at a random offset
    text = scenario()
    junk = draw(st.text(max_size=40))
    how = draw(st.integers(0, 2))
    if how == 0:
        return kind, place(scenario, draw, junk), {0, 2}
    if how == 1:
        lines = text.splitlines()
        i = draw(st.integers(0, len(lines) - 1))
        lines[i] = junk
        return kind, "\n".join(lines) + "\n", {0, 2}
    at = draw(st.integers(0, len(text)))
    return kind, text[:at] + junk + text[at:], {0, 2}


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(hostile_scenarios())
def test_hostile_scenarios_exit_2_with_one_short_line(tmp_path, capsys, case):
    kind, text, codes = case
    started = time.monotonic()
    code, out, err = run_text(tmp_path, capsys, text)
    assert time.monotonic() - started < 10, kind
    assert code in codes, (kind, code, err[:300])
    assert "Traceback" not in err
    if code == 2:
        assert out == "" and one_short_line(err), (kind, err[:500])
    else:
        assert err == "" or (err.startswith("cinflow: warning: ") and err.count("\n") == 1), (kind, err[:500])
    if kind == "alias":
        assert "are not allowed in scenario files" in err
    if kind == "unhashable":
        assert "a key must be a plain value" in err


def _mutations(draw, text: str) -> str:
    lines = text.splitlines()
    i = draw(st.integers(0, len(lines) - 1))
    how = draw(st.integers(0, 3))
    if how == 0:
        lines[i] = draw(st.text(max_size=40))
    elif how == 1:
        key, _, value = lines[i].partition(":")
        lines[i] = key + ": " + draw(st.sampled_from(("[", "{", "*x", "&x", "~", "-1", "1e999", ".nan", "9" * 200,
                                                      "!!timestamp 2026-01-05T10:00:00", "9999-12-31", "[[[[1]]]]",
                                                      '"\\udc80"', "? [a]", bomb(5))))
    elif how == 2:
        lines.insert(i, draw(st.text(max_size=40)))
    else:
        lines.append("notes: " + bomb(draw(st.integers(1, 9))))
    return "\n".join(lines) + "\n"


KENT_POLICY = (Path(__file__).parent.parent / "policies" / "kent" / "policy.yaml").read_text(encoding="utf-8")
CALIBRATION = resources.files("cinflow.simulation").joinpath("england-2025.yaml").read_text(encoding="utf-8")


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_hostile_policy_files_fail_with_one_input_error_line(data):
    text = _mutations(data.draw, KENT_POLICY)
    started = time.monotonic()
    try:
        RuleBook.from_yaml(text, "kent/policy.yaml")
    except InputError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 500
    assert time.monotonic() - started < 5


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_hostile_calibration_files_fail_with_one_input_error_line(tmp_path, data):
    path = tmp_path / "calibration.yaml"
    path.write_text(_mutations(data.draw, CALIBRATION), encoding="utf-8")
    started = time.monotonic()
    try:
        load_calibration(path)
    except InputError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 500
    assert time.monotonic() - started < 5


def test_a_upn_of_the_wrong_shape_is_bad_input(tmp_path, capsys):
    from cinflow.cli import main

    f = tmp_path / "u.yaml"
    f.write_text("authority: kent\nchild: {birth_date: 2014-06-12, upn: xyz}\n"
                 "events: [{date: 2026-01-05, event: referral_received}]\n")
    code = main(["run", str(f)])
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "upn 'xyz' is not a UPN" in err
