"""``cinflow serve`` and ``cinflow tokens``: the service's command line.

Registered into the main group by :mod:`cinflow.cli`.  Nothing here imports
FastAPI or uvicorn until ``serve`` runs, so the rest of cinflow works
without the ``server`` extra.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..errors import CinflowError, InputError, quote

FORMATS = click.Choice(["text", "json"])
DB_HELP = "The database: a SQLite file or a postgresql:// URL [env: CINFLOW_DATABASE]."
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
NEEDS_EXTRA = "cinflow serve needs the server extra: pip install 'cinflow[server]'"


def _database(ctx, param, value):
    """The main CLI's database type (a path, or a postgresql:// URL kept as text)."""
    from ..cli import DATABASE

    return None if value is None else DATABASE.convert(value, param, ctx)


def _db_option(f, required: bool = True):
    return click.option("--db", "db", required=required, envvar="CINFLOW_DATABASE", callback=_database,
                        metavar="DATABASE", help=DB_HELP)(f)


def _existing(db):
    """A SQLite file must be there already (a server database is the server's to say)."""
    if isinstance(db, Path) and not db.is_file():
        raise InputError(f"{db}: no such database (make a token first: cinflow tokens create NAME --db {db} "
                         "--authority ID)")
    return db


def _registry():
    from ..plugins import Registry

    return Registry.load()


def log_config(level: str) -> dict:
    """uvicorn's logging: its own access log off (it would log paths and
    query strings), cinflow's route-only access log on; case ids only at
    debug level (see :mod:`cinflow.service.middleware`)."""
    upper = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": upper, "propagate": False},
            "uvicorn.error": {"handlers": ["stderr"], "level": upper, "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
            "cinflow.service": {"handlers": ["stderr"], "level": upper, "propagate": False},
        },
    }


@click.command()
@_db_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (TLS is the reverse proxy's job: keep the default behind one).")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--log-level", type=click.Choice(LOG_LEVELS), default="info", show_default=True,
              help="debug adds case ids to the access log; no level logs a child's details, a query string or a body.")
@click.option("--allow-future-dates", is_flag=True,
              help="Accept events and ticks dated after today (a test system replaying lifecycles); by default "
                   "they are refused, since a wrong year would close or lock cases.")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True,
              help="How to announce where it serves (json: one object on standard output); the log is text.")
def serve(db, host, port, log_level, allow_future_dates, fmt):
    """Serve the JSON API (/api, OpenAPI at /openapi.json) and the team's
    worklist (/) over DATABASE, with FastAPI under uvicorn.  Every request
    needs a token from 'cinflow tokens create'."""
    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ImportError:
        raise CinflowError(NEEDS_EXTRA) from None
    from ..store import Store
    from .app import create_app

    registry = _registry()
    store = Store(_existing(db), registry)
    if not any(t.revoked_at is None for t in store.tokens()):
        click.echo(f"cinflow: warning: {store.path} has no live token; every request will get 401 "
                   "(cinflow tokens create NAME --db ... --authority ID)", err=True)
    app = create_app(db, registry, store=store, allow_future=allow_future_dates)
    where = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
    _can_listen(host, port, where)
    if fmt == "json":
        click.echo(json.dumps({"serving": store.path, "url": where, "api": "/api", "openapi": "/openapi.json",
                               "worklist": "/"}), nl=True)
    else:
        click.echo(f"cinflow: serving {store.path} at {where} (API /api, OpenAPI /openapi.json, worklist /)", err=True)
    uvicorn.run(app, host=host, port=port, log_config=log_config(log_level), log_level=log_level, access_log=False,
                server_header=False, proxy_headers=True)


def _can_listen(host: str, port: int, where: str) -> None:
    """Refuse in one line, before announcing anything, an address this
    process cannot listen on (in use, not this machine's, not an address)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, _, _, _, address = infos[0]
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
            s.bind(address)
    except OSError as exc:
        raise CinflowError(f"--host/--port: cannot listen on {where}: {exc.strerror or exc}") from None


@click.group(invoke_without_command=True)
@click.option("--db", "db", envvar="CINFLOW_DATABASE", callback=_database, metavar="DATABASE",
              help="With no command: list this database's tokens. " + DB_HELP)
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.pass_context
def tokens(ctx, db, fmt):
    """Access tokens for 'cinflow serve': each is for one authority's cases,
    read and write or read-only; its name is recorded on every event it
    stores.  Only a hash of each token is kept.  With no command, as 'list'."""
    if ctx.invoked_subcommand is not None:
        return
    if db is None:
        raise click.UsageError("Missing option '--db' (or CINFLOW_DATABASE)", ctx)
    _list_tokens(db, fmt)


@tokens.command("create")
@click.argument("name")
@_db_option
@click.option("--authority", required=True, metavar="ID", help="The authority whose cases the token may see and write.")
@click.option("--read-only", is_flag=True, help="The token may read, not write.")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
def tokens_create(name, db, authority, read_only, fmt):
    """Make a token named NAME and print it, once: it cannot be shown again."""
    from ..store import Store

    registry = _registry()
    registry[authority]  # an unknown authority fails here, before any database is made
    with Store(db, registry) as store:
        secret = store.create_token(name, authority, read_only=read_only)
        where = store.path
    access = "read-only" if read_only else "read and write"
    if fmt == "json":
        click.echo(json.dumps({"name": name, "authority": authority, "read_only": read_only, "token": secret}, indent=2))
        return
    click.echo(secret)
    click.echo(f"Token {quote(name)} for {authority}'s cases ({access}) in {where}. It is shown this once: keep it "
               "in a secrets store; 'cinflow tokens revoke' ends it.", err=True)


@tokens.command("list")
@_db_option
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
def tokens_list(db, fmt):
    """List the tokens (names, authorities, access; never the tokens themselves)."""
    _list_tokens(db, fmt)


def _list_tokens(db, fmt):
    from ..store import Store

    with Store(_existing(db), _registry(), read_only=True) as store:
        rows = [{"name": t.name, "authority": t.authority, "read_only": t.read_only, "created_at": t.created_at,
                 "revoked_at": t.revoked_at} for t in store.tokens()]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("No tokens.")
    for r in rows:
        state = f"revoked {r['revoked_at']}" if r["revoked_at"] else "live"
        click.echo(f"{r['name']}  {r['authority']}  {'read-only' if r['read_only'] else 'read-write'}  "
                   f"created {r['created_at']}  {state}")


@tokens.command("revoke")
@click.argument("name")
@_db_option
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
def tokens_revoke(name, db, fmt):
    """Revoke the token named NAME: it stops working at once."""
    from ..store import Store

    with Store(_existing(db), _registry()) as store:
        if not store.revoke_token(name):
            raise InputError(f"no live token named {quote(name)} in {store.path}")
    if fmt == "json":
        click.echo(json.dumps({"revoked": name}))
        return
    click.echo(f"Revoked token {quote(name)}.")
