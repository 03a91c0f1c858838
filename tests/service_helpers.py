"""Helpers for the service tests: a TestClient over a SQLite store, the
shipped Kent example as API requests, and a real ``cinflow serve`` process."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import httpx

from cinflow.convert import load_yaml
from cinflow.store import Store

with warnings.catch_warnings():
    # Starlette asks for httpx2 and warns (as an error here) when it finds httpx instead.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient  # noqa: F401  (re-exported)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def scenario(name: str) -> dict:
    """A shipped example as the plain data a client would send (dates as text)."""
    path = EXAMPLES / f"{name}.yaml"
    return load_yaml(path.read_text(encoding="utf-8"), str(path))


def make_tokens(db, registry, specs) -> dict[str, str]:
    """``{name: (authority, read_only)}`` -> ``{name: secret}``."""
    with Store(db, registry) as store:
        return {name: store.create_token(name, authority, read_only=ro) for name, (authority, ro) in specs.items()}


def bearer(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


def open_case(client, headers, case_id: str, authority: str, child: dict, events=()) -> list:
    """Create a case and post ``events`` one by one at the version each
    response gives; returns every response (the creation first)."""
    responses = [client.post("/api/cases", json={"authority": authority, "case": case_id, "child": child},
                             headers=headers)]
    assert responses[0].status_code == 201, responses[0].text
    version = 0
    for ev in events:
        r = client.post(f"/api/cases/{case_id}/events", json={"expected_version": version, "event": ev},
                        headers=headers)
        assert r.status_code == 200, r.text
        version = r.json()["version"]
        responses.append(r)
    return responses


def kent_example(client, headers, case_id: str = "K-001") -> list:
    """The shipped Kent example (examples/kent-cin-plan.yaml) through the API."""
    sc = scenario("kent-cin-plan")
    return open_case(client, headers, case_id, "kent", sc["child"], sc["events"])


# Two more Kent cases with worked deadlines (England's 45 working days from referral):
# K-002 referred 2026-03-02, its assessment due 2026-05-07 (overdue by the end of June);
# K-003 referred 2026-06-01, due 2026-08-03 (open then).
K002 = ("K-002", {"birth_date": "2016-09-01"}, [{"date": "2026-03-02", "event": "referral_received"},
                                               {"date": "2026-03-03", "event": "consent_given"}])
K003 = ("K-003", {"birth_date": "2012-01-20"}, [{"date": "2026-06-01", "event": "referral_received"},
                                               {"date": "2026-06-02", "event": "consent_given"}])

# As of 2026-06-30, Kent's due and overdue work for K-001 (the example), K-002 and K-003, soonest first.
KENT_DUE_2026_06_30 = [
    ("2026-04-17", "overdue", "K-001", "visit"),
    ("2026-05-07", "overdue", "K-002", "assessment"),
    ("2026-05-15", "overdue", "K-001", "case_note"),
    ("2026-05-21", "overdue", "K-001", "plan_authorisation"),
    ("2026-05-29", "overdue", "K-001", "minutes"),
    ("2026-08-03", "open", "K-003", "assessment"),
    ("2026-08-06", "open", "K-001", "cin_review"),
]


def kent_worklist(client, headers) -> None:
    kent_example(client, headers)
    for case_id, child, events in (K002, K003):
        open_case(client, headers, case_id, "kent", child, events)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cinflow_exe() -> list[str]:
    return [sys.executable, "-m", "cinflow"]


@contextlib.contextmanager
def served(db, *extra, env=None, timeout: float = 30.0, stdout: bool = False):
    """``cinflow serve --db DB`` in a subprocess on a free port; yields
    ``(base_url, process)`` once it answers, and stops it after.  The
    server's stderr (its log) is in ``process.log`` after the block, and
    with ``stdout`` what it printed there in ``process.stdout_text``."""
    port = free_port()
    log_path = Path(db).with_suffix(f".{port}.log")
    out_path = Path(db).with_suffix(f".{port}.out")
    log, out = open(log_path, "w+b"), open(out_path, "w+b")
    proc = subprocess.Popen([*cinflow_exe(), "serve", "--db", str(db), "--port", str(port), *extra],
                            stdout=out if stdout else subprocess.DEVNULL, stderr=log,
                            env={**os.environ, **(env or {})})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"cinflow serve exited {proc.returncode}: {log_path.read_text()}")
            try:
                if httpx.get(base + "/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"cinflow serve did not answer in {timeout} s: {log_path.read_text()}")
            time.sleep(0.1)
        yield base, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        out.close()
        proc.log = log_path.read_text(encoding="utf-8", errors="replace")
        proc.stdout_text = out_path.read_text(encoding="utf-8", errors="replace")
