"""The ``cinflow`` command line."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from .errors import CinflowError, InputError, PluginError, write_output

FORMATS = click.Choice(["text", "json"])


class _Database(click.ParamType):
    """A database: a SQLite file (a path) or a ``postgresql://`` URL (kept as text)."""

    name = "database"

    def convert(self, value, param, ctx):
        if isinstance(value, Path):
            return value
        text = str(value)
        if text.startswith(("postgresql://", "postgres://")):
            return text
        if "://" in text:
            self.fail(f"{text.split('://')[0]}:// is not a database cinflow knows: give a SQLite file or a "
                      "postgresql:// URL", param, ctx)
        return Path(text)


DATABASE = _Database()
DB_HELP = "The database of cases: a SQLite file, or a postgresql:// URL."


def _missing(db) -> bool:
    """A SQLite file that is not there (a server database is the server's to say)."""
    return isinstance(db, Path) and not db.exists()


def cli_actor() -> str:
    """Who the command line records as having stored an event: ``cli:<login>``."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no login name in this environment (a bare container)
        return "cli"


def _date(ctx, param, value):
    from .calendar import FIRST_DATE, LAST_DATE, supported

    if value is None:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value[:40]!r} is not a real date (YYYY-MM-DD)") from None
    if not supported(day):
        raise click.BadParameter(f"{value} is outside the dates cinflow supports "
                                 f"({FIRST_DATE.isoformat()} to {LAST_DATE.isoformat()})")
    return day


def _console() -> Console:
    return Console(highlight=False, soft_wrap=True, width=120 if not sys.stdout.isatty() else None)


def _registry():
    from .plugins import Registry

    return Registry.load()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cinflow")
def cli():
    """cinflow: a council's Child in Need procedure, run as code.

    Every transition is checked by the authority's policy plugin, every refusal
    cites the procedure it comes from, and every timescale is a dated deadline
    in England working days."""


@cli.command()
@click.argument("scenario", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True, help="Timeline for people, or the JSON contract.")
@click.option("--db", type=DATABASE, help="Also store the case in this database (a SQLite file, created if missing, or a postgresql:// URL).")
@click.option("--as-of", callback=_date, metavar="YYYY-MM-DD", help="Deadline status as of this date (default: the scenario's as_of, else its last event).")
def run(scenario, fmt, db, as_of):
    """Run one scenario file (or a shipped example by name: see 'cinflow examples') and print the case's timeline and deadlines."""
    from .scenario import load_scenario, predates_rules, run_scenario

    sc = load_scenario(scenario)
    registry = _registry()
    case = run_scenario(registry, sc)
    if as_of is not None and case.last_date is not None and as_of < case.last_date:
        raise InputError(f"--as-of: {as_of.isoformat()} is before the case's last event ({case.last_date.isoformat()})")
    as_of = as_of or sc.effective_as_of
    policy = registry[sc.authority]
    if as_of is not None:
        case = policy.advance(case, as_of)
    if db is not None:
        from .store import Store

        with Store(db, registry) as store:
            store.add(case, recorded_by=cli_actor())
    _print_case(case, policy, as_of, fmt)
    warning = predates_rules(policy, sc, case)
    if warning:  # not an error: the run is right, but says nothing about those events
        click.echo(f"cinflow: warning: {warning}", err=True)
    if db is not None and fmt != "json":
        click.echo(f"\nStored case {case.id} in {db}.")


def _print_case(case, policy, as_of, fmt):
    from .report import case_contract

    if fmt == "json":
        click.echo(json.dumps(case_contract(case, as_of, policy.next_wakeup(case)), indent=2))
        return
    _print_timeline(case, policy, as_of)


def _print_timeline(case, policy, as_of):
    console = _console()
    console.print(f"[bold]Case {case.id}[/bold] under [bold]{policy.id}[/bold] ({policy.info.title})")
    console.print(f"Final state: [bold]{case.state}[/bold]" + (f", as of {as_of.isoformat()}" if as_of else ""))
    wakeup = policy.next_wakeup(case)
    if wakeup is not None:
        console.print(f"Next changes by itself on {wakeup.isoformat()} (the child's 18th birthday closes the case).")
    console.print()
    table = Table(title="Timeline", show_lines=False, title_justify="left")
    for col in ("date", "event", "result", "state after"):
        table.add_column(col)
    for h in case.history:
        detail = ", ".join(f"{k}={v}" for k, v in h.attributes.items()
                           if k in ("kind", "outcome", "chair", "next_review", "rule", "role"))
        label = h.event + (f" ({detail})" if detail else "") + (" (automatic)" if h.automatic else "")
        if h.accepted:
            notes = [f"[magenta]by exception[/magenta] to {e.rule}: authorised by {e.role} on "
                     f"{e.recorded_on.isoformat()} ({e.reason})\n  source: {policy.cite(e.source)}" for e in h.exceptions]
            notes += [f"[yellow]advice[/yellow] {a.rule}: {a.message}\n  source: {policy.cite(a.source)}" for a in h.advice]
            table.add_row(h.date.isoformat(), label, "\n".join(["ok", *notes]), h.to_state)
        else:
            why = "\n".join(f"{r.rule}: {r.message}\n  source: {policy.cite(r.source)}"
                            + (f"\n  to proceed: {r.remedy_text()}" if r.remedies else "") for r in h.reasons)
            table.add_row(h.date.isoformat(), label, f"[red]REFUSED[/red]\n{why}", h.to_state)
    console.print(table)
    console.print()
    dl = Table(title=f"Deadlines{' as of ' + as_of.isoformat() if as_of else ''}", title_justify="left")
    for col in ("deadline", "due", "status", "met / ended", "rule"):
        dl.add_column(col)
    colours = {"met": "green", "late": "yellow", "overdue": "red", "missed": "bold red", "open": "cyan", "cancelled": "dim"}
    for d in case.deadlines:
        status = d.status(as_of)
        closed = d.met_on or d.ended_on
        dl.add_row(d.name, d.due.isoformat(), f"[{colours[status]}]{status}[/]", closed.isoformat() if closed else "", d.rule)
    console.print(dl)


@cli.command()
@click.argument("case_id", metavar="CASE")
@click.option("--db", type=DATABASE, required=True, envvar="CINFLOW_DATABASE", help=DB_HELP)
@click.option("--as-of", callback=_date, metavar="YYYY-MM-DD", help="Let time pass to this date first (not stored; see 'tick') and give statuses as of it.")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True, help="Timeline for people, or the JSON contract of 'run'.")
def show(case_id, db, as_of, fmt):
    """Print a stored case: its timeline and deadlines, as 'run' does."""
    from .store import Store

    if _missing(db):
        raise InputError(f"{db}: no such database")
    registry = _registry()
    with Store(db, registry, read_only=True) as store:
        case = store.load(case_id)
    if as_of is not None and case.last_date is not None and as_of < case.last_date:
        raise InputError(f"--as-of: {as_of.isoformat()} is before case {case_id}'s last event "
                         f"({case.last_date.isoformat()})")
    if as_of is not None:
        case = registry[case.authority].advance(case, as_of)
    _print_case(case, registry[case.authority], as_of, fmt)


@cli.command()
@click.option("--db", type=DATABASE, required=True, envvar="CINFLOW_DATABASE", help=DB_HELP)
@click.option("--as-of", callback=_date, metavar="YYYY-MM-DD", required=True, help="Move every stored case to this date.")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
def tick(db, as_of, fmt):
    """Let time pass for every stored case up to --as-of, storing each automatic
    transition it passes (the 18th birthday closes a case).  Running it again
    for the same date changes nothing."""
    from .store import Store

    if _missing(db):
        raise InputError(f"{db}: no such database")
    if isinstance(db, Path) and db.stat().st_size == 0:
        raise InputError(f"{db} is empty: not a cinflow database (nothing was written)")
    with Store(db, _registry()) as store:
        store.check("nothing was written")  # never write into a damaged database
        changed = store.advance(as_of, recorded_by=cli_actor())
    from .report import tick_item

    items = [tick_item(c, as_of) for c in changed]
    if fmt == "json":
        click.echo(json.dumps({"as_of": as_of.isoformat(), "changed": items}, indent=2))
        return
    if not items:
        click.echo(f"Nothing changed by {as_of.isoformat()}.")
        return
    for i in items:
        click.echo(f"{i['case']}: {', '.join(i['events'])} -> {i['state']} (version {i['version']})")
    click.echo(f"{len(items)} case(s) moved to {as_of.isoformat()}.")


@cli.command()
@click.option("--db", type=DATABASE, required=True, envvar="CINFLOW_DATABASE", help=DB_HELP)
@click.option("--case", "cases", multiple=True, metavar="ID", help="Only this case (repeat for several) [default: every case].")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
def verify(db, cases, fmt):
    """Replay every stored case through its policy and compare it with what
    the store holds (appends read a stored projection; the event log is the
    truth).  Exit 0 when every case agrees, 1 if any differs."""
    from .store import Store

    if _missing(db):
        raise InputError(f"{db}: no such database")
    with Store(db, _registry(), read_only=True) as store:
        ids = list(cases) or store.case_ids()
        known = set(store.case_ids()) if cases else None
        for cid in cases:
            if cid not in known:
                raise InputError(f"--case: no case {cid!r} in {store.path}")
        problems = store.verify(ids)
    if fmt == "json":
        click.echo(json.dumps({"cases": len(ids), "differences": problems}, indent=2))
    else:
        for line in problems:
            click.echo(line)
        click.echo(f"{len(ids)} case(s) replayed: " + ("every one agrees with the store." if not problems
                                                      else f"{len(problems)} difference(s)."))
    if problems:
        raise click.exceptions.Exit(1)


@cli.group(invoke_without_command=True)
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.pass_context
def policies(ctx, fmt):
    """List the policies (authorities) available here; see also 'show' and 'check'."""
    if ctx.invoked_subcommand is not None:
        return
    registry = _registry()
    rows = [{"id": pid, "title": registry.info(pid).title, "description": registry.info(pid).description}
            for pid in registry.ids()]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    width = max(len(r["id"]) for r in rows)
    for r in rows:
        click.echo(f"{r['id']:<{width}}  {r['description']}")


@policies.command("show")
@click.argument("policy_id", metavar="ID")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
def policies_show(policy_id, fmt):
    """Print ID's rule catalogue: every rule, its parameters, citation and how it is enforced."""
    from .catalogue import catalogue
    from .vocabulary import roles_in_words

    cat = catalogue(_registry()[policy_id])
    if fmt == "json":
        click.echo(json.dumps(cat, indent=2))
        return
    p = cat["policy"]
    console = _console()
    console.print(f"[bold]{p['id']}[/bold]: {p['title']}")
    console.print(f"Source: {p['document']}" + (f" ({p['document_title']})" if p["document_title"] else "")
                  + (f", dated {p['document_date']}" if p["document_date"] else ", undated"))
    console.print(f"Layers: {' -> '.join(p['layers'])}    Rules: {len(cat['rules'])}")
    for r in cat["rules"]:
        console.print()
        console.print(f"[bold]{r['id']}[/bold]")
        console.print(f"  {r['text']}")
        for line in r["parameters"]:
            console.print(f"  - {line}")
        console.print(f"  cites: {r['citation']['text']}")
        console.print(f"  level: {r['level']}" + (f" (\"{r['words']}\")" if r["words"] else ""))
        if r["raised"]:
            console.print(f"  raised to must: {r['raised']}")
        if r["exception_roles"]:
            console.print(f"  exception authorised by: {roles_in_words(r['exception_roles'])}")
        for how in r["enforced_as"]:
            console.print(f"  enforced: {how}")
        if r["not_enforced"]:
            console.print(f"  not enforced: {r['not_enforced']}")


@policies.command("check")
@click.argument("policy_ids", metavar="[ID]...", nargs=-1)
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
def policies_check(policy_ids, fmt):
    """Run the conformance checks on the named policies (default: all); exit 1 if any has a problem."""
    from .conformance import check_policy

    registry = _registry()
    for pid in policy_ids:
        if pid not in registry:
            registry[pid]  # an unknown id is a usage error (exit 2), listing the known ones
    results = [{"policy": pid, "ok": not problems, "problems": problems}
               for pid in dict.fromkeys(policy_ids or registry.ids())
               for problems in [list(check_policy(registry, pid))]]
    failed = sum(not r["ok"] for r in results)
    if fmt == "json":
        click.echo(json.dumps(results, indent=2))
    else:
        for r in results:
            click.echo(f"{r['policy']}: {'ok' if r['ok'] else str(len(r['problems'])) + ' problem(s)'}")
            for problem in r["problems"]:
                click.echo(f"  - {problem}")
    if failed:
        raise click.exceptions.Exit(1)


@cli.command()
@click.argument("policy_id", metavar="ID")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True,
              help="Mermaid text, or the states and edges as JSON (with --svg: what was written).")
@click.option("--svg", "svg_out", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
              help="Draw it as an SVG file instead, with a numbered legend of the rules on each edge "
                   "(offline; needs Graphviz's dot; '-': standard output).")
def diagram(policy_id, fmt, svg_out):
    """Print ID's lifecycle as mermaid text.  The open states are one group and
    what every open state can do (the endings, a strategy discussion) is drawn
    once, from the group; each edge is labelled with its event and what selects
    it, and the policy rules checked on it follow as '%%' comments."""
    from .machine import diagram as draw
    from .machine import lifecycle, svg

    policy = _registry()[policy_id]
    if svg_out is None:
        click.echo(json.dumps(lifecycle(policy), indent=2) if fmt == "json" else draw(policy))
        return
    from .output import check_target, is_stdout

    check_target(svg_out)
    write_output(svg_out, svg(policy))
    data = lifecycle(policy)
    if fmt == "json":
        click.echo(json.dumps({"wrote": str(svg_out), "contains": "the lifecycle diagram (SVG)", "policy": policy.id,
                               "title": policy.info.title, "states": len(data["states"]),
                               "edges": len(data["edges"])}, indent=2), err=is_stdout(svg_out))
        return
    where = "the diagram to standard output" if is_stdout(svg_out) else str(svg_out)
    click.echo(f"Wrote {where}: the lifecycle of {policy.id} ({policy.info.title}), {len(data['states'])} states, "
               "with the rules checked on each edge in its legend.", err=is_stdout(svg_out))


@cli.command()
@click.option("--db", type=DATABASE, required=True, envvar="CINFLOW_DATABASE", help=DB_HELP)
@click.option("--as-of", callback=_date, metavar="YYYY-MM-DD",
              help="List deadlines open or overdue on this date [default: today].")
@click.option("--authority", "authorities", multiple=True, metavar="ID",
              help="Only this authority's cases (repeat for several).")
@click.option("--case", "cases", multiple=True, metavar="ID", help="Only this case (repeat for several).")
@click.option("--status", "statuses", multiple=True, type=click.Choice(["open", "overdue"]),
              help="Only deadlines with this status (repeat for both) [default: both].")
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="At most N deadlines, the soonest.")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
def due(db, as_of, authorities, cases, statuses, limit, fmt):
    """List open and overdue deadlines across every stored case, soonest first
    (as of today unless --as-of says otherwise)."""
    from .errors import UnknownPolicyError
    from .store import Store

    if _missing(db):
        raise InputError(f"{db}: no such database (store cases with 'cinflow run SCENARIO --db {db}')")
    as_of = as_of or date.today()
    registry = _registry()
    for pid in authorities:
        if pid not in registry:
            raise UnknownPolicyError(pid, registry.ids())
    with Store(db, registry, read_only=True) as store:
        rows = store.due(as_of)
    from .report import due_item

    items = [due_item(cid, auth, d, as_of) for cid, auth, d in rows]
    items = [i for i in items if (not authorities or i["authority"] in authorities)
             and (not cases or i["case"] in cases) and (not statuses or i["status"] in statuses)]
    matched = len(items)
    items = items[:limit] if limit else items
    if fmt == "json":
        click.echo(json.dumps(items, indent=2))
        return
    which = " matching the filters" if authorities or cases or statuses else ""
    if not items:
        click.echo(f"Nothing open or overdue{which} on {as_of.isoformat()}.")
        return
    table = Table(title=f"Open and overdue deadlines{which} as of {as_of.isoformat()}", title_justify="left")
    for col in ("due", "status", "case", "authority", "deadline", "rule"):
        table.add_column(col)
    for i in items:
        status = f"[red]{i['status']}[/red]" if i["status"] == "overdue" else i["status"]
        table.add_row(i["due"], status, i["case"], i["authority"], i["name"], i["rule"])
    _console().print(table)
    if matched > len(items):
        click.echo(f"The soonest {len(items)} of {matched} shown (--limit {limit}).")


@cli.command()
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
def plugins(fmt):
    """List every loaded plugin module: its distribution and version and the hooks it implements."""
    from .plugins import plugin_manager

    registry = _registry()
    out, seen = [], set()
    for pid in registry.ids():
        for layer in registry.layers(pid):
            if layer.__name__ in seen:
                continue
            seen.add(layer.__name__)
            pm = plugin_manager([layer])
            hooks = sorted(h.name for h in pm.get_hookcallers(layer) or [])
            info = layer.POLICY
            out.append({"policy": info.id, "module": layer.__name__, "distribution": registry.distribution_of(layer),
                        "hooks": hooks, "extends": list(info.extends), "authority": info.id in registry})
    if fmt == "json":
        click.echo(json.dumps(out, indent=2))
        return
    table = Table(title="Loaded policy plugins", title_justify="left")
    for col in ("policy", "module", "distribution", "hooks"):
        table.add_column(col, overflow="fold")
    for o in out:
        label = o["policy"] + ("" if o["authority"] else " (base layer)")
        table.add_row(label, o["module"], o["distribution"], ", ".join(o["hooks"]))
    _console().print(table)


@cli.command()
@click.option("--authority", "authorities", multiple=True, required=True, metavar="ID",
              help="A policy to run the cohort through (repeat for side by side; any installed id).")
@click.option("--referrals", type=click.IntRange(1, 10_000_000), default=10000, show_default=True,
              help="Referrals in the window (England had 632,830 in 2024-25); a warm-up adds its own.")
@click.option("--start", callback=_date, default="2026-04-01", show_default=True, help="First day of the window (YYYY-MM-DD).")
@click.option("--months", type=click.IntRange(1, 120), default=12, show_default=True, help="Length of the window.")
@click.option("--warm-up", "warm_up", type=click.IntRange(0, 120), default=None, metavar="MONTHS",
              help="Simulate this many months before the window so it opens on a steady caseload; stored, not "
                   "counted [default: the calibration's longest CIN plan, 60 months for England; 0 for none.]")
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, same cohort, same output.")
@click.option("--replicates", type=click.IntRange(1, 200), default=1, show_default=True, metavar="N",
              help="Run N seeds (SEED, SEED+1, ...) and give each figure's median and 90% interval; the first "
                   "seed's cases are stored.")
@click.option("--db", type=DATABASE,
              help="A new SQLite file (or an empty postgresql:// database) for every case, event and deadline "
                   "(this or --out).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Instead of --db: a new (or empty) folder of Parquet files, one per table per chunk, with "
                   "summary.json (needs pip install 'cinflow[parquet]').")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Local processes to use, not with --scheduler [default: all cores].")
@click.option("--scheduler", envvar="CINFLOW_DASK_SCHEDULER", metavar="tcp://HOST:PORT",
              help="Run the chunks on this Dask cluster instead of local processes, not with --workers (needs "
                   "pip install 'cinflow[dask]') "
                   "[env: CINFLOW_DASK_SCHEDULER].")
@click.option("--calibration", type=click.Path(dir_okay=False, path_type=Path),
              help="Calibration file (default: the shipped England 2025 figures).")
@click.option("--csv", "csv_dir", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Also write the summary tables as CSV files into this folder.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True,
              help="The summary as tables for people, or as JSON.")
@click.pass_context
def simulate(ctx, authorities, referrals, start, months, warm_up, seed, replicates, db, out, workers, scheduler,
             calibration, csv_dir, quiet, fmt):
    """Simulate a synthetic cohort through each authority's policy, side by side.

    Every authority gets the same children with the same practice timings.
    --referrals is the number referred in the window; a warm-up adds its own
    months' referrals at the same rate before it.  Output (the window only):
    deadlines met/late/overdue/missed, days in each state, plans open at the
    end, closures by census reason, workload per month, refusals by rule."""
    import os

    from .simulation import Parameters
    from .simulation import simulate as run_simulation
    from .simulation.tables import tables, write_csv

    if db is None and out is None:
        raise InputError("give --db FILE (a new database) or --out DIR (a new folder of Parquet files)")
    if db is not None and out is not None:
        raise InputError("give --db or --out, not both: a run is written to one place")
    if isinstance(db, Path) and db.exists():
        raise InputError(f"{db} already exists; simulations write to a new --db (nothing was changed)")
    if scheduler is not None:
        from click.core import ParameterSource

        scheduler = scheduler.strip()
        if not scheduler:
            scheduler = None
        elif workers is not None:
            if ctx.get_parameter_source("scheduler") is ParameterSource.ENVIRONMENT:
                scheduler = None  # --workers on the command line wins over the environment's scheduler
            else:
                raise InputError("give --workers (local processes) or --scheduler (a Dask cluster), not both")
    if scheduler is not None:
        from .simulation.cluster import _distributed

        _distributed()  # without the extra: one line, before anything else
    if out is not None:
        from .simulation.parquet import check_out

        check_out(out)
    if csv_dir is not None:  # before the run, so a bad folder does not waste it
        from .output import check_target
        from .simulation.tables import CSV_FILES

        for name in CSV_FILES:
            check_target(csv_dir / name, db=db)
        try:
            csv_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"--csv {csv_dir}: {exc.strerror or exc}") from None
    from .simulation.calibration import load_calibration
    from .simulation.runner import default_warm_up, planned_cases

    if warm_up is None:
        warm_up = default_warm_up(load_calibration(calibration))
    params = Parameters(tuple(dict.fromkeys(authorities)), referrals, start, months, seed,
                        str(calibration) if calibration else None, warm_up, replicates)
    workers = workers or os.cpu_count() or 1
    registry = _registry()
    for authority in params.authorities:
        registry[authority]  # an unknown id fails here, before the progress bar
    total = planned_cases(params)
    if scheduler is not None:  # asked before the progress bar, which would count nothing while it waits
        from click.core import ParameterSource

        from .simulation.cluster import CONNECT_TIMEOUT, check_scheduler

        # An address from the environment is named as the variable, not as an option nobody typed.
        given_as = ("CINFLOW_DASK_SCHEDULER" if ctx.get_parameter_source("scheduler") is ParameterSource.ENVIRONMENT
                    else "--scheduler")
        if quiet:
            check_scheduler(scheduler, given_as)
        else:
            with Console(stderr=True).status(f"connecting to the Dask scheduler at {scheduler} "
                                             f"(up to {2 * CONNECT_TIMEOUT:.0f} s)"):
                check_scheduler(scheduler, given_as)
    where = {"out": out, "scheduler": scheduler}
    if quiet:
        summary = run_simulation(params, db, registry, workers, **where)
    else:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        columns = [TextColumn("simulating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   _RateColumn()]
        with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
            task = bar.add_task("cases", total=total)
            summary = run_simulation(params, db, registry, workers, progress=lambda n: bar.advance(task, n), **where)
    if csv_dir is not None:
        write_csv(summary, csv_dir)
    if fmt == "json":
        click.echo(json.dumps(summary, indent=2, sort_keys=True))
        return
    console = _console()
    w = summary["window"]
    each = (f" ({len(params.authorities)} authorities, the same children under each)"
            if len(params.authorities) > 1 else "")
    console.print(f"[bold]{summary['cases']:,} cases[/bold]{each} in the window {w['start']} to {w['end']} (exclusive), "
                  f"{summary['events']:,} events, {summary['deadlines']:,} deadlines; "
                  f"calibration: {summary['calibration']}; stored in {db if out is None else out}")
    if w["warm_up_months"]:
        console.print(f"Warm-up: {w['warm_up_months']} months from {w['warm_up_start']}, so the window opens on a "
                      f"steady caseload; the {summary['cases_stored'] - summary['cases']:,} cases that ended within it "
                      "are stored but not counted.")
    else:
        console.print("No warm-up: the window opens with no cases, so early months understate the caseload.")
    if "replicates" in summary:
        r = summary["replicates"]
        console.print(f"Replicates: {r['n']} seeds ({r['seeds'][0]} to {r['seeds'][-1]}). Tables that say 'medians "
                      f"[{r['interval']:.0%} interval]' use every seed; the other tables, and the stored cases, are "
                      f"seed {r['stored_seed']}'s. Every figure's interval is in --csv's replicates.csv and in "
                      "--format json." + (" With so few replicates an interval is only a rough range." if r["n"] < 10
                                          else ""))
    for table in tables(summary):
        console.print()
        console.print(table)
    ran = f"on the Dask cluster at {scheduler}" if scheduler else f"with {workers} worker(s)"
    console.print(f"\nDone in {summary['seconds']:.1f} s {ran}. "
                  f"See it as a page: cinflow report {db if out is None else out} --html report.html")


def _scale(ctx, param, value):
    """'1/20' or '0.05': a share of England's referrals, above 0 and at most 1."""
    if value is None:
        return None
    text = value.strip()
    try:
        if "/" in text:
            top, bottom = text.split("/", 1)
            scale = float(top) / float(bottom)
        else:
            scale = float(text)
    except (ValueError, ZeroDivisionError):
        raise click.BadParameter(f"{value!r} is not a scale such as 1/20 or 0.05") from None
    if not 0 < scale <= 1:
        raise click.BadParameter(f"{value!r} must be above 0 and at most 1")
    return scale


@cli.command()
@click.option("--calibration", type=click.Path(dir_okay=False, path_type=Path),
              help="Calibration file to validate (default: the shipped England 2025 figures).")
@click.option("--figures", type=click.Path(dir_okay=False, path_type=Path),
              help="Published figures to compare with (default: the shipped England 2025 validation figures).")
@click.option("--scale", default="1/20", show_default=True, callback=_scale,
              help="Share of the country's referrals to simulate, e.g. 1/20 or 0.05.")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--authority", default="england", show_default=True, metavar="ID",
              help="The procedure the country runs (england: the statutory baseline alone).")
@click.option("--warm-up", "warm_up", type=click.IntRange(0, 120), default=None, metavar="MONTHS",
              help="Months simulated before the census year [default: as simulate's].")
@click.option("--year", type=click.IntRange(2000, 2100), default=None,
              help="Census year to count (ending 31 March) [default: the figures' year].")
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path),
              help="Keep the simulated country in this new SQLite file (default: a temporary one, removed).")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Processes to use [default: all cores].")
@click.option("--widen", type=click.FloatRange(min=1), default=None,
              help="Multiply every band's half-width by this [default: sqrt((1/20)/scale), at least 1: a smaller "
                   "run's sampling noise is larger].")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.pass_context
def validate(ctx, calibration, figures, scale, seed, authority, warm_up, year, db, workers, widen, quiet, fmt):
    """Simulate the calibration's country and compare it with published figures it was not fed.

    Simulates one census year (1 April to 31 March) at --scale after a
    warm-up, counts that year's Children in Need census return, scales the
    counts up to the country and prints, for each published figure,
    simulated / published / ratio against its stated band.  Exit 0 when
    every figure is in its band, 3 when one is outside (2: bad input)."""
    import os
    import tempfile

    from .simulation.calibration import load_calibration
    from .simulation.runner import default_warm_up
    from .simulation.validation import as_json, load_figures, render_table, run_validation

    published = load_figures(figures)  # a bad file fails before any simulating
    cal = load_calibration(calibration)
    if warm_up is None:
        warm_up = default_warm_up(cal)
    if db is not None and db.exists():
        raise InputError(f"{db} already exists; validate writes a new --db (nothing was changed)")
    workers = workers or os.cpu_count() or 1
    registry = _registry()
    registry[authority]  # an unknown id fails here, before simulating
    if db is not None and not db.resolve().parent.is_dir():
        raise InputError(f"--db {db}: no such folder {db.resolve().parent}")
    if round(cal.referrals.per_year.value * scale) < 1:
        raise InputError(f"--scale {scale:g} leaves no referrals ({cal.name} has "
                         f"{cal.referrals.per_year.value:,.0f} a year)")
    with tempfile.TemporaryDirectory(prefix="cinflow-validate-") as tmp:
        path = db or Path(tmp) / "country.db"
        kwargs = dict(calibration=calibration, scale=scale, seed=seed, authority=authority, workers=workers,
                      warm_up=warm_up, year=year, figures=published, registry=registry, widen=widen)
        if quiet or fmt == "json":
            rows = run_validation(path, **kwargs)
        else:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            from .simulation.runner import Parameters, planned_cases

            per_year = cal.referrals.per_year.value
            referrals = max(1, round(per_year * scale))
            total = planned_cases(Parameters((authority,), referrals, __import__("datetime").date(2024, 4, 1), 12,
                                             seed, str(calibration) if calibration else None, warm_up))
            with Progress(TextColumn("simulating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          console=Console(stderr=True)) as bar:
                task = bar.add_task("cases", total=total)
                rows = run_validation(path, progress=lambda n: bar.advance(task, n), **kwargs)
    outside = [r for r in rows if r.within is False]
    if fmt == "json":
        doc = as_json(rows)
        doc.update({"calibration": cal.name, "figures_file": published.name, "scale": scale, "seed": seed,
                    "authority": authority, "warm_up_months": warm_up})
        click.echo(json.dumps(doc, indent=2, sort_keys=True))
    else:
        from .simulation.validation import REFERENCE_SCALE, SMALLEST_READ, smoke_test, widening

        factor = widen if widen is not None else widening(scale)
        console = _console()
        console.print(f"{cal.name} simulated under '{authority}' at scale {scale:.4g} (seed {seed}, warm-up "
                      f"{warm_up} months), census year counted and scaled up; compared with {published.name}.")
        if factor != 1:
            console.print(f"Bands are set for a run at 1/{1 / REFERENCE_SCALE:.0f}; at this scale they are "
                          f"{factor:.2f} times as wide (sampling noise; --widen to choose).")
        if smoke_test(scale):
            console.print(f"[bold]Warning:[/bold] a run smaller than 1/{1 / SMALLEST_READ:.0f} is a smoke test: "
                          "many small counts miss by chance. Read validation at 1/20.")
        console.print(render_table(rows))
        console.print("Kinds: emergent = not fed to the simulator (the validation); fitted = a calibration "
                      "assumption was fitted to it (judged, no independent test); consistency = follows from "
                      "the inputs; context = shown, not judged (the row's note, in --format json, says why).")
        judged = [r for r in rows if r.within is not None]
        console.print(f"{len(judged) - len(outside)} of {len(judged)} judged figures in band"
                      + (f"; outside: {', '.join(r.id for r in outside)}" if outside else "") + ".")
    ctx.exit(3 if outside else 0)


@cli.command()
@click.argument("db", type=DATABASE)
@click.option("--html", "out", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path), required=True,
              help="Write the report to this HTML file (self-contained, opens offline; '-': standard output).")
@click.option("--case", "case_id", help="Also draw the timeline of this case.")
@click.option("--simulation", type=int, help="Which simulation in the database (default: the latest).")
@click.option("--allow-incomplete", is_flag=True, help="Report a simulation that was stopped before it finished.")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True, help="The line said after writing.")
def report(db, out, case_id, simulation, allow_incomplete, fmt):
    """Write a simulation's report as one HTML page: compliance, workload, cohort flow, a case timeline."""
    from .output import check_target, is_stdout
    from .simulation.report import write_report

    check_target(out, db=db)
    if allow_incomplete:
        from .simulation.parquet import open_run
        from .simulation.runner import require_finished

        with open_run(db, _registry()) as store:
            incomplete = require_finished(store, True)
        if incomplete:
            click.echo(f"cinflow: warning: {incomplete}", err=True)
    written = write_report(db, out, case_id, simulation, allow_incomplete=allow_incomplete)
    if fmt == "json":
        click.echo(json.dumps({"wrote": str(out), "contains": written.notice, "case": case_id,
                               "personal_data": written.personal}), err=is_stdout(out))
        return
    where = "the report to standard output" if is_stdout(out) else str(out)
    click.echo(f"Wrote {where} ({written.notice}).", err=is_stdout(out))


def _new_pseudonym_key(ctx, param, value):
    if value and not ctx.resilient_parsing:
        from .census import new_key

        click.echo(new_key())
        ctx.exit()


@cli.command()
@click.option("--db", type=DATABASE, required=True, help=DB_HELP)
@click.option("--authority", help="Whose cases, when the database holds several authorities (a simulation does).")
@click.option("--year", type=click.IntRange(2000, 2100), required=True,
              help="Collection year: the return covers 1 April (YEAR-1) to 31 March YEAR.")
@click.option("--la", required=True, help="The local authority's three-digit code (e.g. 886 for Kent).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path), required=True,
              help="The XML file to write ('-': standard output).")
@click.option("--pseudonymise", is_flag=True,
              help="Replace child identifiers with keyed hashes and drop UPNs. Key: CINFLOW_PSEUDONYM_KEY, "
                   "at least 128 bits (32+ hex digits, or 22+ base64 characters); see --new-key.")
@click.option("--new-key", is_flag=True, is_eager=True, expose_value=False, callback=_new_pseudonym_key,
              help="Print a fresh random key for --pseudonymise and exit. Keep it in a password manager or "
                   "secrets store, never beside the extracts: the same key gives the same pseudonyms, and "
                   "whoever holds it can link them back to case ids.")
@click.option("--allow-incomplete", is_flag=True, help="Export from a simulation that was stopped before it finished.")
@click.option("--datetime", "stamp", help="The header's DateTime (default: now), e.g. 2027-04-15T09:00:00.")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True, help="The line said after writing.")
def census(db, authority, year, la, output, pseudonymise, allow_incomplete, stamp, fmt):
    """Write the DfE Children in Need census return (XML) for one authority and collection year."""
    import os
    from datetime import datetime

    from .census import build, census_source, pseudonym_key
    from .simulation.parquet import open_run
    from .simulation.runner import require_finished
    from .output import check_target, is_stdout

    if _missing(db):
        raise InputError(f"{db}: no such database")
    check_target(output, db=db)
    key = pseudonym_key(os.environ.get("CINFLOW_PSEUDONYM_KEY")) if pseudonymise else None
    when = None
    if stamp:
        try:
            when = datetime.fromisoformat(stamp)
        except ValueError:
            raise InputError(f"--datetime {stamp!r} is not a date and time (YYYY-MM-DDTHH:MM:SS)") from None
    with open_run(db, _registry()) as store:  # a database, or a simulation's --out folder of Parquet files
        incomplete = require_finished(store, allow_incomplete)
        rows, synthetic = census_source(store, authority)
        text, problems, counts = build(rows, year, la, key, when, synthetic)
    if incomplete:
        click.echo(f"cinflow: warning: {incomplete}", err=True)
    if problems:
        for p in problems[:50]:
            click.echo(f"cinflow: census: {p}", err=True)
        more = " (first 50 shown)" if len(problems) > 50 else ""
        raise InputError(f"the return would be invalid: {len(problems)} problem(s){more}; nothing was written")
    write_output(output, text)
    if fmt == "json":
        click.echo(json.dumps({"wrote": str(output), "contains": "the DfE Children in Need census return (XML)",
                               "year": year, "la": la, "counts": counts, "pseudonymised": key is not None,
                               "synthetic": synthetic, "personal_data": not synthetic}), err=is_stdout(output))
        return
    where = "the return to standard output" if is_stdout(output) else str(output)
    click.echo(f"Wrote {where}: {counts['children']:,} children, {counts['assessments']:,} assessments, "
               f"{counts['section_47s']:,} s47 enquiries, {counts['cin_plans']:,} CIN plans, {counts['cp_plans']:,} "
               f"CP plans, {counts['closed']:,} closed ({counts['referral_nfa']:,} referrals with no further action)."
               + (" Every case in it was simulated: synthetic data, no personal data." if synthetic else
                  " Pseudonymised: it still holds birth dates, characteristics and dates, so handle it as personal data."
                  if key else " It holds personal data: handle it accordingly."), err=is_stdout(output))


class _RateColumn:
    """Cases per second for the progress bar."""

    def __new__(cls):
        from rich.progress import ProgressColumn
        from rich.text import Text

        class Rate(ProgressColumn):
            def render(self, task):
                speed = task.finished_speed or task.speed
                return Text(f"{speed:,.0f} cases/s" if speed else "- cases/s")

        return Rate()


@cli.command()
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
def examples(fmt):
    """List the shipped example scenarios: 'cinflow run NAME' runs one."""
    from .scenario import example_summary, shipped_examples

    found = {name: (path, example_summary(path)) for name, path in shipped_examples().items()}
    if fmt == "json":
        click.echo(json.dumps([{"name": n, "path": str(p), "summary": s} for n, (p, s) in found.items()], indent=2))
        return
    width = max(map(len, found), default=0)
    for name, (_, summary) in found.items():
        click.echo(f"{name:<{width}}  {summary}")
    if found:
        folder = next(iter(found.values()))[0].parent
        click.echo(f"\nRun one with 'cinflow run NAME'. The files are in {folder} (copy one to write your own).")


# The service's commands (cinflow serve, cinflow tokens) live with the service.
from .service.commands import serve, tokens  # noqa: E402

cli.add_command(serve)
cli.add_command(tokens)


def main(argv=None) -> int:
    try:
        # Without standalone mode click returns a command's exit code (ctx.exit) instead of exiting.
        code = cli.main(args=argv, prog_name="cinflow", standalone_mode=False)
    except PluginError as exc:  # a broken plugin, not the user's input: exit 1
        click.echo(f"cinflow: error: {exc}", err=True)
        return 1
    except CinflowError as exc:
        click.echo(f"cinflow: error: {exc}", err=True)
        return 2
    except click.exceptions.Abort:
        click.echo("cinflow: aborted", err=True)
        return 1
    except click.UsageError as exc:
        # One line naming the option or value at fault (click would add a usage block).
        where = exc.ctx.command_path if exc.ctx is not None else "cinflow"
        message = " ".join(exc.format_message().split())
        click.echo(f"cinflow: error: {message} (see '{where} --help')", err=True)
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except BrokenPipeError:
        return 0
    except UnicodeError as exc:  # e.g. a lone surrogate typed in an argument
        click.echo(f"cinflow: error: a value cannot be encoded ({exc.reason}); use plain text", err=True)
        return 2
    return code if isinstance(code, int) else 0


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    entry()
