"""A simulation written as a folder of Parquet files (``cinflow simulate
--out DIR``), and read back for ``cinflow report`` and ``cinflow census``.

For runs too big for one SQLite file.  The folder holds::

    DIR/cases/part-00000.parquet       one file per table per chunk (job order),
    DIR/events/part-00000.parquet      the columns of the store's tables, the
    DIR/deadlines/part-00000.parquet   same values (dates as ISO text, JSON as text)
    DIR/summary.json                   the run's summary (as the database's simulations row)
    DIR/manifest.json                  what the folder is; finished or not; parts written
    DIR/README.txt                     the same, for a person

Each chunk's parts are written by the worker that ran it (to the run's shard
folder, beside DIR) and moved into DIR in job order by the parent, which
then rewrites ``manifest.json`` (its ``parts`` and the summary so far): so a
run stopped part-way leaves a folder that says it is unfinished and what it
covers, as a database does.  DuckDB (``read_parquet('DIR/events/*.parquet')``),
pandas and pyarrow read the folders as tables directly.

:class:`ParquetRun` reads a folder with the store's read methods that
``report`` and ``census`` use, a part (one chunk: ``runner.chunk_size`` cases and their
events) at a time, so memory stays flat whatever the size of the run.
"""

from __future__ import annotations

import heapq
import json
import os
import shutil
from collections import Counter
from pathlib import Path

from ..errors import InputError, StoreError
from ..store.queries import CENSUS_EVENT_COLUMNS
from ..store.rows import CASE_COLUMNS, DEADLINE_COLUMNS, EVENT_COLUMNS

FORMAT = "cinflow-simulation-parquet"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SUMMARY = "summary.json"
TABLES = ("cases", "events", "deadlines")
COLUMNS = {"cases": CASE_COLUMNS + ("provenance",), "events": EVENT_COLUMNS, "deadlines": DEADLINE_COLUMNS}
"""Each table's columns: the store's, in its row order (a case's provenance last)."""
INTEGERS = {"version", "seq", "accepted", "automatic"}
COMPRESSION = "zstd"
EXTRA = "--out needs the parquet extra: pip install 'cinflow[parquet]'"

README = """\
A simulation by cinflow {version} (cinflow simulate --out): SYNTHETIC DATA ONLY.
No real child is in it: every case was made by the simulator from a
calibration of published national figures.

  cases/part-NNNNN.parquet      one row per case: {cases}
  events/part-NNNNN.parquet     one row per history item: {events}
  deadlines/part-NNNNN.parquet  one row per deadline: {deadlines}
  summary.json                  the run's summary (what 'cinflow simulate --format json' printed, less 'seconds')
  manifest.json                 the format, the parameters, whether the run finished, how many parts
                                are written, and the summary of the cases in them

One part per chunk (up to {chunk_max:,} referrals of one authority); a part's cases,
events and deadlines have the same number.  The columns are those of a
cinflow database's tables, with the same values: dates as ISO text
(YYYY-MM-DD), child, facts, heads, attributes, reasons, advice and
exceptions as JSON text, accepted and automatic as 0/1.

Read it with DuckDB:   select event, count(*) from read_parquet('events/*.parquet') group by event
with pandas:           pandas.read_parquet('events')
with pyarrow:          pyarrow.dataset.dataset('events').to_table()
with cinflow:          cinflow report THIS-FOLDER --html report.html
                       cinflow census --db THIS-FOLDER --authority ID --year YYYY --la NNN -o census.xml
"""


def _pyarrow():
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise InputError(EXTRA) from None
    return pyarrow


def _schema(table: str):
    pa = _pyarrow()
    return pa.schema([(c, pa.int64() if c in INTEGERS else pa.string()) for c in COLUMNS[table]])


def check_out(out: Path, create: bool = False) -> None:
    """``out`` can take a run: pyarrow is installed and it is a new or empty
    folder (made, with its parents, if ``create``); else one line."""
    _pyarrow()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file; give a new or empty folder (nothing was changed)")
    if out.is_dir() and any(out.iterdir()):
        raise InputError(f"--out {out} is not empty; simulations write to a new or empty folder (nothing was changed)")
    if create:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"--out {out}: {exc.strerror or exc}") from None


def write_parts(base: str, cases: list[tuple], events: list[tuple], deadlines: list[tuple]) -> None:
    """One chunk's rows as ``<base>.cases.parquet``, ``<base>.events.parquet``
    and ``<base>.deadlines.parquet`` (rows in this order)."""
    pa = _pyarrow()
    import pyarrow.parquet as pq

    for table, rows, extra in (("cases", cases, ("simulated",)), ("events", events, ()), ("deadlines", deadlines, ())):
        schema = _schema(table)
        n = len(rows)
        columns = list(zip(*rows)) if rows else [()] * (len(schema) - len(extra))
        columns += [(value,) * n for value in extra]
        arrays = [pa.array(col, type=field.type) for col, field in zip(columns, schema)]
        pq.write_table(pa.Table.from_arrays(arrays, schema=schema), f"{base}.{table}.parquet", compression=COMPRESSION)


def part_name(n: int) -> str:
    return f"part-{n:05d}.parquet"


def _write_json(path: Path, doc: dict, indent: int | None = None) -> None:
    """Atomically: a reader sees the old file or the new one, never half."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, sort_keys=True, indent=indent) + "\n")
    os.replace(tmp, path)


class ParquetOut:
    """Where a run's shards go with ``--out``: a folder of Parquet parts (the
    runner's sink, as ``_StoreSink`` is for a store)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.parts = 0
        self.parameters: dict = {}

    def _manifest(self, summary_json: str, finished: bool) -> None:
        import cinflow

        _write_json(self.folder / MANIFEST, {
            "format": FORMAT, "format_version": FORMAT_VERSION, "cinflow": cinflow.__version__, "synthetic": True,
            "finished": finished, "parts": self.parts, "tables": {t: list(COLUMNS[t]) for t in TABLES},
            "parameters": self.parameters, "summary": json.loads(summary_json)})

    def begin(self, parameters_json: str, summary_json: str) -> None:
        import cinflow

        check_out(self.folder, create=True)
        for table in TABLES:
            (self.folder / table).mkdir()
        self.parameters = json.loads(parameters_json)
        from .runner import CHUNK_MAX

        (self.folder / "README.txt").write_text(README.format(
            version=cinflow.__version__, chunk_max=CHUNK_MAX,
            **{t: ", ".join(COLUMNS[t]) for t in TABLES}))
        self._manifest(summary_json, False)

    def bulk_load_started(self) -> None:
        pass

    def bulk_load_finished(self) -> None:
        pass

    def load(self, shard: str, summary_json: str) -> None:
        for table in TABLES:
            shutil.move(f"{shard}.{table}.parquet", self.folder / table / part_name(self.parts))
        self.parts += 1
        self._manifest(summary_json, False)

    def finish(self, summary_json: str) -> None:
        _write_json(self.folder / SUMMARY, json.loads(summary_json), indent=2)
        self._manifest(summary_json, True)


# -- reading ---------------------------------------------------------------------------

def is_parquet_run(target) -> bool:
    """Whether ``target`` names a folder (a ``--out`` run, or meant as one)."""
    return not str(target).startswith(("postgresql://", "postgres://")) and Path(str(target)).is_dir()


def open_run(target, registry=None):
    """A store's reader for ``target``: a :class:`ParquetRun` for a folder,
    else a read-only :class:`~cinflow.store.Store`."""
    if is_parquet_run(target):
        return ParquetRun(target)
    from ..store import Store

    return Store(target, registry, read_only=True)


def _window_mask(pc, t, window):
    if not window:
        return None
    return pc.and_(pc.greater_equal(t["date"], window["start"]), pc.less(t["date"], window["end"]))


def _and(pc, *masks):
    out = None
    for m in masks:
        if m is not None:
            out = m if out is None else pc.and_(out, m)
    return out


class ParquetRun:
    """A ``--out`` folder, read with the methods of :class:`~cinflow.store.Store`
    that ``cinflow report`` and ``cinflow census`` use (one simulation, id 1)."""

    def __init__(self, folder):
        self.folder = Path(str(folder))
        self.path = str(folder)
        try:
            manifest = json.loads((self.folder / MANIFEST).read_text())
        except FileNotFoundError:
            raise InputError(f"{self.path} is a folder but not a simulation's --out folder (no {MANIFEST})") from None
        except (OSError, ValueError) as exc:
            raise StoreError(f"{self.path}: cannot read {MANIFEST} ({' '.join(str(exc).split())})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise InputError(f"{self.path}: {MANIFEST} is not a cinflow simulation's manifest")
        if manifest.get("format_version") != FORMAT_VERSION:
            raise StoreError(f"{self.path} is a simulation folder of format version {manifest.get('format_version')}; "
                             f"this cinflow reads version {FORMAT_VERSION}: upgrade cinflow")
        _pyarrow()
        self.manifest = manifest
        self.parts = int(manifest.get("parts", 0))
        self._index: list[tuple[int, str, str, str]] | None = None
        self._flows: dict = {}

    def close(self) -> None:
        pass

    def __enter__(self) -> "ParquetRun":
        return self

    def __exit__(self, *exc) -> None:
        pass

    def _part(self, table: str, n: int) -> Path:
        return self.folder / table / part_name(n)

    def _read(self, table: str, n: int, columns, filters=None):
        import pyarrow.parquet as pq

        path = self._part(table, n)
        try:
            return pq.read_table(path, columns=list(columns), filters=filters)
        except (OSError, ValueError) as exc:  # pyarrow's errors are both (ArrowInvalid is a ValueError)
            raise StoreError(f"cannot read {path}: {' '.join(str(exc).split())[:300]}") from None

    # -- what the store says about itself -------------------------------------------------

    def check(self, consequence: str = "it was not exported") -> None:
        """Every part the manifest counts is there (the store's integrity check)."""
        for table in TABLES:
            for n in range(self.parts):
                if not self._part(table, n).is_file():
                    raise StoreError(f"{self.path} is damaged ({table}/{part_name(n)} is missing); {consequence}")

    def unfinished_simulations(self) -> list[int]:
        return [] if self.manifest.get("finished") else [1]

    def count(self, table: str) -> int:
        if table == "simulations":
            return 1
        if table not in TABLES:
            return 0
        import pyarrow.parquet as pq

        return sum(pq.read_metadata(self._part(table, n)).num_rows for n in range(self.parts))

    def simulation_summary(self, simulation: int | None = None) -> tuple[int, dict] | None:
        if simulation not in (None, 1):
            return None
        return 1, self.manifest["summary"]

    # -- the parts' cases --------------------------------------------------------------

    def index(self) -> list[tuple[int, str, str, str]]:
        """``(part, authority, first id, last id)`` of each part (a part is
        one authority's chunk)."""
        if self._index is None:
            out = []
            for n in range(self.parts):
                t = self._read("cases", n, ("id", "authority"))
                ids, authorities = t["id"].to_pylist(), set(t["authority"].to_pylist())
                if ids:
                    out.append((n, min(authorities), min(ids), max(ids)))
            self._index = out
        return self._index

    def authorities(self) -> list[str]:
        return sorted({a for _, a, _, _ in self.index()})

    def recorded_cases(self, authority: str) -> int:
        """As :meth:`~cinflow.store.Store.recorded_cases` (a simulation's
        folder holds none, but its files say so, not this method)."""
        import pyarrow.compute as pc

        total = 0
        for n, a, _, _ in self.index():  # a part is one authority's
            if a == authority:
                provenance = self._read("cases", n, ("provenance",))["provenance"]
                total += pc.sum(pc.not_equal(provenance, "simulated")).as_py() or 0
        return total

    def census_cases(self, authority: str, batch: int = 0):
        """As :meth:`~cinflow.store.Store.census_cases`: ``(case_id, child,
        facts, events)`` for each case of ``authority`` in id order, a part
        at a time (parts whose ids interleave are merged)."""
        parts = sorted((first, last, n) for n, a, first, last in self.index() if a == authority)
        groups: list[list[int]] = []
        reach = None
        for first, last, n in parts:
            if groups and reach is not None and first <= reach:
                groups[-1].append(n)
                reach = max(reach, last)
            else:
                groups.append([n])
                reach = last
        for group in groups:
            if len(group) == 1:
                yield from self._census_part(group[0], authority)
            else:
                yield from heapq.merge(*(self._census_part(n, authority) for n in group), key=lambda c: c[0])

    def _census_part(self, n: int, authority: str):
        cases = self._read("cases", n, ("id", "authority", "child", "facts")).sort_by("id")
        events = self._read("events", n, ("seq", *CENSUS_EVENT_COLUMNS)).sort_by([("case_id", "ascending"),
                                                                                 ("seq", "ascending")])
        by_case: dict[str, list[dict]] = {}
        for e in events.drop_columns(["seq"]).to_pylist():
            by_case.setdefault(e["case_id"], []).append(e)
        for c in cases.to_pylist():
            if c["authority"] == authority:
                yield c["id"], json.loads(c["child"]), json.loads(c["facts"]), by_case.get(c["id"], [])

    def case_rows(self, case_id: str):
        """As :meth:`~cinflow.store.Store.case_rows`: one case's row, events
        and deadlines, in order; None if there is no such case."""
        for n, _, first, last in self.index():
            if not first <= case_id <= last:
                continue
            found = self._read("cases", n, ("authority", "state", "provenance"), [("id", "=", case_id)]).to_pylist()
            if not found:
                continue
            events = self._read("events", n, EVENT_COLUMNS, [("case_id", "=", case_id)]).sort_by("seq").to_pylist()
            deadlines = self._read("deadlines", n, DEADLINE_COLUMNS, [("case_id", "=", case_id)]).sort_by("seq")
            return found[0], events, deadlines.to_pylist()
        return None

    # -- the report's cohort flow -------------------------------------------------------

    def _flow(self, window: dict | None):
        """(cohort flow, recorded cases it counts): the store's two queries
        (:meth:`~cinflow.store.Store.cohort_flow`, ``recorded_in_flow``)
        in one pass over the parts."""
        key = json.dumps(window, sort_keys=True)
        if key in self._flows:
            return self._flows[key]
        import pyarrow.compute as pc

        steps: Counter = Counter()
        waiting: dict[str, int] = {}
        recorded = 0
        for n in range(self.parts):
            cases = self._read("cases", n, ("id", "authority", "state", "provenance")).to_pylist()
            by_id = {c["id"]: c for c in cases}
            t = self._read("events", n, ("case_id", "date", "accepted", "from_state", "to_state"))
            accepted = pc.equal(t["accepted"], 1)
            in_window = _window_mask(pc, t, window)
            step = _and(pc, pc.equal(t["from_state"], "referral"), accepted, pc.not_equal(t["to_state"], "referral"))
            referred = _and(pc, pc.equal(t["to_state"], "referral"),
                            pc.not_equal(pc.fill_null(t["from_state"], ""), "referral"), accepted)
            stepped = set(t.filter(step)["case_id"].to_pylist())
            for case_id, to_state in zip(*(t.filter(_and(pc, step, in_window)).column(c).to_pylist()
                                           for c in ("case_id", "to_state"))):
                c = by_id.get(case_id)
                if c is not None:
                    steps[(c["authority"], to_state, c["state"])] += 1
            seen: set[str] = set()
            for case_id in t.filter(_and(pc, referred, in_window))["case_id"].to_pylist():
                c = by_id.get(case_id)
                if c is not None and case_id not in seen and c["state"] == "referral" and case_id not in stepped:
                    seen.add(case_id)
                    waiting[c["authority"]] = waiting.get(c["authority"], 0) + 1
            counted = set(t.filter(_and(pc, step, in_window))["case_id"].to_pylist())
            counted |= {cid for cid in t.filter(_and(pc, referred, in_window))["case_id"].to_pylist()
                        if cid in by_id and by_id[cid]["state"] == "referral"}
            recorded += sum(1 for cid in counted if cid in by_id and by_id[cid]["provenance"] != "simulated")
        flow: dict[str, dict[str, int]] = {}
        for (authority, step_to, final), k in sorted(steps.items()):
            flow.setdefault(authority, {})[f"{step_to}|{final}"] = k
        for authority, k in sorted(waiting.items()):
            if k:
                flow.setdefault(authority, {})["referral|referral"] = k
        self._flows[key] = (flow, recorded)
        return flow, recorded

    def cohort_flow(self, window: dict | None = None) -> dict[str, dict[str, int]]:
        return self._flow(window)[0]

    def recorded_in_flow(self, window: dict | None = None) -> int:
        return self._flow(window)[1]
