"""The team's worklist (``/`` and ``/cases/{case}``): sign-in, due work
soonest first, filters, a case's timeline with its refusals, exceptions,
advice and citations, escaping; and a real browser driving the real server."""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

import pytest

import cinflow
from cinflow.cli import main
from cinflow.service.app import create_app
from cinflow.store import Store

from service_helpers import (K002, K003, KENT_DUE_2026_06_30, TestClient, bearer, kent_worklist, make_tokens, open_case,
                             scenario, served)


@pytest.fixture
def wl(tmp_path, registry):
    db = tmp_path / "cases.db"
    secrets = make_tokens(db, registry, {"tm": ("kent", False), "viewer": ("kent", True), "rita": ("reading", False)})
    app = create_app(db, registry)
    client = TestClient(app)

    class W:
        pass

    w = W()
    w.db, w.app, w.client, w.secrets = db, app, client, secrets
    w.tm, w.viewer, w.rita = (bearer(secrets[n]) for n in ("tm", "viewer", "rita"))
    kent_worklist(client, w.tm)
    yield w
    app.state.store.close()


def rows(page: str) -> list[tuple]:
    """(due, status, case, deadline) for each row of the worklist table."""
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    out = []
    for tr in re.findall(r"<tr class=\"[^\"]*\">(.*?)</tr>", body, re.S):
        due = re.search(r'<td class="due">([^<]*)</td>', tr).group(1)
        status = re.search(r'<span class="badge [^"]*">([^<]*)</span>', tr).group(1)
        case = html.unescape(re.search(r'<td class="case"><a [^>]*>([^<]*)</a>', tr).group(1))
        name = re.search(r'<td class="name">([^<]*)</td>', tr).group(1)
        out.append((due, status, case, name))
    return out


def test_without_a_token_the_worklist_is_a_401_sign_in_form(wl):
    for path in ("/", "/cases/K-001"):
        r = wl.client.get(path)
        assert r.status_code == 401 and "<form class=\"login\" method=\"post\" action=\"/login\">" in r.text
        assert "K-001" not in r.text.replace("/cases/K-001", "")
    wl.client.cookies.set("cinflow_token", "cf_forged")
    assert wl.client.get("/").status_code == 401


def test_signing_in_sets_an_httponly_strict_cookie_the_api_ignores(wl):
    bad = wl.client.post("/login", data={"token": "cf_wrong"}, follow_redirects=False)
    assert bad.status_code == 401 and "not valid" in bad.text and "set-cookie" not in bad.headers
    r = wl.client.post("/login", data={"token": wl.secrets["tm"]}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("cinflow_token=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Secure" not in cookie  # plain HTTP here; behind TLS (X-Forwarded-Proto: https) it is Secure
    page = wl.client.get("/?as_of=2026-06-30")
    assert page.status_code == 200 and "tm · kent" in page.text
    # The cookie is for the read-only pages: the API still wants the header.
    assert wl.client.get("/api/due?as_of=2026-06-30").status_code == 401
    out = wl.client.post("/logout", follow_redirects=False)
    assert out.status_code == 303 and 'cinflow_token=""' in out.headers["set-cookie"]
    wl.client.cookies.clear()
    assert wl.client.get("/").status_code == 401


def test_the_worklist_lists_due_work_soonest_first(wl):
    page = wl.client.get("/?as_of=2026-06-30", headers=wl.tm)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert rows(page.text) == KENT_DUE_2026_06_30
    assert "7 deadlines (5 overdue) as of 2026-06-30" in page.text
    assert "74 days overdue" in page.text  # K-001's visit, due 2026-04-17
    assert "Kent County Council" in page.text
    # Each case links to its page, with the same date.
    assert '<a href="/cases/K-002?as_of=2026-06-30">K-002</a>' in page.text


def test_the_filters_narrow_by_status_and_deadline(wl):
    overdue = rows(wl.client.get("/?as_of=2026-06-30&status=overdue", headers=wl.tm).text)
    assert overdue == [r for r in KENT_DUE_2026_06_30 if r[1] == "overdue"]
    page = wl.client.get("/?as_of=2026-06-30&deadline=assessment", headers=wl.tm).text
    assert rows(page) == [("2026-05-07", "overdue", "K-002", "assessment"), ("2026-08-03", "open", "K-003", "assessment")]
    assert '<option value="assessment" selected>' in page and "matching the filter" in page
    assert rows(wl.client.get("/?as_of=2026-06-30&status=open&deadline=assessment", headers=wl.tm).text) == [
        ("2026-08-03", "open", "K-003", "assessment")]
    empty = wl.client.get("/?as_of=2026-06-30&status=open&deadline=minutes", headers=wl.tm).text
    assert "Nothing open or overdue." in empty
    bad = wl.client.get("/?as_of=2026-02-30", headers=wl.tm)
    assert bad.status_code == 422 and "as_of: &#x27;2026-02-30&#x27; is not a real date" in bad.text


def test_a_case_page_shows_the_timeline_refusals_and_citations(wl):
    page = wl.client.get("/cases/K-001?as_of=2026-06-30", headers=wl.tm)
    assert page.status_code == 200
    text = page.text
    # The stored timeline (the refused review was not stored), and deadlines with their status as of the date.
    assert text.count('<span class="badge accepted">accepted</span>') == 9
    assert "Kent County Council, Child in Need Plans and Meetings Policy" in text  # a citation in words
    assert re.search(r'<td class="name">visit</td><td class="due">2026-04-17</td>\s*<td class="status">'
                     r'<span class="badge overdue">overdue</span>', text)
    assert "<td class=\"by\">tm</td>" in text and "statuses as of 2026-06-30" in text
    assert "refused" not in text  # the API stored nothing refused
    # A refusal is kept when an embedding host (or 'cinflow run --db') stores one: its rule, message,
    # citation and remedy show.
    with Store(wl.db) as store:
        store.append("K-001", cinflow.event("cin_meeting", "2026-06-01", kind="review", chair="social_worker",
                                            outcome="continue"), store.version("K-001"), recorded_by="host")
    text = wl.client.get("/cases/K-001?as_of=2026-06-30", headers=wl.tm).text
    assert '<span class="badge refused">refused</span>' in text
    assert '<code class="rule">kent.review_chair</code>' in text
    assert "Source: Kent County Council, Child in Need Plans and Meetings Policy" in text
    assert "To proceed: hold it with a Team Manager or a Senior Practitioner in the chair" in text


def test_a_case_page_shows_exceptions_and_advice(wl, registry):
    sc = scenario("london-borough-comply-or-explain")
    secret = make_tokens(wl.db, registry, {"lb": ("london-borough", False)})["lb"]
    h = bearer(secret)
    open_case(wl.client, h, "LB-1", "london-borough", sc["child"],
              [e for e in sc["events"]])
    text = wl.client.get("/cases/LB-1", headers=h).text
    assert '<span class="label">By exception</span>' in text and "authorised by" in text
    assert '<span class="label">Advice</span>' in text
    assert text.count("Source: ") >= 2
    # Kent's token cannot see London's case; nobody's case that is not there is a 404.
    assert wl.client.get("/cases/LB-1", headers=wl.tm).status_code == 403
    assert wl.client.get("/cases/NOPE", headers=wl.tm).status_code == 404


def test_everything_is_escaped(wl):
    nasty = "K-<b>&\"x'"
    open_case(wl.client, wl.tm, nasty, "kent", {"birth_date": "2014-06-12"},
              [{"date": "2026-06-01", "event": "referral_received"}])
    page = wl.client.get("/?as_of=2026-06-30", headers=wl.tm).text
    assert nasty not in page and "<b>" not in page
    assert html.escape(nasty, quote=True) in page
    assert (("2026-08-03", "open", nasty, "assessment")) in rows(page)
    case = wl.client.get("/cases/" + "K-%3Cb%3E%26%22x%27", headers=wl.tm)
    assert case.status_code == 200 and nasty not in case.text and html.escape(nasty, quote=True) in case.text
    # A filter value is escaped back into the form too.
    assert "<script>" not in wl.client.get("/?deadline=<script>", headers=wl.tm).text


def test_the_pages_are_plain_html_with_a_same_origin_stylesheet(wl):
    page = wl.client.get("/?as_of=2026-06-30", headers=wl.tm)
    assert "<script" not in page.text and "http://" not in page.text and "https://" not in page.text
    assert '<link rel="stylesheet" href="/worklist.css">' in page.text
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "style-src 'self'" in policy and "script" not in policy
    assert page.headers["cache-control"] == "no-store"
    css = wl.client.get("/worklist.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "@media print" in css.text and "url(" not in css.text and "@import" not in css.text


# -- a real browser on the real server ------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"


@pytest.mark.oracle
def test_chromium_reads_the_worklist_served_by_cinflow(tmp_path, registry):
    """Headless Chromium (Playwright) against 'cinflow serve', after the
    cases were posted through the API: sign in, the due work soonest first,
    the status filter, and a case page showing a refusal with its rule id
    and citation."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("CI must have Chromium (.ci/run installs it)")
        pytest.skip("Chromium is not installed (apt-get install -y chromium)")
    import httpx
    from playwright.sync_api import sync_playwright

    db = tmp_path / "browser.db"
    secret = make_tokens(db, registry, {"team-manager": ("kent", False)})["team-manager"]
    # K-001 is the shipped Kent example stored by the CLI, which keeps its refused review (kent.review_chair);
    # K-002 and K-003 come through the API, and so does a refused event on K-001, which stores nothing.
    assert main(["run", "kent-cin-plan", "--db", str(db)]) == 0
    with served(db) as (base, proc):
        with httpx.Client(base_url=base, timeout=30) as api:
            h = bearer(secret)
            for case_id, child, events in (K002, K003):
                open_case(api, h, case_id, "kent", child, events)
            r = api.post("/api/cases/K-001/events", headers=h, json={"expected_version": 10, "event": {
                "date": "2026-06-01", "event": "cin_meeting", "kind": "review", "chair": "social_worker",
                "outcome": "continue"}})
            assert r.status_code == 200 and r.json()["history"][-1]["accepted"] is False
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run"])
            try:
                page = browser.new_page()
                page.goto(base + "/")
                page.fill("#token", secret)
                page.click("form.login button")
                page.wait_for_url(base + "/")
                page.goto(base + "/?as_of=2026-06-30")
                cells = page.locator("table.worklist tbody tr")
                seen = [tuple(cells.nth(i).locator("td").nth(j).inner_text().split("\n")[0].strip()
                              for j in (0, 2, 3)) for i in range(cells.count())]
                assert seen == [(due, case, name) for due, _, case, name in KENT_DUE_2026_06_30]
                assert page.locator("table.worklist tbody tr.overdue").count() == 5
                # The stylesheet loaded (same origin): overdue dates are bold red.
                weight = page.locator("tr.overdue td.due").first.evaluate("e => getComputedStyle(e).fontWeight")
                assert weight == "700"
                page.select_option("select[name=status]", "open")
                page.click("form.filters button")
                page.wait_for_url(re.compile(r".*status=open.*"))
                assert page.locator("table.worklist tbody tr").count() == 2
                assert page.locator("table.worklist tbody tr.overdue").count() == 0
                page.click("text=K-001")
                page.wait_for_url(re.compile(r".*/cases/K-001\?as_of=2026-06-30"))
                assert page.locator("li.refusal").count() == 1  # the CLI's, not the API's (stored nothing)
                refused = page.locator("table.timeline tr.refused")
                assert refused.locator("td.date").inner_text() == "2026-05-13"
                refusal = refused.locator("li.refusal")
                assert refusal.locator("code.rule").inner_text() == "kent.review_chair"
                assert ("Source: Kent County Council, Child in Need Plans and Meetings Policy; Guidance for Child in "
                        "Need Plans and Child in Need Meetings (February 2023)") in refusal.inner_text()
                deadlines = page.locator("table.deadlines tbody tr")
                assert deadlines.count() == 12
                assert page.locator("table.deadlines tr.overdue").count() == 4
                # Printing keeps the timeline and drops the navigation.
                page.emulate_media(media="print")
                assert page.locator("header.top").is_hidden() and page.locator("table.timeline").is_visible()
            finally:
                browser.close()
    assert "K-00" not in proc.log and "as_of" not in proc.log and secret not in proc.log


def test_another_sites_form_cannot_sign_in_and_https_cookies_are_secure(wl):
    r = wl.client.post("/login", data={"token": wl.secrets["tm"]}, headers={"origin": "https://elsewhere.example"},
                       follow_redirects=False)
    assert r.status_code == 403 and "set-cookie" not in r.headers
    assert wl.client.post("/logout", headers={"origin": "null"}, follow_redirects=False).status_code == 403
    ok = wl.client.post("/login", data={"token": wl.secrets["tm"]}, headers={"origin": "http://testserver"},
                        follow_redirects=False)
    assert ok.status_code == 303
    behind_tls = TestClient(wl.app, base_url="https://cin.example.gov.uk")
    r = behind_tls.post("/login", data={"token": wl.secrets["viewer"]}, follow_redirects=False)
    assert r.status_code == 303 and "Secure" in r.headers["set-cookie"]
