"""The DfE Children in Need census return, built from the case store.

Each cinflow case is one episode of need.  Its accepted events, up to the
reference date (31 March of the collection year), are walked once to find the
census modules:

* **assessment**: starts with ``consent_given``, or with an s47 enquiry
  when none is under way (the assessment is then carried out under s47, as
  the national baseline says); authorised by ``assessment_completed`` or
  ``s47_completed``, with that event's factors.  An assessment the case's
  ending cuts short is authorised on the closure date.
* **section 47**: starts when the case enters ``s47_enquiry``; its initial
  conference is the ``cp_plan_started`` or ``icpc_held`` that follows;
  ``ICPCnotRequired`` is 1 when the enquiry ended without one.  The ICPC
  target is 15 working days after the start.
* **CIN plan**: from the initial CIN meeting (entering ``cin_plan``) until
  the case leaves ``cin_plan``/``transfer_out``.
* **CP plan**: ``cp_plan_started`` to ``cp_plan_ended`` (or the episode's
  end); categories and previous plans from ``cp_plan_started``; review
  dates from ``cp_review``.
* **closure**: the move into ``closed``, ``stepped_down`` or
  ``transferred``, with the case's closure reason.  Becoming looked after ends
  the CIN plan but not the episode.  ``ReferralNFA`` is 1 for a referral
  closed with no assessment, s47, plan or conference.

Inclusion follows the census window W (1 April to 31 March): episodes,
assessments, plans and enquiries that ended before W are left out; nothing
dated after the reference date is read.  Anything the census needs that the
store cannot supply is a :class:`CensusProblem`, and nothing is written.

A pseudonymised extract (``key``) has keyed hashes for LAchildID, no UPNs,
and names cases only by their pseudonyms, problems included; it keeps the
birth dates, characteristics and event dates the census needs, so it is still
personal data.  Its key must hold 128 bits or more (:func:`pseudonym_key`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from datetime import date, datetime
from xml.etree import ElementTree as ET

from attrs import field, frozen

from . import __version__
from .calendar import england
from .errors import InputError
from .states import PLAN_IN_FORCE

PLAN = PLAN_IN_FORCE
ENDED = ("closed", "stepped_down", "transferred")
CONFERENCES = ("cp_plan_started", "icpc_held")
ICPC_TARGET_WORKING_DAYS = 15


@frozen
class CensusProblem:
    case_id: str
    message: str

    def __str__(self) -> str:
        return f"{self.case_id}: {self.message}"


@frozen
class Assessment:
    start: date
    authorised: date | None = None
    factors: tuple[str, ...] = ()


@frozen
class Section47:
    start: date
    icpc: date | None = None
    not_required: bool = False


@frozen
class Interval:
    start: date
    end: date | None = None


@frozen
class CpPlan:
    start: date
    end: date | None
    categories: tuple[str, ...]
    previous: int
    reviews: tuple[date, ...] = ()


@frozen
class Episode:
    """One case as the census sees it on the reference date."""

    case_id: str
    child: dict
    referral: date
    source: str | None
    need: str | None
    closure: date | None
    reason: str | None
    nfa: bool
    died: date | None = None
    assessments: tuple[Assessment, ...] = ()
    s47s: tuple[Section47, ...] = ()
    plans: tuple[Interval, ...] = ()
    cp_plans: tuple[CpPlan, ...] = ()
    problems: list = field(factory=list, eq=False)


def collection_window(year: int) -> tuple[date, date]:
    return date(year - 1, 4, 1), date(year, 3, 31)


def episode_of(case_id: str, child: dict, facts: dict, events: list[dict], reference: date) -> Episode | None:
    """Walk a case's accepted events up to ``reference``; None if it starts later."""
    accepted = [e for e in events if e["accepted"] and date.fromisoformat(e["date"]) <= reference]
    if not accepted or accepted[0]["event"] not in ("referral_received", "transfer_in"):
        return None
    first = accepted[0]
    referral = date.fromisoformat(first["date"])
    attrs = json.loads(first["attributes"] or "{}")
    source = attrs.get("referral_source") or ("5C" if first["event"] == "transfer_in" else None)
    need = facts.get("primary_need")
    assessments: list[Assessment] = []
    s47s: list[Section47] = []
    plans: list[Interval] = []
    cp_plans: list[CpPlan] = []
    closure = reason = died = None
    left_referral_to = None
    for e in accepted:
        day = date.fromisoformat(e["date"])
        frm, to, name = e["from_state"], e["to_state"], e["event"]
        a = json.loads(e["attributes"] or "{}")
        if frm == "referral" and to != "referral" and left_referral_to is None:
            left_referral_to = to
        # assessments
        if name == "consent_given":
            assessments.append(Assessment(day))
        if name in ("assessment_completed", "s47_completed") and assessments and assessments[-1].authorised is None:
            assessments[-1] = Assessment(assessments[-1].start, day, tuple(a.get("factors", ())))
        # section 47 enquiries (each with its assessment) and conferences
        if to == "s47_enquiry" and frm != "s47_enquiry":
            s47s.append(Section47(day))
            if not assessments or assessments[-1].authorised is not None:
                assessments.append(Assessment(day))
        if name == "s47_completed" and a.get("outcome") != "icpc" and s47s:
            s47s[-1] = Section47(s47s[-1].start, None, True)
        if name in CONFERENCES and s47s and s47s[-1].icpc is None:
            s47s[-1] = Section47(s47s[-1].start, day, False)
        # CIN plans
        if to in PLAN and frm not in PLAN:
            plans.append(Interval(day))
        if frm in PLAN and to not in PLAN and plans and plans[-1].end is None:
            plans[-1] = Interval(plans[-1].start, day)
        # CP plans
        if name == "cp_plan_started":
            cp_plans.append(CpPlan(day, None, tuple(a.get("categories", ())), int(a.get("previous_plans", 0))))
        if name == "cp_review" and cp_plans and cp_plans[-1].end is None:
            p = cp_plans[-1]
            cp_plans[-1] = CpPlan(p.start, None, p.categories, p.previous, p.reviews + (day,))
        if frm == "child_protection" and to != "child_protection" and cp_plans and cp_plans[-1].end is None:
            p = cp_plans[-1]
            cp_plans[-1] = CpPlan(p.start, day, p.categories, p.previous, p.reviews)
        if to in ENDED and frm not in ENDED:
            closure, reason = day, facts.get("closure_reason")
        if name == "child_died":
            died = day
    # What the ending cut short ends with it.
    if closure is not None:
        if assessments and assessments[-1].authorised is None:
            assessments[-1] = Assessment(assessments[-1].start, closure, assessments[-1].factors)
        if s47s and s47s[-1].icpc is None and not s47s[-1].not_required:
            s47s[-1] = Section47(s47s[-1].start, None, True)
    nfa = (closure is not None and left_referral_to in ENDED and not assessments and not s47s and not plans)
    return Episode(case_id, child, referral, source, need, closure, reason, nfa, died,
                   tuple(assessments), tuple(s47s), tuple(plans), tuple(cp_plans))


def in_window(ep: Episode, start: date) -> Episode | None:
    """The episode as the return carries it: what ended before W left out."""
    if ep.closure is not None and ep.closure < start:
        return None
    return Episode(
        ep.case_id, ep.child, ep.referral, ep.source, ep.need, ep.closure, ep.reason, ep.nfa, ep.died,
        tuple(a for a in ep.assessments if a.authorised is None or a.authorised >= start),
        tuple(s for s in ep.s47s if (s.icpc or s.start) >= start or (s.icpc is None and not s.not_required)),
        tuple(p for p in ep.plans if p.end is None or p.end >= start),
        tuple(c for c in ep.cp_plans if c.end is None or c.end >= start),
    )


# -- the XML -------------------------------------------------------------------

def _sub(parent, tag, text=None):
    e = ET.SubElement(parent, tag)
    if text is not None:
        e.text = str(text)
    return e


KEY_VARIABLE = "CINFLOW_PSEUDONYM_KEY"
KEY_BYTES = 16  # 128 bits at least
_NEW_KEY = "make one with 'cinflow census --new-key'"


def new_key() -> str:
    """A fresh key for ``--pseudonymise``: 256 random bits as 64 hex digits."""
    return secrets.token_hex(32)


def pseudonym_key(text: str | None) -> bytes:
    """The pseudonymisation key from ``text`` (CINFLOW_PSEUDONYM_KEY), refused
    unless it holds at least 128 bits: 32 or more hex digits, or 22 or more
    base64 (standard or URL-safe) characters that decode to 16 or more bytes,
    and no repeated or counting pattern.  Returns the bytes the keyed hash
    uses (the key's text, so a key gives the pseudonyms it always gave)."""
    s = (text or "").strip()
    if not s:
        raise InputError(f"--pseudonymise needs a key of at least 128 bits in {KEY_VARIABLE}; {_NEW_KEY}")
    raw = None
    if re.fullmatch(r"[0-9a-fA-F]+", s) and len(s) >= 2 * KEY_BYTES:
        raw = bytes.fromhex(s if len(s) % 2 == 0 else "0" + s)
    elif re.fullmatch(r"[A-Za-z0-9+/_-]+={0,2}", s):
        body = s.rstrip("=").replace("+", "-").replace("/", "_")
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError):
            raw = None
    if raw is None or len(raw) < KEY_BYTES:
        raise InputError(f"{KEY_VARIABLE} is too weak: a key needs at least 128 bits (32 or more hex digits, or 22 "
                         f"or more base64 characters); {_NEW_KEY}")
    steps = {(b - a) % 256 for a, b in zip(raw, raw[1:])}
    if len(set(raw)) < 10 or len(steps) < 8:
        raise InputError(f"{KEY_VARIABLE} is too weak: it is a repeated or counting pattern, not a random key; "
                         f"{_NEW_KEY}")
    return s.encode()


def child_id(case_id: str, key: bytes | None) -> str:
    if key is not None:
        return "P" + hmac.new(key, case_id.encode(), hashlib.sha256).hexdigest()[:19].upper()
    return re.sub(r"[^A-Za-z0-9]", "", case_id)


def check(ep: Episode, start: date, reference: date, lachildid: str, shown: str | None = None) -> list[CensusProblem]:
    """What the census needs that this episode cannot give; each problem names
    the case as ``shown`` (the pseudonym, in a pseudonymised extract)."""
    out = []
    c = ep.case_id if shown is None else shown
    if not lachildid or len(lachildid) > 20:
        out.append(CensusProblem(c, f"LAchildID {lachildid!r} must be 1-20 letters and digits"))
    if ep.source is None:
        out.append(CensusProblem(c, "no referral source recorded (referral_received.referral_source)"))
    if not ep.nfa and ep.need is None:
        out.append(CensusProblem(c, "no primary need code recorded (referral_received or assessment_completed primary_need)"))
    if ep.closure is not None and ep.reason is None:
        out.append(CensusProblem(c, f"closed on {ep.closure.isoformat()} with no reason for closure"))
    for a in ep.assessments:
        if a.authorised is None and a.start < start:
            out.append(CensusProblem(c, f"assessment open since {a.start.isoformat()}, before the collection year"))
    if ep.child.get("disabled") and not ep.child.get("disability_codes"):
        out.append(CensusProblem(c, "the child is recorded as disabled but with no disability codes (child.disability_codes)"))
    for cp in ep.cp_plans:
        if not cp.categories:
            out.append(CensusProblem(c, f"CP plan from {cp.start.isoformat()} has no category of abuse (cp_plan_started.categories)"))
        if cp.end is not None and cp.end <= cp.start:
            out.append(CensusProblem(c, f"CP plan from {cp.start.isoformat()} ends on {cp.end.isoformat()}, not after it starts"))
    return out


def build(rows, year: int, la: str, key: bytes | None = None, stamp: datetime | None = None, synthetic: bool = False):
    """``rows``: (case_id, child, facts, events) per case; ``synthetic``:
    every one of them simulated (:func:`census_source`), which the
    return's opening comment says.  Returns the XML text, the problems
    (empty when the return is valid to write) and counts."""
    if not re.fullmatch(r"\d{3}", la):
        raise InputError(f"--la {la!r}: the local authority code is three digits (e.g. 886)")
    start, reference = collection_window(year)
    episodes, problems = [], []
    for case_id, child, facts, events in rows:
        ep = episode_of(case_id, child, facts, events, reference)
        if ep is None:
            continue
        ep = in_window(ep, start)
        if ep is None:
            continue
        lachildid = child_id(case_id, key)
        # A pseudonymised run names no case by its id, not even in a problem.
        problems += check(ep, start, reference, lachildid, lachildid if key is not None else None)
        episodes.append((lachildid, ep))
    seen: dict[str, str] = {}
    for lachildid, ep in episodes:
        if lachildid in seen:
            problems.append(CensusProblem(lachildid, "LAchildID is also another case's") if key is not None else
                            CensusProblem(ep.case_id, f"LAchildID {lachildid} is also case {seen[lachildid]}'s"))
        seen[lachildid] = ep.case_id
    episodes.sort(key=lambda t: t[0])
    root = ET.Element("Message")
    header = _sub(root, "Header")
    cd = _sub(header, "CollectionDetails")
    _sub(cd, "Collection", "CIN")
    _sub(cd, "Year", year)
    _sub(cd, "ReferenceDate", reference.isoformat())
    src = _sub(header, "Source")
    _sub(src, "SourceLevel", "L")
    _sub(src, "LEA", la)
    _sub(src, "SoftwareCode", "cinflow")
    _sub(src, "Release", __version__)
    _sub(src, "SerialNo", "001")
    _sub(src, "DateTime", (stamp or datetime.now()).replace(microsecond=0).isoformat())
    children = _sub(root, "Children")
    counts = {"children": 0, "episodes": 0, "assessments": 0, "section_47s": 0, "cin_plans": 0, "cp_plans": 0,
              "closed": 0, "referral_nfa": 0}
    wd = england()
    for lachildid, ep in episodes:
        ch = ep.child
        child = _sub(children, "Child")
        ids = _sub(child, "ChildIdentifiers")
        _sub(ids, "LAchildID", lachildid)
        if ch.get("upn"):
            if key is None:  # a pseudonymised extract drops the UPN; the child still has one, so no UPNunknown
                _sub(ids, "UPN", ch["upn"])
        elif ch.get("upn_unknown_reason"):
            _sub(ids, "UPNunknown", ch["upn_unknown_reason"])
        _sub(ids, "PersonBirthDate", ch["birth_date"])
        _sub(ids, "Sex", ch.get("sex") or "U")
        if ep.died is not None:
            _sub(ids, "PersonDeathDate", ep.died.isoformat())
        chars = _sub(child, "ChildCharacteristics")
        _sub(chars, "Ethnicity", ch.get("ethnicity") or "NOBT")
        dis = _sub(chars, "Disabilities")
        codes = list(ch.get("disability_codes") or ())
        if not codes:
            codes = ["NONE"]  # a disabled child without codes is a problem, reported above
        for code in codes:
            _sub(dis, "Disability", code)
        det = _sub(child, "CINdetails")
        _sub(det, "CINreferralDate", ep.referral.isoformat())
        _sub(det, "ReferralSource", ep.source or "10")
        if ep.need and not ep.nfa:
            _sub(det, "PrimaryNeedCode", ep.need)
        if ep.closure is not None:
            _sub(det, "CINclosureDate", ep.closure.isoformat())
            _sub(det, "ReasonForClosure", ep.reason or "RC7")
            counts["closed"] += 1
        for a in ep.assessments:
            el = _sub(det, "Assessments")
            _sub(el, "AssessmentActualStartDate", a.start.isoformat())
            if a.authorised is not None:
                _sub(el, "AssessmentAuthorisationDate", a.authorised.isoformat())
                if a.factors:
                    fac = _sub(el, "FactorsIdentifiedAtAssessment")
                    for f in a.factors:
                        _sub(fac, "AssessmentFactors", f)
        for p in ep.plans:
            el = _sub(det, "CINPlanDates")
            _sub(el, "CINPlanStartDate", p.start.isoformat())
            if p.end is not None:
                _sub(el, "CINPlanEndDate", p.end.isoformat())
        for s in ep.s47s:
            el = _sub(det, "Section47")
            _sub(el, "S47ActualStartDate", s.start.isoformat())
            _sub(el, "InitialCPCtarget", wd.add(s.start, ICPC_TARGET_WORKING_DAYS).isoformat())
            if s.icpc is not None:
                _sub(el, "DateOfInitialCPC", s.icpc.isoformat())
            _sub(el, "ICPCnotRequired", "1" if s.not_required else "0")
        _sub(det, "ReferralNFA", "1" if ep.nfa else "0")
        for cp in ep.cp_plans:
            el = _sub(det, "ChildProtectionPlans")
            _sub(el, "CPPstartDate", cp.start.isoformat())
            if cp.end is not None:
                _sub(el, "CPPendDate", cp.end.isoformat())
            category = cp.categories[0] if len(cp.categories) == 1 else "MUL"
            _sub(el, "InitialCategoryOfAbuse", category if cp.categories else "")
            _sub(el, "LatestCategoryOfAbuse", category if cp.categories else "")
            _sub(el, "NumberOfPreviousCPP", cp.previous)
            if cp.reviews:
                reviews = _sub(el, "Reviews")  # one <Reviews> holding every date, as the XSD has it
                for day in cp.reviews:
                    _sub(reviews, "CPPreviewDate", day.isoformat())
        counts["children"] += 1
        counts["episodes"] += 1
        counts["assessments"] += len(ep.assessments)
        counts["section_47s"] += len(ep.s47s)
        counts["cin_plans"] += len(ep.plans)
        counts["cp_plans"] += len(ep.cp_plans)
        counts["referral_nfa"] += ep.nfa
    ET.indent(root)
    if synthetic:
        notice = ("CIN census return made by cinflow from simulated cases only: synthetic data, no real child's "
                  "record" + ("; LAchildID is a keyed hash and UPNs are removed." if key is not None else "."))
    elif key is not None:
        notice = ("Pseudonymised extract: LAchildID is a keyed hash and UPNs are removed; for analysis outside the "
                  "council, not for submission. It still holds each child's birth date, sex, ethnicity and "
                  "disabilities and the dates of their social care history: pseudonymised data is personal data, "
                  "handle it accordingly.")
    else:
        notice = ("CIN census return made by cinflow. It holds personal data about children (identifiers, dates of "
                  "birth, sex, ethnicity, disabilities, social care history): keep and send it under your data "
                  "protection arrangements.")
    text = ("<?xml version='1.0' encoding='UTF-8'?>\n<!-- " + notice + " -->\n"
            + ET.tostring(root, encoding="unicode") + "\n")
    return text, problems, counts


def census_authority(store, authority: str | None) -> str | None:
    """The authority a return is for: ``authority``, or the only one the
    store holds (None when it holds no cases); an :class:`InputError` when
    it is not there, or when the store holds several and none was chosen."""
    authorities = store.authorities()
    if authority is None:
        if len(authorities) > 1:
            raise InputError(f"{store.path} holds cases of {', '.join(authorities)}: choose one with --authority")
        return authorities[0] if authorities else None
    if authority not in authorities:
        raise InputError(f"{store.path} holds no cases of {authority!r} (it has: {', '.join(authorities) or 'none'})")
    return authority


def census_source(store, authority: str | None):
    """What a return is built from: ``(rows, synthetic)``, the rows of
    :func:`store_rows` and whether every case of the authority was made by
    the simulator (``provenance``: then the return holds no real child's
    data).  The store's integrity check runs first, and the authority is
    resolved once (:func:`census_authority`)."""
    store.check("nothing was written")
    authority = census_authority(store, authority)
    if authority is None:
        return iter(()), False
    return _case_rows(store, authority), store.recorded_cases(authority) == 0


def store_rows(store, authority: str | None):
    """(case_id, child, facts, events) for each case in the store (one
    authority) that has events, in id order, read a batch at a time
    (:meth:`~cinflow.store.Store.census_cases`).  A damaged database
    (the store's integrity check) is refused first."""
    yield from census_source(store, authority)[0]


def _case_rows(store, authority: str):
    for case_id, child, facts, events in store.census_cases(authority):
        if events:
            yield case_id, child, facts, events
