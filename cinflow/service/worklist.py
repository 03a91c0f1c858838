"""The team's worklist: two server-rendered pages for practitioners.

``/`` lists the due and overdue work of the token's authority, soonest
first, filtered by status and deadline (a plain GET form); ``/cases/{case}``
shows one case's timeline with every refusal, exception and advice and the
citation behind it, and its deadlines with their status.  Plain HTML and
one same-origin stylesheet (``worklist.css``, with print rules): no script,
no CDN.  Every value is escaped.

A browser signs in at ``/login`` with its token once; the token is kept in
an HttpOnly, SameSite=Strict cookie (see :mod:`cinflow.service.auth`).
"""

from __future__ import annotations

from datetime import date
from html import escape
from importlib.resources import files
from urllib.parse import parse_qs, quote, urlencode

from anyio.to_thread import run_sync
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ..convert import converter
from ..errors import InputError
from .api import due_rows
from .auth import COOKIE, lookup, owned_case, page_caller
from .errors import ApiError

router = APIRouter(include_in_schema=False)

STATUS_CHOICES = ("", "overdue", "open")
_DETAILS = ("kind", "outcome", "chair", "next_review", "rule", "role", "decision")


def _e(value) -> str:
    return escape("" if value is None else str(value), quote=True)


def page(title: str, body: str, status: int = 200, nav: str = "") -> HTMLResponse:
    html = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)} · cinflow</title>
<link rel="stylesheet" href="/worklist.css">
</head>
<body>
<header class="top"><a class="brand" href="/">cinflow worklist</a>{nav}</header>
<main>
{body}
</main>
</body>
</html>
"""
    return HTMLResponse(html, status_code=status)


def _nav(token) -> str:
    return (f'<span class="who">{_e(token.name)} · {_e(token.authority)}'
            f'{" · read-only" if token.read_only else ""}</span>'
            '<form class="logout" method="post" action="/logout"><button type="submit">Sign out</button></form>')


def login_page(message: str = "", status: int = 401) -> HTMLResponse:
    note = f'<p class="error" role="alert">{_e(message)}</p>' if message else ""
    return page("Sign in", f"""<h1>Sign in</h1>
{note}
<form class="login" method="post" action="/login">
<label for="token">Access token</label>
<input id="token" name="token" type="password" autocomplete="off" required>
<button type="submit">Sign in</button>
</form>
<p class="hint">Ask whoever runs this service for a token (<code>cinflow tokens create</code>). It is kept in this
browser until you sign out.</p>""", status)


@router.get("/worklist.css")
def stylesheet():
    css = files("cinflow.service").joinpath("worklist.css").read_text(encoding="utf-8")
    return Response(css, media_type="text/css; charset=utf-8")


@router.get("/login")
async def login_form(request: Request):
    return login_page(status=200)


def _same_origin(request: Request) -> bool:
    """A browser's form post names its page's origin: refuse another site's
    (so no other page can sign a browser in or out)."""
    origin = request.headers.get("origin")
    return origin is None or origin == f"{request.url.scheme}://{request.url.netloc}"


def _cross_site() -> HTMLResponse:
    return page("Sign in", '<p class="error">A form from another site cannot sign in or out here.</p>', 403)


@router.post("/login")
async def login(request: Request):
    if not _same_origin(request):
        return _cross_site()
    body = await request.body()
    fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=5) if len(body) < 4096 else {}
    secret = (fields.get("token") or [""])[0].strip()
    if await lookup(request.app.state.store, secret) is None:
        return login_page("That token is not valid (unknown or revoked).")
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(COOKIE, secret, httponly=True, samesite="strict", secure=request.url.scheme == "https",
                        path="/")
    return response


@router.post("/logout")
async def logout(request: Request):
    if not _same_origin(request):
        return _cross_site()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


def _date_param(value: str | None, what: str) -> date | None:
    if not value:
        return None
    try:
        return converter.structure(value, date)
    except ValueError as exc:
        raise ApiError(422, f"{what}: {exc}") from None


@router.get("/")
async def worklist(request: Request):
    token = await page_caller(request)
    if token is None:
        return login_page()
    q = request.query_params
    try:
        as_of = _date_param(q.get("as_of"), "as_of") or date.today()
    except ApiError as exc:
        return page("Worklist", f'<p class="error">{_e(exc.message)}</p>', 422, _nav(token))
    status = q.get("status", "")
    status = status if status in STATUS_CHOICES else ""
    deadline = q.get("deadline", "")
    every = await run_sync(lambda: due_rows(request.app.state.store, token, as_of))
    rows = [r for r in every if (not status or r["status"] == status) and (not deadline or r["name"] == deadline)]
    policy = request.app.state.registry[token.authority]
    return page("Worklist", render_worklist(policy, token, as_of, status, deadline, every, rows), nav=_nav(token))


def render_worklist(policy, token, as_of: date, status: str, deadline: str, every: list, rows: list) -> str:
    names = sorted({r["name"] for r in every} | ({deadline} if deadline else set()))
    status_options = "".join(f'<option value="{_e(s)}"{" selected" if s == status else ""}>{_e(s or "open and overdue")}</option>'
                             for s in STATUS_CHOICES)
    name_options = '<option value="">every deadline</option>' + "".join(
        f'<option value="{_e(n)}"{" selected" if n == deadline else ""}>{_e(n)}</option>' for n in names)
    overdue = sum(r["status"] == "overdue" for r in rows)
    summary = (f"{len(rows)} deadline{'s' if len(rows) != 1 else ''} ({overdue} overdue)"
               f"{' matching the filter' if status or deadline else ''} as of {as_of.isoformat()}")
    body_rows = []
    for r in rows:
        days = (date.fromisoformat(r["due"]) - as_of).days
        when = (f"{-days} day{'s' if days != -1 else ''} overdue" if days < 0
                else "due today" if days == 0 else f"in {days} day{'s' if days != 1 else ''}")
        body_rows.append(
            f'<tr class="{_e(r["status"])}"><td class="due">{_e(r["due"])}</td>'
            f'<td class="status"><span class="badge {_e(r["status"])}">{_e(r["status"])}</span> {_e(when)}</td>'
            f'<td class="case"><a href="/cases/{_e(_quote_path(r["case"]))}?{_e(urlencode({"as_of": as_of.isoformat()}))}">'
            f'{_e(r["case"])}</a></td>'
            f'<td class="name">{_e(r["name"])}</td>'
            f'<td class="rule"><code>{_e(r["rule"])}</code><div class="cite">{_e(policy.cite(r["source"]))}</div></td></tr>')
    table = ("<table class=\"worklist\"><thead><tr><th>Due</th><th>Status</th><th>Case</th><th>Deadline</th>"
             "<th>Rule and source</th></tr></thead><tbody>\n" + "\n".join(body_rows) + "\n</tbody></table>"
             if rows else '<p class="empty">Nothing open or overdue.</p>')
    return f"""<h1>Due and overdue work: {_e(policy.info.title)}</h1>
<form class="filters" method="get" action="/">
<label>Status <select name="status">{status_options}</select></label>
<label>Deadline <select name="deadline">{name_options}</select></label>
<label>As of <input type="date" name="as_of" value="{_e(as_of.isoformat())}"></label>
<button type="submit">Show</button>
</form>
<p class="summary">{_e(summary)}</p>
{table}"""


def _quote_path(case_id: str) -> str:
    return quote(case_id, safe="")


@router.get("/cases/{case}")
async def case_page(case: str, request: Request):
    token = await page_caller(request)
    if token is None:
        return login_page()
    store = request.app.state.store
    nav = _nav(token)
    try:
        as_of = _date_param(request.query_params.get("as_of"), "as_of")
        await run_sync(owned_case, store, token, case)
        loaded = await run_sync(store.load, case)
    except ApiError as exc:
        return page("Case", f'<p class="error">{_e(exc.message)}</p><p><a href="/">Back to the worklist</a></p>',
                    exc.status, nav)
    policy = request.app.state.registry[loaded.authority]
    if as_of is None:
        as_of = max(date.today(), loaded.last_date) if loaded.last_date else date.today()
    if loaded.last_date is not None and as_of < loaded.last_date:
        as_of = loaded.last_date
    try:
        shown = policy.advance(loaded, as_of)
    except InputError:
        shown = loaded
    return page(f"Case {case}", render_case(policy, shown, as_of), nav=nav)


def _notes(policy, h) -> str:
    out = []
    for r in h.reasons:
        remedy = f'<div class="remedy">To proceed: {_e(r.remedy_text())}</div>' if r.remedies else ""
        out.append(f'<li class="refusal"><span class="label">Refused by</span> <code class="rule">{_e(r.rule)}</code>: '
                   f'{_e(r.message)}<div class="cite">Source: {_e(policy.cite(r.source))}</div>{remedy}</li>')
    for x in h.exceptions:
        out.append(f'<li class="exception"><span class="label">By exception</span> to <code class="rule">{_e(x.rule)}</code>: '
                   f'authorised by {_e(x.role)} on {_e(x.recorded_on.isoformat())} ({_e(x.reason)})'
                   f'<div class="cite">Source: {_e(policy.cite(x.source))}</div></li>')
    for a in h.advice:
        out.append(f'<li class="advice"><span class="label">Advice</span> <code class="rule">{_e(a.rule)}</code>: '
                   f'{_e(a.message)}<div class="cite">Source: {_e(policy.cite(a.source))}</div></li>')
    return f'<ul class="notes">{"".join(out)}</ul>' if out else ""


def render_case(policy, case, as_of: date) -> str:
    wakeup = policy.next_wakeup(case)
    items = []
    for h in case.history:
        detail = ", ".join(f"{k} {v}" for k, v in h.attributes.items() if k in _DETAILS)
        result = ("refused" if not h.accepted else "automatic" if h.automatic else "accepted")
        detail = f'<div class="detail">{_e(detail)}</div>' if detail else ""
        items.append(
            f'<tr class="{result}"><td class="date">{_e(h.date.isoformat())}</td>'
            f'<td class="event">{_e(h.event)}{detail}</td>'
            f'<td class="result"><span class="badge {result}">{result}</span>{_notes(policy, h)}</td>'
            f'<td class="states">{_e(h.from_state)} → {_e(h.to_state)}</td>'
            f'<td class="by">{_e(h.recorded_by or "")}</td></tr>')
    deadlines = []
    for d in case.deadlines:
        status = d.status(as_of)
        closed = d.met_on or d.ended_on
        deadlines.append(
            f'<tr class="{_e(status)}"><td class="name">{_e(d.name)}</td><td class="due">{_e(d.due.isoformat())}</td>'
            f'<td class="status"><span class="badge {_e(status)}">{_e(status)}</span></td>'
            f'<td>{_e(closed.isoformat() if closed else "")}</td>'
            f'<td class="rule"><code>{_e(d.rule)}</code><div class="cite">{_e(policy.cite(d.source))}</div></td></tr>')
    timeline = ("<table class=\"timeline\"><thead><tr><th>Date</th><th>Event</th><th>Result</th><th>State</th>"
                "<th>Recorded by</th></tr></thead><tbody>\n" + "\n".join(items) + "\n</tbody></table>"
                if items else '<p class="empty">No events yet.</p>')
    dl = ("<table class=\"deadlines\"><thead><tr><th>Deadline</th><th>Due</th><th>Status</th><th>Met or ended</th>"
          "<th>Rule and source</th></tr></thead><tbody>\n" + "\n".join(deadlines) + "\n</tbody></table>"
          if deadlines else '<p class="empty">No deadlines.</p>')
    wake = (f"<p>Next changes by itself on {_e(wakeup.isoformat())} (the child's 18th birthday closes the case).</p>"
            if wakeup else "")
    return f"""<p class="back"><a href="/?{_e(urlencode({"as_of": as_of.isoformat()}))}">← Worklist</a></p>
<h1>Case {_e(case.id)}</h1>
<p class="facts">{_e(policy.info.title)} · state <strong>{_e(case.state)}</strong> · version {case.version} ·
statuses as of {_e(as_of.isoformat())}</p>
{wake}
<h2>Timeline</h2>
{timeline}
<h2>Deadlines</h2>
{dl}"""
