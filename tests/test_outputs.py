"""No output ever costs data: every file cinflow writes is replaced in one
step or not at all, never over a database; ``-`` is standard output (and
standard input for ``run``); the report puts everything it takes from the
database on the page as text, and says it is synthetic only when it is."""

import errno
import html
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from cinflow import output
from cinflow.cli import main
from cinflow.simulation import report as report_module
from cinflow.simulation.tables import CSV_FILES, write_csv
from cinflow.store import Store

from helpers import chromium, run

SCENARIO = """authority: kent
child: {birth_date: 2014-06-12}
events:
  - {date: 2026-01-05, event: referral_received}
  - {date: 2026-01-06, event: consent_given, young_person_consent: true}
"""
IMG = "<img src=x onerror=document.title='pwned'>"
SCRIPT = "</script><script>document.title='pwned'</script>"


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cinflow: error: ") and "Traceback" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def sim_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("outputs") / "sim.db"
    assert main(["simulate", "--authority", "kent", "--referrals", "20", "--db", str(db), "--quiet"]) == 0
    return db


@pytest.fixture
def db(sim_db, tmp_path):
    """A private copy of the small simulation."""
    copy = tmp_path / "sim.db"
    shutil.copyfile(sim_db, copy)
    return copy


def census_args(db, out):
    return ["census", "--db", str(db), "--authority", "kent", "--year", "2027", "--la", "886", "-o", str(out),
            "--datetime", "2027-04-15T09:00:00"]


def leftovers(folder: Path, *keep) -> list[str]:
    """Files in ``folder`` besides ``keep`` and the database's own journal files."""
    return sorted(p.name for p in folder.iterdir() if p.name not in keep and not p.name.startswith("sim.db-"))


# -- never over a database ----------------------------------------------------------

@pytest.mark.parametrize("spelling", ["same", "dotted", "symlink"])
def test_census_into_the_database_it_reads_is_refused_and_the_database_is_unchanged(db, tmp_path, capsys, spelling):
    before = db.read_bytes()
    target = {"same": db, "dotted": tmp_path / "." / "sub" / ".." / db.name, "symlink": tmp_path / "link.xml"}[spelling]
    (tmp_path / "sub").mkdir()
    if spelling == "symlink":
        target.symlink_to(db)
    code, out, err = run(census_args(db, target), capsys)
    assert code == 2 and out == ""
    assert "is the database being read" in one_line(err) and "nothing was written" in err
    assert db.read_bytes() == before
    assert leftovers(tmp_path, "sim.db", "sub", "link.xml") == []  # no temporary file
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("sim.db-")]  # the database was never opened


def test_any_sqlite_file_is_refused_as_an_output(db, tmp_path, capsys):
    other = tmp_path / "other.db"
    Store(other).close()
    before = other.read_bytes()
    code, _, err = run(["report", str(db), "--html", str(other)], capsys)
    assert code == 2 and "is a SQLite database" in one_line(err)
    code, _, err = run(census_args(db, other), capsys)
    assert code == 2 and "is a SQLite database" in one_line(err)
    assert other.read_bytes() == before


def test_report_into_its_own_database_is_refused(db, capsys):
    before = db.read_bytes()
    code, _, err = run(["report", str(db), "--html", str(db)], capsys)
    assert code == 2 and "is the database being read" in one_line(err) and db.read_bytes() == before


def test_simulate_refuses_a_db_among_its_csv_files_before_running(tmp_path, capsys):
    folder = tmp_path / "csv"
    code, _, err = run(["simulate", "--authority", "kent", "--referrals", "5", "--db", str(folder / "overview.csv"),
                        "--csv", str(folder), "--quiet"], capsys)
    assert code == 2 and "is the database being read" in one_line(err)
    assert not (folder / "overview.csv").exists()


# -- a failed write leaves the old file as it was -----------------------------------

def test_a_failed_replace_leaves_the_old_report_and_no_temporary_file(db, tmp_path, capsys, monkeypatch):
    out = tmp_path / "report.html"
    out.write_bytes(b"the old report")

    def refuse(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    code, _, err = run(["report", str(db), "--html", str(out)], capsys)
    assert code == 2
    line = one_line(err)
    assert f"cannot write {out}" in line and "No space left on device" in line and "left as it was" in line
    assert out.read_bytes() == b"the old report"
    assert leftovers(tmp_path, "sim.db", "report.html") == []


def test_a_write_failing_midway_leaves_the_old_return(db, tmp_path, capsys, monkeypatch):
    out = tmp_path / "census.xml"
    out.write_bytes(b"last year's return")
    real_fsync = os.fsync

    def disk_full(fd):  # the data is in the temporary file when the disk fills
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    code, _, err = run(census_args(db, out), capsys)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert code == 2 and "No space left on device" in one_line(err)
    assert out.read_bytes() == b"last year's return"
    assert leftovers(tmp_path, "sim.db", "census.xml") == []  # no temporary file


def test_no_permission_to_write_the_folder_is_one_line(db, tmp_path, capsys, monkeypatch):
    out = tmp_path / "report.html"
    out.write_bytes(b"kept")

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(output.tempfile, "mkstemp", denied)
    code, _, err = run(["report", str(db), "--html", str(out)], capsys)
    assert code == 2 and "Permission denied" in one_line(err) and out.read_bytes() == b"kept"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_leaves_the_old_file(db, tmp_path, capsys):
    folder = tmp_path / "ro"
    folder.mkdir()
    out = folder / "report.html"
    out.write_bytes(b"kept")
    folder.chmod(0o555)
    try:
        code, _, err = run(["report", str(db), "--html", str(out)], capsys)
    finally:
        folder.chmod(0o755)
    assert code == 2 and "Permission denied" in one_line(err) and out.read_bytes() == b"kept"
    assert leftovers(folder, "report.html") == []


def test_csv_files_are_written_all_or_none(db, tmp_path, monkeypatch):
    with Store(db) as store:
        summary = json.loads(next(store.db.query("SELECT summary FROM simulations"))["summary"])
    folder = tmp_path / "csv"
    written = write_csv(summary, folder)
    assert [p.name for p in written] == list(CSV_FILES)
    assert (folder / "overview.csv").read_bytes().startswith(b"authority,cases,referred_in_window,open_at_window_start,plans_open_at_start,plans_open_at_end,events,deadlines,cases_stored\r\n")
    for p in written:
        p.write_bytes(b"old " + p.name.encode())
    calls, real_fsync = [], os.fsync

    def fail_fifth(fd):
        calls.append(fd)
        if len(calls) == 5:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fail_fifth)
    with pytest.raises(output.InputError, match="No space left on device"):
        write_csv(summary, folder)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert sorted(p.name for p in folder.iterdir()) == sorted(CSV_FILES)  # no temporary file left
    assert all(p.read_bytes() == b"old " + p.name.encode() for p in folder.iterdir())


def test_a_replaced_file_keeps_its_permissions_and_a_link_is_written_through(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    target.chmod(0o640)
    output.write_output(target, "new")
    assert target.read_text() == "new" and target.stat().st_mode & 0o777 == 0o640
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    output.write_output(link, "through")
    assert link.is_symlink() and target.read_text() == "through"
    fresh = tmp_path / "fresh.txt"
    output.write_output(fresh, "x")
    umask = os.umask(0)
    os.umask(umask)
    assert fresh.stat().st_mode & 0o777 == 0o666 & ~umask


# -- "-" is standard output, and standard input for run ------------------------------

def test_dash_writes_the_census_and_the_report_to_standard_output(db, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(census_args(db, "-"), capsys)
    assert code == 0 and out.startswith("<?xml") and "<Message" in out
    assert "Wrote the return to standard output" in err
    code, out, err = run(["report", str(db), "--html", "-"], capsys)
    assert code == 0 and out.startswith("<!doctype html>") and out.rstrip().endswith("</html>")
    assert "Wrote the report to standard output" in err and "no personal data" in err
    assert not (tmp_path / "-").exists()


def test_run_dash_reads_the_scenario_from_standard_input(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(SCENARIO))
    code, out, _ = run(["run", "-", "--format", "json"], capsys)
    assert code == 0 and json.loads(out)["case"] == "stdin"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(("case: K-9\n" + SCENARIO).encode())))
    code, out, _ = run(["run", "-", "--format", "json"], capsys)
    assert code == 0 and json.loads(out)["case"] == "K-9"


def test_errors_in_a_scenario_on_standard_input_name_stdin(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("authority: kent\nevents: []\n"))
    code, _, err = run(["run", "-"], capsys)
    assert code == 2 and one_line(err).startswith("cinflow: error: <stdin>: missing 'child'")
    monkeypatch.setattr(sys, "stdin", io.StringIO("authority: [kent\n"))
    code, _, err = run(["run", "-"], capsys)
    assert code == 2 and one_line(err).startswith("cinflow: error: <stdin>:")
    monkeypatch.setattr(sys, "stdin", io.StringIO(SCENARIO.replace("2014-06-12", "2014-13-40")))
    code, _, err = run(["run", "-"], capsys)
    assert code == 2 and one_line(err).startswith("cinflow: error: <stdin>: child.birth_date:")


# -- the report: escaped, and honest about what it holds -----------------------------

def test_the_embedded_data_cannot_close_its_script_element():
    hostile = {"a": SCRIPT, "b": "<!-- x -->", "c": "line\u2028break\u2029", IMG: "&amp;"}
    text = report_module.script_json(hostile)
    assert "</" not in text and "<!--" not in text and "<" not in text and "\u2028" not in text
    assert "\u2029" not in text and json.loads(text) == hostile


def test_the_report_script_never_builds_markup_from_data():
    code = resources.files("cinflow.simulation").joinpath("report.js").read_text(encoding="utf-8")
    body = "\n".join(line for line in code.splitlines() if not line.lstrip().startswith("//"))
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in body, sink


RECORDED = """authority: kent
case: REAL-1
child: {birth_date: 2014-06-12}
events:
  - {date: 2026-04-02, event: referral_received}
  - {date: 2026-04-03, event: manager_decision, kind: closure_rationale, role: team_manager, reason: "Gran Mrs Smythe phoned"}
  - {date: 2026-04-06, event: case_closed, reason: "family moved to Leeds after a row"}
"""


def test_a_recorded_case_is_personal_data_and_its_free_text_stays_out(db, tmp_path, capsys):
    scenario = tmp_path / "real.yaml"
    scenario.write_text(RECORDED)
    assert run(["run", str(scenario), "--db", str(db)], capsys)[0] == 0
    out = tmp_path / "r.html"
    code, msg, _ = run(["report", str(db), "--html", str(out), "--case", "REAL-1"], capsys)
    page = out.read_text()
    assert code == 0 and "personal data" in msg and "no personal data" not in msg
    assert "Synthetic data only" not in page and "synthetic case" not in page
    assert "real case record" in page and "personal data" in page
    assert "Smythe" not in page and "Leeds" not in page and "a row" not in page
    data = json.loads(re.search(r'<script id="data" type="application/json">(.*?)</script>', page, re.S).group(1))
    closed = [e for e in data["case"]["events"] if e["event"] == "case_closed"]
    assert closed and all(e["detail"] == {"reason": "RC7"} for e in closed)
    decision = next(e for e in data["case"]["events"] if e["event"] == "manager_decision")
    assert decision["detail"] == {"role": "team_manager"}


def test_a_simulated_case_keeps_the_synthetic_banner_unless_real_cases_are_counted(db, tmp_path, capsys):
    out = tmp_path / "r.html"
    with Store(db) as store:
        case_id = store.case_ids("kent")[0]
        assert next(store.db.query("SELECT provenance FROM cases WHERE id = ?", [case_id]))["provenance"] == "simulated"
    code, msg, _ = run(["report", str(db), "--html", str(out), "--case", case_id], capsys)
    assert code == 0 and "no personal data" in msg and "Synthetic data only" in out.read_text()
    scenario = tmp_path / "real.yaml"
    scenario.write_text(RECORDED)
    assert run(["run", str(scenario), "--db", str(db)], capsys)[0] == 0
    code, msg, _ = run(["report", str(db), "--html", str(out), "--case", case_id], capsys)
    assert code == 0 and "no personal data" not in msg and "Synthetic data only" not in out.read_text()
    assert "1 recorded (real) case" in out.read_text()


def _poison(db: Path) -> str:
    """Hostile text in the authority, a case id, a state, a deadline name and
    the summary's keys; returns the hostile case id."""
    conn = sqlite3.connect(db)
    try:
        with conn:
            case_id = conn.execute("SELECT case_id FROM events GROUP BY case_id ORDER BY count(*) DESC LIMIT 1").fetchone()[0]
            for table, column in (("cases", "id"), ("events", "case_id"), ("deadlines", "case_id")):
                conn.execute(f"UPDATE {table} SET {column} = ? WHERE {column} = ?", [SCRIPT, case_id])
            conn.execute("UPDATE cases SET authority = ?, provenance = 'simulated'", [IMG])
            conn.execute("UPDATE deadlines SET name = ? WHERE case_id = ?", [IMG + "deadline", SCRIPT])
            conn.execute("UPDATE events SET to_state = ? WHERE case_id = ? AND from_state = 'referral' AND accepted = 1",
                         [SCRIPT + "state", SCRIPT])
            sid, text = conn.execute("SELECT id, summary FROM simulations").fetchone()
            summary = json.loads(text)
            summary["authorities"] = {IMG: a for a in summary["authorities"].values()}
            summary["parameters"]["authorities"] = [IMG]
            auth = summary["authorities"][IMG]
            auth["deadline_compliance"][SCRIPT] = {"met": 1, "late": 0, "overdue": 0, "missed": 0, "open": 0,
                                                   "cancelled": 0}
            auth["refusals"][IMG + "rule"] = 1
            auth["days_in_state"][SCRIPT] = {"median": 1, "p90": 2, "stays": 3}
            conn.execute("UPDATE simulations SET summary = ? WHERE id = ?", [json.dumps(summary), sid])
    finally:
        conn.close()
    return SCRIPT


@pytest.mark.oracle
def test_hostile_text_in_the_database_stays_text_in_the_browser(db, tmp_path, capsys):
    case_id = _poison(db)
    out = tmp_path / "report.html"
    code, _, err = run(["report", str(db), "--html", str(out), "--case", case_id], capsys)
    assert code == 0, err
    page = out.read_text()
    title = re.search(r"<title>(.*?)</title>", page, re.S).group(1)
    markup = re.sub(r"(<script\b[^>]*>).*?</script>", r"\1</script>", page, flags=re.S)  # less the code
    assert page.count("<script") == 3 and "<img" not in markup  # the data, Vega, and the page's own script
    dom = subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000",
                          "--dump-dom", out.as_uri()], capture_output=True, text=True, timeout=120).stdout
    dom_title = re.search(r"<title>(.*?)</title>", dom, re.S).group(1)
    assert html.unescape(dom_title) == html.unescape(title) and "cinflow simulation" in dom_title
    figures = re.search(r'data-figures="(\d+)"', dom).group(1)
    assert f'data-charts="{figures}"' in dom  # every chart drawn, with the hostile data
    dom_markup = re.sub(r"(<script\b[^>]*>).*?</script>", r"\1</script>", dom, flags=re.S)
    assert "<img" not in dom_markup and dom.count("<script") == 3
    assert "&lt;img src=x onerror=document.title='pwned'&gt;" in dom  # drawn as text (headings, tables, SVG)
    assert "&lt;/script&gt;&lt;script&gt;document.title='pwned'&lt;/script&gt;" in dom
    tables = dom.split('id="tables"', 1)[1]
    assert "<td>&lt;/script&gt;" in tables and "<th>&lt;img src=x" in tables


def test_another_databases_journal_file_is_never_an_output(db, tmp_path, capsys):
    """Writing over a SQLite -wal, -shm or -journal file would lose that
    database's committed pages: refused like the database itself."""
    import sqlite3

    sqlite3.connect(tmp_path / "victim.db").close()
    for suffix in ("-wal", "-shm", "-journal"):
        target = tmp_path / f"victim.db{suffix}"
        code, _, err = run(["report", str(db), "--html", str(target)], capsys)
        assert code == 2 and "SQLite journal file" in one_line(err) and not target.exists()
        code, _, err = run(["census", "--db", str(db), "--authority", "kent", "--year", "2027", "--la", "886",
                            "-o", str(target)], capsys)
        assert code == 2 and "SQLite journal file" in one_line(err) and not target.exists()


def test_bad_arguments_are_one_line(db, tmp_path, capsys):
    code, _, err = run(["simulate", "--authority", "kent", "--referrals", "20", "--start", "9999-06-01",
                        "--db", str(tmp_path / "x.db")], capsys)
    assert code == 2 and "outside the dates cinflow supports" in one_line(err)
    code, _, err = run(["simulate", "--authority", "kent", "--referrals", "99999999999999999999",
                        "--db", str(tmp_path / "x.db")], capsys)
    assert code == 2 and "--referrals" in one_line(err) and not (tmp_path / "x.db").exists()
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    code, _, err = run(["tick", "--db", str(empty), "--as-of", "2027-01-01"], capsys)
    assert code == 2 and "is empty" in one_line(err) and empty.stat().st_size == 0


def test_tick_refuses_a_damaged_database_before_writing(db, capsys):
    data = bytearray(db.read_bytes())
    at = int(len(data) * 0.9) // 4096 * 4096
    data[at:at + 4096] = bytes(range(256)) * 16
    db.write_bytes(bytes(data))
    before = db.read_bytes()
    code, _, err = run(["tick", "--db", str(db), "--as-of", "2040-01-01"], capsys)
    assert code == 2 and "damaged" in one_line(err) and db.read_bytes() == before
