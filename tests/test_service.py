"""The HTTP service (issue 13): the JSON API, access control, the commands
that serve it and make its tokens, and what its log holds.

A TestClient drives the app over a SQLite store in tmp_path; one test runs
the real thing (``cinflow serve`` under uvicorn) and talks to it with httpx.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import date

import httpx

import pytest

from cinflow.cli import main
from cinflow.convert import structure, structure_event
from cinflow.errors import InputError
from cinflow.models import Child
from cinflow.service import models as M
from cinflow.service.app import create_app
from cinflow.store import Store

from service_helpers import (KENT_DUE_2026_06_30, TestClient, bearer, kent_example, kent_worklist, make_tokens,
                             open_case, scenario, served)


@pytest.fixture
def svc(tmp_path, registry):
    """An app over a fresh database with four tokens: kent read-write
    (alice) and read-only (reader), reading read-write (rita), and one
    revoked (gone)."""
    db = tmp_path / "cases.db"
    secrets = make_tokens(db, registry, {"alice": ("kent", False), "reader": ("kent", True),
                                         "rita": ("reading", False), "gone": ("kent", False)})
    with Store(db, registry) as store:
        store.revoke_token("gone")
    # The service's clock stands at 1 Jan 2040, so these tests may let time
    # pass to the 18th birthdays of 2032 (a real server refuses the future).
    app = create_app(db, registry, today=lambda: date(2040, 1, 1))

    class S:
        pass

    s = S()
    s.db, s.app, s.store, s.registry = db, app, app.state.store, registry
    s.client = TestClient(app)
    s.alice, s.reader, s.rita, s.gone = (bearer(secrets[n]) for n in ("alice", "reader", "rita", "gone"))
    yield s
    app.state.store.close()


def cli_json(capsys, *argv):
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def one_line_error(r, status):
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and isinstance(body["error"], str), body
    assert "\n" not in body["error"] and body["error"], body
    return body["error"]


def event_count(s, case_id):
    return s.store.count("events", case_id)


# -- cases -----------------------------------------------------------------------------

def test_create_case_is_201_with_the_case_contract(svc):
    r = svc.client.post("/api/cases", json={"authority": "kent", "case": "K-9", "child": {"birth_date": "2014-06-12"}},
                        headers=svc.alice)
    assert r.status_code == 201
    doc = r.json()
    assert doc == {"authority": "kent", "case": "K-9", "state": "new", "version": 0, "as_of": None,
                   "next_wakeup": None, "history": [], "deadlines": []}
    M.CaseContract.model_validate(doc)
    assert svc.store.authority_of("K-9") == "kent"


def test_an_existing_case_id_is_409_and_changes_nothing(svc):
    kent_example(svc.client, svc.alice)
    before = event_count(svc, "K-001")
    r = svc.client.post("/api/cases", json={"authority": "kent", "case": "K-001", "child": {"birth_date": "2015-01-01"}},
                        headers=svc.alice)
    assert "K-001" in one_line_error(r, 409) and "already exists" in r.json()["error"]
    assert event_count(svc, "K-001") == before
    assert svc.store.load("K-001").child.birth_date.isoformat() == "2014-06-12"


def test_a_case_for_another_authority_is_403(svc):
    r = svc.client.post("/api/cases", json={"authority": "reading", "case": "R-1", "child": {"birth_date": "2014-06-12"}},
                        headers=svc.alice)
    assert "kent" in one_line_error(r, 403)
    assert svc.store.authority_of("R-1") is None


@pytest.mark.parametrize("child", [{"birth_date": "2014-13-12"}, {"birth_date": "2014-06-12", "name": "Jo"},
                                   {"disabled": True}, {"birth_date": "2014-06-12", "short_break_nights": "3"},
                                   {"birth_date": "2014-06-12", "upn": "nope"}])
def test_a_bad_child_is_422_with_the_clis_message(svc, tmp_path, capsys, child):
    r = svc.client.post("/api/cases", json={"authority": "kent", "case": "K-bad", "child": child}, headers=svc.alice)
    message = one_line_error(r, 422)
    with pytest.raises(InputError) as cli_error:
        structure(child, Child, "child")
    assert message == str(cli_error.value)
    # ... which is what 'cinflow run' says about the same child in a scenario file.
    path = tmp_path / "bad.yaml"
    path.write_text(json.dumps({"authority": "kent", "child": child, "events": [
        {"date": "2026-01-05", "event": "referral_received"}]}))
    capsys.readouterr()
    assert main(["run", str(path)]) == 2
    assert message in capsys.readouterr().err
    assert svc.store.authority_of("K-bad") is None


@pytest.mark.parametrize("case_id", ["", "a/b", " K-1", "K\n1", "x" * 201])
def test_a_case_id_that_cannot_be_addressed_is_422(svc, case_id):
    r = svc.client.post("/api/cases", json={"authority": "kent", "case": case_id, "child": {"birth_date": "2014-06-12"}},
                        headers=svc.alice)
    assert one_line_error(r, 422).startswith("case: a case id is")


# -- events --------------------------------------------------------------------------------

def test_the_kent_example_through_the_api(svc, capsys):
    """Every event of examples/kent-cin-plan.yaml posted in turn: the review a
    Social Worker chaired is refused (kent.review_chair, with its citation),
    is returned last, and stores nothing."""
    responses = kent_example(svc.client, svc.alice)
    refused = responses[9].json()  # the 9th event: the review chaired by a social worker
    assert refused["version"] == responses[8].json()["version"] == 8
    last = refused["history"][-1]
    assert (last["event"], last["date"], last["accepted"]) == ("cin_meeting", "2026-05-13", False)
    assert last["reasons"][0]["rule"] == "kent.review_chair"
    assert last["reasons"][0]["source"].startswith("000_1fb2c8a7d3e76d05.txt")
    assert last["recorded_by"] is None  # it was not stored
    assert len(refused["history"]) == 9
    final = responses[-1].json()
    assert (final["state"], final["version"]) == ("cin_plan", 9)
    assert all(h["accepted"] and h["recorded_by"] == "alice" for h in final["history"])
    # The same case as 'cinflow run' makes it, less the refusal it kept (the API stores nothing refused).
    run = cli_json(capsys, "run", "kent-cin-plan", "--format", "json")
    strip = lambda items: [{k: v for k, v in h.items() if k != "recorded_by"} for h in items]  # noqa: E731
    assert strip(final["history"]) == strip([h for h in run["history"] if h["accepted"]])
    shown = svc.client.get("/api/cases/K-001", params={"as_of": "2026-06-30"}, headers=svc.alice).json()
    assert shown["deadlines"] == run["deadlines"] and shown["as_of"] == "2026-06-30"
    assert shown["next_wakeup"] == run["next_wakeup"] == "2032-06-12"


def test_a_refused_event_stores_nothing(svc):
    kent_example(svc.client, svc.alice)
    version, rows = svc.store.version("K-001"), event_count(svc, "K-001")
    with Store(svc.db, svc.registry) as other:
        deadlines = other.count("deadlines", "K-001")
    r = svc.client.post("/api/cases/K-001/events", headers=svc.alice, json={
        "expected_version": version,
        "event": {"date": "2026-06-01", "event": "cin_meeting", "kind": "review", "chair": "social_worker",
                  "outcome": "continue"}})
    assert r.status_code == 200
    doc = r.json()
    assert doc["history"][-1]["accepted"] is False and doc["history"][-1]["reasons"][0]["rule"] == "kent.review_chair"
    assert doc["version"] == version
    assert (svc.store.version("K-001"), event_count(svc, "K-001")) == (version, rows)
    assert svc.store.count("deadlines", "K-001") == deadlines
    assert svc.client.get("/api/cases/K-001/version", headers=svc.alice).json() == {"version": version}


def test_a_stale_version_is_409_and_stores_nothing(svc):
    open_case(svc.client, svc.alice, "K-5", "kent", {"birth_date": "2014-06-12"},
              [{"date": "2026-01-05", "event": "referral_received"}])
    r = svc.client.post("/api/cases/K-5/events", headers=svc.alice, json={
        "expected_version": 0, "event": {"date": "2026-01-06", "event": "consent_given"}})
    assert "version 1, not 0" in one_line_error(r, 409)
    assert (svc.store.version("K-5"), event_count(svc, "K-5")) == (1, 1)


@pytest.mark.parametrize("event", [
    {"date": "2026-02-30", "event": "referral_received"},
    {"date": "2026-01-06", "event": "no_such_event"},
    {"event": "consent_given"},
    {"date": "2026-01-06"},
    {"date": "2026-01-06", "event": "cin_meeting", "kind": "weekly", "chair": "team_manager", "outcome": "continue"},
    {"date": "2026-01-06", "event": "consent_given", "colour": "blue"},
    {"date": "2026-01-06", "event": "visit", "seen_alone": "yes"},
])
def test_a_malformed_event_is_422_with_the_clis_message(svc, event):
    open_case(svc.client, svc.alice, "K-6", "kent", {"birth_date": "2014-06-12"},
              [{"date": "2026-01-05", "event": "referral_received"}])
    r = svc.client.post("/api/cases/K-6/events", headers=svc.alice, json={"expected_version": 1, "event": event})
    with pytest.raises(InputError) as cli_error:
        structure_event(event, "event")  # the parser 'cinflow run' and the store use
    assert one_line_error(r, 422) == str(cli_error.value)
    assert (svc.store.version("K-6"), event_count(svc, "K-6")) == (1, 1)


def test_an_event_before_the_last_is_422(svc):
    open_case(svc.client, svc.alice, "K-7", "kent", {"birth_date": "2014-06-12"},
              [{"date": "2026-01-05", "event": "referral_received"}])
    r = svc.client.post("/api/cases/K-7/events", headers=svc.alice, json={
        "expected_version": 1, "event": {"date": "2026-01-02", "event": "consent_given"}})
    assert "2026-01-02" in one_line_error(r, 422)
    assert svc.store.version("K-7") == 1


@pytest.mark.parametrize("body, field", [
    (b'{"expected_version": 0, "event": ', "not valid JSON"),
    (b'{"expected_version": "0", "event": {}}', "expected_version: expected a whole number"),
    (b'{"expected_version": 0.0, "event": {}}', "expected_version: expected a whole number"),
    (b'{"expected_version": -1, "event": {}}', "expected_version: must be at least 0"),
    (b'{"expected_version": 0, "event": []}', "event: expected a JSON object"),
    (b'{"event": {}}', "expected_version: required field missing"),
    (b'{"expected_version": 0, "event": {}, "extra": 1}', "the body: unknown key 'extra'"),
    (b'[1, 2]', "the body"),
    (b'', "the body is missing"),
])
def test_malformed_json_and_wrong_types_are_one_line_422s(svc, body, field):
    open_case(svc.client, svc.alice, "K-8", "kent", {"birth_date": "2014-06-12"})
    r = svc.client.post("/api/cases/K-8/events", content=body,
                        headers={**svc.alice, "content-type": "application/json"})
    message = one_line_error(r, 422)
    assert field in message, message
    assert "detail" not in r.text


def test_a_body_that_is_not_json_is_422(svc):
    r = svc.client.post("/api/tick", content=b"as_of=2026-01-01",
                        headers={**svc.alice, "content-type": "application/x-www-form-urlencoded"})
    assert "JSON" in one_line_error(r, 422)


def test_a_huge_body_is_refused(svc):
    r = svc.client.post("/api/tick", content=b'{"as_of": "' + b"x" * 2_000_000 + b'"}',
                        headers={**svc.alice, "content-type": "application/json"})
    assert one_line_error(r, 413) == "the request body is too large"


# -- reading ---------------------------------------------------------------------------------------

def test_get_case_as_of_and_version(svc):
    kent_example(svc.client, svc.alice)
    plain = svc.client.get("/api/cases/K-001", headers=svc.alice)
    assert plain.status_code == 200 and plain.json()["as_of"] is None and plain.json()["version"] == 9
    assert svc.client.get("/api/cases/K-001/version", headers=svc.alice).json() == {"version": 9}
    assert "as_of: 2026-05-01 is before case K-001's last event (2026-05-14)" == one_line_error(
        svc.client.get("/api/cases/K-001?as_of=2026-05-01", headers=svc.alice), 422)
    assert one_line_error(svc.client.get("/api/cases/K-001?as_of=2026-06-31", headers=svc.alice), 422) == \
        "as_of: '2026-06-31' is not a real date (YYYY-MM-DD)"
    # Time let pass (not stored): the 18th birthday closes the case.
    later = svc.client.get("/api/cases/K-001?as_of=2032-06-12", headers=svc.alice).json()
    assert later["state"] == "closed" and later["history"][-1]["automatic"] is True
    assert svc.store.version("K-001") == 9


@pytest.mark.parametrize("method, path", [("get", "/api/cases/NOPE"), ("get", "/api/cases/NOPE/version"),
                                          ("post", "/api/cases/NOPE/events")])
def test_an_unknown_case_is_404(svc, method, path):
    kw = {"json": {"expected_version": 0, "event": {"date": "2026-01-05", "event": "referral_received"}}} \
        if method == "post" else {}
    r = getattr(svc.client, method)(path, headers=svc.alice, **kw)
    assert one_line_error(r, 404) == "no case 'NOPE'"
    assert svc.store.authority_of("NOPE") is None


# -- access control ---------------------------------------------------------------------------------

@pytest.mark.parametrize("method, path, body", [
    ("get", "/api/cases/K-001", None), ("get", "/api/cases/K-001/version", None), ("get", "/api/due", None),
    ("get", "/api/policies", None), ("get", "/api/policies/kent", None),
    ("post", "/api/cases", {"authority": "kent", "case": "K-x", "child": {"birth_date": "2014-06-12"}}),
    ("post", "/api/cases/K-001/events", {"expected_version": 9, "event": {"date": "2026-06-01", "event": "visit"}}),
    ("post", "/api/tick", {"as_of": "2026-07-01"}),
])
def test_401_without_a_valid_token(svc, method, path, body):
    kent_example(svc.client, svc.alice)
    rows = svc.store.count("events")
    for headers in ({}, {"Authorization": "Bearer cf_not-a-token"}, svc.gone, {"Authorization": "Basic YWxpY2U6eA=="},
                    {"Authorization": "Bearer"}):
        r = getattr(svc.client, method)(path, headers=headers, **({"json": body} if body else {}))
        one_line_error(r, 401)
        assert r.headers["www-authenticate"] == "Bearer"
    assert svc.store.count("events") == rows and svc.store.authority_of("K-x") is None


def test_401_comes_before_anything_about_the_body(svc):
    r = svc.client.post("/api/cases", content=b"{not json", headers={"content-type": "application/json"})
    assert "Authorization" in one_line_error(r, 401)


def test_a_read_only_token_reads_and_cannot_write(svc):
    kent_example(svc.client, svc.alice)
    assert svc.client.get("/api/cases/K-001", headers=svc.reader).status_code == 200
    assert svc.client.get("/api/due?as_of=2026-06-30", headers=svc.reader).status_code == 200
    rows = svc.store.count("events")
    for path, body in (("/api/cases", {"authority": "kent", "case": "K-ro", "child": {"birth_date": "2014-06-12"}}),
                       ("/api/cases/K-001/events", {"expected_version": 9, "event": {"date": "2026-06-01", "event": "visit"}}),
                       ("/api/tick", {"as_of": "2033-01-01"})):
        assert "read-only" in one_line_error(svc.client.post(path, json=body, headers=svc.reader), 403)
    assert svc.store.count("events") == rows and svc.store.authority_of("K-ro") is None
    assert svc.store.load("K-001").state == "cin_plan"


def test_another_authoritys_case_is_403(svc):
    kent_example(svc.client, svc.alice)
    for method, path in (("get", "/api/cases/K-001"), ("get", "/api/cases/K-001/version"),
                         ("post", "/api/cases/K-001/events")):
        kw = {"json": {"expected_version": 9, "event": {"date": "2026-06-01", "event": "visit"}}} if method == "post" else {}
        message = one_line_error(getattr(svc.client, method)(path, headers=svc.rita, **kw), 403)
        assert "K-001" in message and "kent" not in message.split("not one of")[0]
    assert svc.store.version("K-001") == 9
    # ... and Reading's worklist and tick never see or move Kent's cases.
    assert svc.client.get("/api/due?as_of=2026-06-30", headers=svc.rita).json() == []
    assert svc.client.post("/api/tick", json={"as_of": "2033-01-01"}, headers=svc.rita).json()["changed"] == []
    assert svc.store.load("K-001").state == "cin_plan"


def test_every_stored_event_records_its_token(svc, capsys):
    kent_example(svc.client, svc.alice)
    open_case(svc.client, svc.rita, "R-1", "reading", {"birth_date": "2010-02-01"},
              [{"date": "2026-01-05", "event": "referral_received"}])
    doc = cli_json(capsys, "show", "K-001", "--db", str(svc.db), "--format", "json")
    assert [h["recorded_by"] for h in doc["history"]] == ["alice"] * 9
    assert cli_json(capsys, "show", "R-1", "--db", str(svc.db), "--format", "json")["history"][0]["recorded_by"] == "rita"
    # Time passing through the API records the token that let it pass.
    svc.client.post("/api/tick", json={"as_of": "2028-02-01"}, headers=svc.rita)
    doc = cli_json(capsys, "show", "R-1", "--db", str(svc.db), "--format", "json")
    assert (doc["history"][-1]["event"], doc["history"][-1]["recorded_by"]) == ("eighteenth_birthday", "rita")


# -- due, tick, policies --------------------------------------------------------------------------

def test_due_is_the_clis_rows_for_the_tokens_authority(svc, capsys):
    kent_worklist(svc.client, svc.alice)
    open_case(svc.client, svc.rita, "R-1", "reading", {"birth_date": "2013-02-01"},
              [{"date": "2026-03-02", "event": "referral_received"}])
    rows = svc.client.get("/api/due?as_of=2026-06-30", headers=svc.alice).json()
    assert [(r["due"], r["status"], r["case"], r["name"]) for r in rows] == KENT_DUE_2026_06_30
    assert rows == cli_json(capsys, "due", "--db", str(svc.db), "--as-of", "2026-06-30", "--authority", "kent",
                            "--format", "json")
    for r in rows:
        M.DueRow.model_validate(r)
    overdue = svc.client.get("/api/due", params={"as_of": "2026-06-30", "status": "overdue"}, headers=svc.alice).json()
    assert [r["status"] for r in overdue] == ["overdue"] * 5
    both = svc.client.get("/api/due?as_of=2026-06-30&status=open&status=overdue", headers=svc.alice).json()
    assert both == rows
    assert svc.client.get("/api/due?as_of=2026-06-30&limit=2", headers=svc.alice).json() == rows[:2]
    assert [r["case"] for r in svc.client.get("/api/due?as_of=2026-06-30", headers=svc.rita).json()] == ["R-1"]
    assert one_line_error(svc.client.get("/api/due?as_of=2026-06-30&status=late", headers=svc.alice), 422) == \
        "status: 'late' is not one of: open or overdue"
    assert one_line_error(svc.client.get("/api/due?as_of=yesterday", headers=svc.alice), 422).startswith("as_of:")


def test_tick_moves_the_tokens_cases_and_is_idempotent(svc, capsys):
    # Children turning 18 on 2026-03-01: Kent's and Reading's.
    open_case(svc.client, svc.alice, "K-18", "kent", {"birth_date": "2008-03-01"},
              [{"date": "2026-01-05", "event": "referral_received"}])
    open_case(svc.client, svc.rita, "R-18", "reading", {"birth_date": "2008-03-01"},
              [{"date": "2026-01-05", "event": "referral_received"}])
    assert svc.client.post("/api/tick", json={"as_of": "2026-02-28"}, headers=svc.alice).json() == \
        {"as_of": "2026-02-28", "changed": []}
    first = svc.client.post("/api/tick", json={"as_of": "2026-03-02"}, headers=svc.alice)
    assert first.status_code == 200
    assert first.json() == {"as_of": "2026-03-02",
                            "changed": [{"case": "K-18", "state": "closed", "version": 2, "events": ["eighteenth_birthday"]}]}
    M.TickResult.model_validate(first.json())
    again = svc.client.post("/api/tick", json={"as_of": "2026-03-02"}, headers=svc.alice).json()
    assert again == {"as_of": "2026-03-02", "changed": []}
    assert (svc.store.version("K-18"), event_count(svc, "K-18")) == (2, 2)
    assert svc.store.load("R-18").state == "referral"  # Reading's case is Reading's to move
    # 'cinflow tick' prints the same for Reading's case.
    assert cli_json(capsys, "tick", "--db", str(svc.db), "--as-of", "2026-03-02", "--format", "json") == \
        {"as_of": "2026-03-02", "changed": [{"case": "R-18", "state": "closed", "version": 2,
                                              "events": ["eighteenth_birthday"]}]}
    assert "as_of" in one_line_error(svc.client.post("/api/tick", json={}, headers=svc.alice), 422)


def test_policies_are_the_clis_catalogue(svc, capsys):
    listed = svc.client.get("/api/policies", headers=svc.reader).json()
    assert listed == cli_json(capsys, "policies", "--format", "json")
    assert {"kent", "reading", "wirral"} <= {p["id"] for p in listed}
    kent = svc.client.get("/api/policies/kent", headers=svc.reader).json()
    assert kent == cli_json(capsys, "policies", "show", "kent", "--format", "json")
    assert "kent.review_chair" in {r["id"] for r in kent["rules"]}
    assert "unknown authority 'atlantis'" in one_line_error(svc.client.get("/api/policies/atlantis", headers=svc.reader), 404)


# -- the OpenAPI document and the contract models ---------------------------------------------------

def test_openapi_lists_every_path_with_one_line_errors(svc):
    r = svc.client.get("/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert set(doc["paths"]) == {"/api/cases", "/api/cases/{case}", "/api/cases/{case}/events",
                                 "/api/cases/{case}/version", "/api/due", "/api/tick", "/api/policies",
                                 "/api/policies/{policy}"}
    assert doc["components"]["securitySchemes"]["token"] == {
        "type": "http", "scheme": "bearer",
        "description": "A token made by `cinflow tokens create NAME --db DATABASE --authority ID`."}
    text = json.dumps(doc)
    assert "HTTPValidationError" not in text and '"detail"' not in text
    events = doc["paths"]["/api/cases/{case}/events"]["post"]
    assert events["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/CaseContract"}
    assert events["responses"]["409"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
    history = doc["components"]["schemas"]["HistoryItem"]["properties"]
    assert {"from", "to", "recorded_by"} <= set(history) and "from_" not in history
    assert doc["paths"]["/api/cases"]["post"]["responses"].keys() >= {"201", "401", "403", "409", "422"}


@pytest.mark.parametrize("example", ["kent-cin-plan", "london-borough-comply-or-explain", "wirral-withheld-consent",
                                     "reading-after-child-protection", "cheshire-west-and-chester-caf",
                                     "london-borough-twelve-months"])
def test_cli_json_validates_against_the_case_model(capsys, example):
    doc = cli_json(capsys, "run", example, "--format", "json")
    model = M.CaseContract.model_validate(doc)
    assert model.model_dump(mode="json", by_alias=True, exclude_unset=True) == doc


def test_the_case_model_is_the_contract_not_looser(capsys):
    """A field the contract does not have, or one it lacks, fails: the model cannot drift."""
    from pydantic import ValidationError

    doc = cli_json(capsys, "run", "london-borough-comply-or-explain", "--format", "json")
    assert any(h["advice"] for h in doc["history"]) and any(h["exceptions"] for h in doc["history"])
    assert any(r["remedies"] for h in doc["history"] for r in h["reasons"])
    for broken in (dict(doc, extra=1), {k: v for k, v in doc.items() if k != "deadlines"},
                   dict(doc, history=[dict(doc["history"][0], colour="red")])):
        with pytest.raises(ValidationError):
            M.CaseContract.model_validate(broken)


def test_every_catalogue_validates_against_its_model(svc, capsys):
    for pid in [p["id"] for p in cli_json(capsys, "policies", "--format", "json")]:
        M.Catalogue.model_validate(cli_json(capsys, "policies", "show", pid, "--format", "json"))


# -- errors are one line, always ---------------------------------------------------------------------

def test_unknown_routes_and_methods_are_one_line(svc):
    assert one_line_error(svc.client.get("/api/nothing", headers=svc.alice), 404) == "not found"
    assert one_line_error(svc.client.get("/nothing"), 404) == "not found"
    assert one_line_error(svc.client.delete("/api/cases/K-1", headers=svc.alice), 405) == "method not allowed"


def test_an_unexpected_error_is_500_and_logs_no_data(svc, caplog, monkeypatch):
    kent_example(svc.client, svc.alice)

    def broken(case_id):
        raise RuntimeError(f"case {case_id} child born 2014-06-12")

    monkeypatch.setattr(svc.store, "version", broken)
    caplog.set_level(logging.INFO, logger="cinflow")
    r = svc.client.get("/api/cases/K-001/version", headers=svc.alice)
    assert one_line_error(r, 500).startswith("internal error")
    assert "K-001" not in r.text and "2014" not in r.text
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    assert "RuntimeError" in logged and "/api/cases/{case}/version" in logged
    assert "K-001" not in logged and "2014-06-12" not in logged


# -- the log holds no personal data ------------------------------------------------------------------

def test_the_access_log_holds_routes_not_paths_queries_or_bodies(svc, caplog):
    caplog.set_level(logging.INFO, logger="cinflow")
    sc = scenario("kent-cin-plan")
    open_case(svc.client, svc.alice, "K-LOGGED", "kent", sc["child"], sc["events"])
    svc.client.get("/api/cases/K-LOGGED?as_of=2026-06-30", headers=svc.alice)
    svc.client.get("/api/due?as_of=2026-06-30&status=overdue", headers=svc.alice)
    svc.client.get("/api/cases/K-LOGGED/nothing", headers=svc.alice)
    svc.client.get("/cases/K-LOGGED", headers=svc.alice)
    records = [rec for rec in caplog.records if rec.name.startswith("cinflow")]
    logged = "\n".join(rec.getMessage() for rec in records)
    assert "POST /api/cases/{case}/events 200" in logged and "GET /api/due 200" in logged
    assert "GET /cases/{case} 200" in logged and "GET (unmatched path) 404" in logged
    for secret in ("K-LOGGED", "2014-06-12", "as_of", "2026-06-30", "overdue", "social_worker", "Bearer", "cf_"):
        assert secret not in logged, secret
    # At debug level the case id is there (to trace a request), still nothing of the child.
    caplog.clear()
    caplog.set_level(logging.DEBUG, logger="cinflow")
    svc.client.get("/api/cases/K-LOGGED", headers=svc.alice)
    logged = "\n".join(rec.getMessage() for rec in caplog.records if rec.name.startswith("cinflow"))
    assert "K-LOGGED" in logged and "2014-06-12" not in logged


# -- the commands --------------------------------------------------------------------------------------

def test_tokens_create_list_revoke(tmp_path, capsys, registry):
    db = tmp_path / "t.db"
    capsys.readouterr()
    assert main(["tokens", "create", "alice", "--db", str(db), "--authority", "kent"]) == 0
    out, err = capsys.readouterr()
    secret = out.strip()
    assert secret.startswith("cf_") and len(out.splitlines()) == 1 and "shown this once" in err
    with Store(db, registry) as store:
        assert store.token_for(secret).name == "alice"
    assert main(["tokens", "create", "bob", "--db", str(db), "--authority", "reading", "--read-only",
                 "--format", "json"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert (made["name"], made["authority"], made["read_only"]) == ("bob", "reading", True)
    listed = cli_json(capsys, "tokens", "list", "--db", str(db), "--format", "json")
    assert [(t["name"], t["authority"], t["read_only"], t["revoked_at"]) for t in listed] == [
        ("alice", "kent", False, None), ("bob", "reading", True, None)]
    assert secret not in json.dumps(listed) and made["token"] not in json.dumps(listed)
    assert main(["tokens", "revoke", "alice", "--db", str(db)]) == 0
    assert "Revoked token 'alice'" in capsys.readouterr().out
    with Store(db, registry) as store:
        assert store.token_for(secret) is None
    assert main(["tokens", "revoke", "alice", "--db", str(db)]) == 2
    assert capsys.readouterr().err.strip() == f"cinflow: error: no live token named 'alice' in {db}"


def test_tokens_create_refuses_an_unknown_authority_in_one_line(tmp_path, capsys):
    db = tmp_path / "t.db"
    capsys.readouterr()
    assert main(["tokens", "create", "alice", "--db", str(db), "--authority", "atlantis"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and err.startswith("cinflow: error: unknown authority 'atlantis'")
    assert not db.exists()
    assert main(["tokens", "create", "two words", "--db", str(db), "--authority", "kent"]) == 2
    assert "no spaces" in capsys.readouterr().err


def test_tokens_take_the_database_from_the_environment(tmp_path, capsys, monkeypatch):
    db = tmp_path / "env.db"
    monkeypatch.setenv("CINFLOW_DATABASE", str(db))
    assert main(["tokens", "create", "envy", "--authority", "wirral"]) == 0
    assert [t["name"] for t in cli_json(capsys, "tokens", "list", "--format", "json")] == ["envy"]


def test_serve_without_the_server_extra_says_so_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if it were not installed
    capsys.readouterr()
    assert main(["serve", "--db", str(tmp_path / "x.db")]) == 2
    assert capsys.readouterr().err == "cinflow: error: cinflow serve needs the server extra: pip install 'cinflow[server]'\n"


def test_serve_refuses_a_missing_database(tmp_path, capsys):
    capsys.readouterr()
    assert main(["serve", "--db", str(tmp_path / "missing.db")]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "no such database" in err and "cinflow tokens create" in err
    assert not (tmp_path / "missing.db").exists()


def test_real_uvicorn_serves_the_api(tmp_path, registry):
    """'cinflow serve' as a user runs it: a subprocess on a free port, driven
    over HTTP with httpx; its log has routes, no case id, query or child."""
    db = tmp_path / "served.db"
    secret = make_tokens(db, registry, {"alice": ("kent", False)})["alice"]
    h = bearer(secret)
    with served(db, env={"CINFLOW_DATABASE": ""}) as (base, proc):
        with httpx.Client(base_url=base, timeout=30) as c:
            assert c.get("/api/due").status_code == 401
            r = c.post("/api/cases", headers=h, json={"authority": "kent", "case": "K-HTTP",
                                                      "child": {"birth_date": "2014-06-12"}})
            assert r.status_code == 201 and r.headers["cache-control"] == "no-store"
            assert "server" not in r.headers
            r = c.post("/api/cases/K-HTTP/events", headers=h, json={
                "expected_version": 0, "event": {"date": "2026-01-05", "event": "referral_received"}})
            assert r.status_code == 200 and r.json()["version"] == 1
            assert r.json()["history"][-1]["recorded_by"] == "alice"
            r = c.post("/api/cases/K-HTTP/events", headers=h, json={
                "expected_version": 0, "event": {"date": "2026-01-06", "event": "consent_given"}})
            assert r.status_code == 409
            r = c.post("/api/cases/K-HTTP/events", headers=h, json={
                "expected_version": 1, "event": {"date": "2026-01-06", "event": "cin_meeting", "kind": "initial",
                                                 "chair": "team_manager", "outcome": "continue"}})
            assert r.status_code == 200 and r.json()["history"][-1]["accepted"] is False and r.json()["version"] == 1
            due = c.get("/api/due", params={"as_of": "2026-03-20"}, headers=h).json()
            assert [(d["case"], d["name"], d["due"], d["status"]) for d in due] == [
                ("K-HTTP", "assessment", "2026-03-09", "overdue")]
            assert c.post("/api/tick", headers=h, json={"as_of": "2026-03-20"}).json() == {"as_of": "2026-03-20",
                                                                                             "changed": []}
            assert c.get("/api/cases/K-HTTP/version", headers=h).json() == {"version": 1}
            assert c.get("/", headers=h).status_code == 200
    assert proc.returncode is not None
    log = proc.log
    assert "POST /api/cases/{case}/events 200" in log and "GET /api/due 200" in log
    for secret_text in ("K-HTTP", "2014-06-12", "as_of", "2026-03-20", secret):
        assert secret_text not in log, (secret_text, log)


def test_a_huge_streamed_body_is_refused(svc):
    def chunks():
        yield b'{"as_of": "'
        for _ in range(20):
            yield b"x" * 100_000
        yield b'"}'

    r = svc.client.post("/api/tick", content=chunks(), headers={**svc.alice, "content-type": "application/json"})
    assert one_line_error(r, 413) == "the request body is too large"


def test_bare_tokens_lists_them_and_serve_announces_itself_as_json(tmp_path, capsys, registry):
    db = tmp_path / "bare.db"
    make_tokens(db, registry, {"alice": ("kent", True)})
    assert [t["name"] for t in cli_json(capsys, "tokens", "--db", str(db), "--format", "json")] == ["alice"]
    assert main(["tokens"]) == 2 and "--db" in capsys.readouterr().err
    with served(db, "--format", "json", stdout=True) as (base, proc):
        pass
    announced = json.loads(proc.stdout_text)
    assert announced == {"serving": str(db), "url": base, "api": "/api", "openapi": "/openapi.json", "worklist": "/"}


def test_the_api_on_postgresql(postgres_url, registry, capsys):
    """The same API over a PostgreSQL store: the Kent example, a refusal
    that stores nothing, a stale version, due work, tick, tokens."""
    assert main(["tokens", "create", "pg-alice", "--db", postgres_url, "--authority", "kent"]) == 0
    secret = capsys.readouterr().out.strip()
    app = create_app(postgres_url, registry, today=lambda: date(2040, 1, 1))
    try:
        client, h = TestClient(app), bearer(secret)
        responses = kent_example(client, h)
        assert responses[9].json()["history"][-1]["accepted"] is False and responses[-1].json()["version"] == 9
        store = app.state.store
        assert (store.version("K-001"), store.count("events", "K-001")) == (9, 9)
        r = client.post("/api/cases/K-001/events", headers=h, json={
            "expected_version": 3, "event": {"date": "2026-06-01", "event": "visit"}})
        assert "version 9, not 3" in one_line_error(r, 409)
        due = client.get("/api/due?as_of=2026-06-30", headers=h).json()
        assert [(d["due"], d["name"]) for d in due] == [(d, n) for d, _, c, n in KENT_DUE_2026_06_30 if c == "K-001"]
        tick = client.post("/api/tick", json={"as_of": "2032-06-13"}, headers=h).json()
        assert tick["changed"] == [{"case": "K-001", "state": "closed", "version": 10, "events": ["eighteenth_birthday"]}]
        assert client.post("/api/tick", json={"as_of": "2032-06-13"}, headers=h).json()["changed"] == []
        assert [x["recorded_by"] for x in client.get("/api/cases/K-001", headers=h).json()["history"]] == ["pg-alice"] * 10
        assert client.get("/api/cases/K-001", headers={"Authorization": "Bearer nope"}).status_code == 401
    finally:
        app.state.store.close()


def test_concurrent_clients_over_http(tmp_path, registry):
    """One server, many clients at once (uvicorn's thread pool over one
    Store): 16 clients each on its own case all succeed; 8 racing writers
    on one case at one version give exactly one 200 and seven 409s."""
    from concurrent.futures import ThreadPoolExecutor

    db = tmp_path / "busy.db"
    secret = make_tokens(db, registry, {"alice": ("kent", False)})["alice"]
    h = bearer(secret)
    with served(db) as (base, proc):
        def own_case(k):
            with httpx.Client(base_url=base, timeout=60) as c:
                open_case(c, h, f"C-{k}", "kent", {"birth_date": "2014-06-12"},
                          [{"date": "2026-01-05", "event": "referral_received"},
                           {"date": "2026-01-06", "event": "consent_given"},
                           *({"date": f"2026-01-{d:02d}", "event": "case_note_recorded"} for d in range(7, 17))])
                return c.get(f"/api/cases/C-{k}/version", headers=h).json()["version"]

        with ThreadPoolExecutor(16) as pool:
            assert list(pool.map(own_case, range(16))) == [12] * 16
        with httpx.Client(base_url=base, timeout=60) as c:
            open_case(c, h, "RACE", "kent", {"birth_date": "2014-06-12"},
                      [{"date": "2026-01-05", "event": "referral_received"}])

        def racer(k):
            with httpx.Client(base_url=base, timeout=60) as c:
                return c.post("/api/cases/RACE/events", headers=h, json={
                    "expected_version": 1, "event": {"date": "2026-01-06", "event": "case_note_recorded"}}).status_code

        with ThreadPoolExecutor(8) as pool:
            codes = sorted(pool.map(racer, range(8)))
        assert codes == [200] + [409] * 7
    with Store(db, registry) as store:
        assert store.version("RACE") == 2 and store.count("events", "RACE") == 2
        assert store.verify() == []


# -- the future, a database that is down, rotating a token, an address in use ------------------

def test_events_and_ticks_dated_after_today_are_refused_and_store_nothing(tmp_path, registry):
    """A CMS's wrong year must not close cases (a tick to 2032 passes K-001's
    18th birthday) or lock them behind a date no real event can follow."""
    db = tmp_path / "cases.db"
    secret = make_tokens(db, registry, {"alice": ("kent", False)})["alice"]
    app = create_app(db, registry, today=lambda: date(2026, 12, 2))  # a Wednesday
    client, h = TestClient(app), bearer(secret)
    try:
        kent_example(client, h)
        store = app.state.store
        before = (store.version("K-001"), store.count("events"))
        r = client.post("/api/cases/K-001/events", headers=h, json={
            "expected_version": before[0], "event": {"date": "2027-12-02", "event": "visit"}})
        assert "event.date: 2027-12-02 is after today (2026-12-02)" in one_line_error(r, 422)
        r = client.post("/api/tick", headers=h, json={"as_of": "2032-07-01"})
        assert "as_of: 2032-07-01 is after today (2026-12-02)" in one_line_error(r, 422)
        assert (store.version("K-001"), store.count("events")) == before and store.load("K-001").state == "cin_plan"
        # The next day is allowed (a server in UTC while a council's day has begun); today is, of course.
        assert client.post("/api/tick", headers=h, json={"as_of": "2026-12-03"}).status_code == 200
        assert client.post("/api/cases/K-001/events", headers=h, json={
            "expected_version": before[0], "event": {"date": "2026-12-02", "event": "visit"}}).status_code == 200
    finally:
        app.state.store.close()
    test_system = create_app(db, registry, allow_future=True)
    try:
        r = TestClient(test_system).post("/api/tick", headers=h, json={"as_of": "2032-07-01"})
        assert r.status_code == 200 and r.json()["changed"][0]["state"] == "closed"
    finally:
        test_system.state.store.close()


def test_a_database_that_fails_under_the_token_check_is_503(svc, monkeypatch):
    from cinflow.errors import StoreError

    def down(secret):
        raise StoreError(f"database {svc.store.path}: the connection failed (server closed the connection)")

    monkeypatch.setattr(svc.store, "token_for", down)
    r = svc.client.get("/api/cases/K-001/version", headers=svc.alice)
    message = one_line_error(r, 503)
    assert "the connection failed" in message and str(svc.db) not in message


def test_a_revoked_tokens_name_can_be_given_again(svc, capsys):
    assert main(["tokens", "create", "gone", "--db", str(svc.db), "--authority", "kent"]) == 0
    fresh = capsys.readouterr().out.strip().split()[-1]
    assert svc.client.get("/api/policies", headers=bearer(fresh)).status_code == 200
    assert svc.client.get("/api/policies", headers=svc.gone).status_code == 401  # the old secret stays dead
    assert main(["tokens", "create", "alice", "--db", str(svc.db), "--authority", "kent"]) == 2  # a live name
    assert "already exists" in capsys.readouterr().err


def test_serve_on_an_address_in_use_is_one_line(tmp_path, registry, capsys):
    import socket

    db = tmp_path / "cases.db"
    make_tokens(db, registry, {"alice": ("kent", False)})
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        code = main(["serve", "--db", str(db), "--port", str(port)])
        out, err = capsys.readouterr()
    assert code == 2 and out == "" and err.count("\n") == 1
    assert f"cannot listen on http://127.0.0.1:{port}" in err
    assert main(["serve", "--db", str(db), "--host", "999.1.1.1"]) == 2
    assert "cannot listen on http://999.1.1.1:8000" in capsys.readouterr().err
