"""The ``smppcore`` command line.

Owns argument parsing and the mapping of outcomes to exit codes; the work lives elsewhere.

``smppcore --version`` (also ``python -m smppcore --version``) prints the version.
Subcommands and their exit codes (``0`` ok, ``1`` runtime error, ``2`` usage or config)::

    smppcore run --config FILE [--data-dir DIR]
        start the daemon (smppcore.daemon.run_daemon) until SIGTERM/Ctrl-C.
        0 stopped cleanly (also Ctrl-C); 1 a component failed to start or the daemon
        failed; 2 bad arguments or a ConfigError.
    smppcore check-config FILE [--data-dir DIR] [--no-files]
        validate a config as run does before it serves (load_config, then
        smppcore.startup.check_startup: the gateway, connectors and TLS contexts built over a
        scratch store), print a one-line summary (names and counts, no secrets). Every
        problem of the file is reported in one run, one per line. --no-files checks the
        config alone: no file opened, no secret needed, no part built.
        0 valid; 1 no scratch store could be made; 2 bad arguments, a ConfigError or a part
        run could not build.
    smppcore hash-password
        read a password (one stdin line, or prompted twice), print its scrypt hash.
        0 printed; 2 empty password or the two prompts differ.
    smppcore simulate [--config FILE]
        run the SMSC simulator alone ([simulator] from FILE, else defaults).
        0 stopped with Ctrl-C; 1 it failed; 2 a ConfigError.
    smppcore status --config FILE [--timeout S]
        scrape the running daemon's /metrics once and print its health (it needs
        ``[metrics] enabled = true``: that endpoint is what it reads).
        0 the daemon answered; 1 nothing answers at the metrics address; 2 a ConfigError
        or metrics disabled in the config.
    smppcore erase MSISDN --config FILE [--data-dir DIR]
        erase every record of a number (its hashed opt-out stays), print counts as JSON.
        0 done; 1 the store cannot be used; 2 bad arguments (MSISDN not a phone number) or
        a ConfigError.
    smppcore export MSISDN --config FILE [--data-dir DIR]
        print every record held about a number, as JSON: times as ISO-8601 UTC strings
        (null when unset), message states and delivery kinds by name.
        0 done; 1 the store cannot be used; 2 bad arguments (MSISDN not a phone number) or
        a ConfigError.
    smppcore optout list|add|remove|check [MSISDN --scope NUMBER|ACCOUNT ...] --config FILE
        list opt-outs (hashes, keyword and time only), add / lift suppressions, or check
        whether a number is suppressed (per --scope; without one, every suppression it has,
        the scope named when the config defines it); JSON out. A scope is an account's
        system_id or a sender number an account owns (smppcore.cli_data).
        0 done (check: suppressed or not); 1 the store cannot be used; 2 bad arguments (MSISDN
        not a phone number, a scope the config does not define) or a ConfigError.

MSISDN arguments are digits with an optional leading ``+`` (spaces and ``-.()/`` are
dropped), international or national for ``[policy] default_country``, of a possible length
for their country; an error never repeats the number.

Each ``COMMANDS`` entry is ``name -> (help, add_arguments, handler)``; a test checks this
docstring names every one of them.

Exit codes:

* ``0`` - success (also a daemon or simulator stopped with Ctrl-C);
* ``1`` - runtime error (a component missing, the daemon failed, the store unusable, no
  daemon answering ``status``);
* ``2`` - usage or configuration error (bad arguments, a ``ConfigError``, empty password,
  ``status`` with metrics disabled).
"""

from __future__ import annotations

import argparse
import getpass
import importlib
import inspect
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import trio

from smppcore import __version__
from smppcore.config import Config, ConfigError, SimulatorConfig, load_config
from smppcore.logs import configure_logging, get_logger
from smppcore.passwords import hash_password
from smppcore.status import status_arguments, status_command

__all__ = ["COMMANDS", "EXIT_CONFIG", "EXIT_OK", "EXIT_RUNTIME", "main"]

EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_CONFIG = 2

Handler = Callable[[argparse.Namespace], int]


class _Failure(Exception):
    """An expected failure: a message for stderr and an exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def _load(args: argparse.Namespace) -> Config:
    check_files = not getattr(args, "no_files", False)
    try:
        return load_config(args.config, data_dir=args.data_dir, check_files=check_files)
    except ConfigError as exc:
        raise _Failure(str(exc), EXIT_CONFIG) from None


def _import_entry(module: str, function: str, what: str) -> Callable[..., Any]:
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module.startswith(exc.name):
            message = f"{what} is not available: module {module} is missing"
            raise _Failure(message, EXIT_RUNTIME) from None
        raise
    entry = getattr(mod, function, None)
    if entry is None:
        raise _Failure(f"{what} is not available: {module}.{function} is missing", EXIT_RUNTIME)
    return entry  # type: ignore[no-any-return]


def _call(entry: Callable[..., Any], *args: object) -> int:
    """Run ``entry(*args)`` (an async entry point under ``trio.run``). Ctrl-C is a normal stop;
    any other exception is logged through the redacting logger and means exit code 1."""
    try:
        result = trio.run(entry, *args) if inspect.iscoroutinefunction(entry) else entry(*args)
    except KeyboardInterrupt:
        return EXIT_OK
    except Exception:
        get_logger("smppcore.cli").exception("stopped by an unexpected error")
        return EXIT_RUNTIME
    return result if isinstance(result, int) else EXIT_OK  # run_daemon returns its exit code


def _config_arguments(parser: argparse.ArgumentParser, *, positional: bool) -> None:
    if positional:
        parser.add_argument("config", type=Path, metavar="FILE", help="the TOML config file")
    else:
        parser.add_argument(
            "--config", type=Path, required=True, metavar="FILE", help="the TOML config file"
        )
    parser.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="where state lives (overrides SMPPCORE_DATA_DIR and [daemon] data_dir)",
    )


# --- run ----------------------------------------------------------------------------------


def _run_arguments(parser: argparse.ArgumentParser) -> None:
    _config_arguments(parser, positional=False)


def _run(args: argparse.Namespace) -> int:
    config = _load(args)
    configure_logging(
        config.logging.format, config.logging.level, cache_loggers=True,
        node_id=config.daemon.node_id,
    )  # fmt: skip
    run_daemon = _import_entry("smppcore.daemon", "run_daemon", "the daemon")
    return _call(run_daemon, config)


# --- check-config -------------------------------------------------------------------------


def _check_arguments(parser: argparse.ArgumentParser) -> None:
    _config_arguments(parser, positional=True)
    parser.add_argument(
        "--no-files",
        action="store_true",
        help="check the config alone, on a machine without its certificates and secrets: "
        "files are not opened, missing environment secrets are not errors, and the parts "
        "are not built",
    )


def summarize(config: Config) -> str:
    """A one-line description of a loaded config (names and counts, no secrets)."""
    listeners = ", ".join(f"{x.host}:{x.port}{' tls' if x.tls else ''}" for x in config.listeners)
    store = f"sqlite {config.store.path}" if config.store.backend == "sqlite" else "redis"
    parts = [
        f"{config.source}: OK",
        f"listeners {listeners or 'none'}",
        f"{len(config.accounts)} account(s)",
        f"{len(config.connectors)} connector(s)",
        f"{len(config.routes)} route(s)",
        f"store {store}",
        f"data dir {config.daemon.data_dir}",
    ]
    if config.simulator.enabled:
        parts.append(f"simulator {config.simulator.host}:{config.simulator.port}")
    return "; ".join(parts)


def _check(args: argparse.Namespace) -> int:
    from smppcore.startup import StartupError, check_startup

    config = _load(args)
    if args.no_files:
        print(summarize(config) + " (files, secrets and parts not checked: --no-files)")
        return EXIT_OK
    try:
        check_startup(config)
    except StartupError as exc:
        raise _Failure(f"{config.source}: {exc}", EXIT_CONFIG) from None
    except OSError as exc:
        message = f"cannot make a scratch store to check in: {exc.strerror or exc}"
        raise _Failure(message, EXIT_RUNTIME) from None
    print(summarize(config))
    return EXIT_OK


# --- hash-password ------------------------------------------------------------------------


def _hash_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "Reads one line from stdin when it is not a terminal (e.g. `smppcore hash-password "
        "< file`), otherwise prompts twice without echo. Prints the scrypt hash to put in "
        "accounts[].password_hash."
    )


def _hash(args: argparse.Namespace) -> int:
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise _Failure("the passwords differ", EXIT_CONFIG)
    else:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    if not password:
        raise _Failure("empty password", EXIT_CONFIG)
    print(hash_password(password))
    return EXIT_OK


# --- simulate -----------------------------------------------------------------------------


def _simulate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, metavar="FILE", help="take [simulator] from this file"
    )
    parser.add_argument("--data-dir", type=Path, metavar="DIR", help=argparse.SUPPRESS)


def _simulate(args: argparse.Namespace) -> int:
    if args.config is not None:
        config = _load(args)
        settings, log_format, level = config.simulator, config.logging.format, config.logging.level
    else:
        settings, log_format, level = SimulatorConfig(enabled=True), "console", "info"
    configure_logging(log_format, level)
    run_simulator = _import_entry("connectors.simulator", "run_simulator", "the simulator")
    return _call(run_simulator, settings)


# --- data commands: erase, export, optout ---------------------------------------------
# They open the store the config names directly (no daemon needed; SQLite allows a second
# process), print JSON, and never print a handset's number other than the one the operator
# typed. What they accept and how records read is smppcore.cli_data.


def _data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("msisdn", metavar="MSISDN", help="the number (any written form)")
    _config_arguments(parser, positional=False)


def _msisdn_forms(config: Config, typed: str) -> list[str]:
    """The typed number, and its E.164 form when it was written nationally; exit 2 (without
    the number) when it is not a phone number."""
    from smppcore.cli_data import ArgumentProblem, handset_forms

    try:
        return handset_forms(config, typed)
    except ArgumentProblem as exc:
        raise _Failure(str(exc), EXIT_CONFIG) from None


def _with_store(config: Config, work: Callable[[Any], Any]) -> Any:
    from smppcore.gateway.privacy import open_configured_store

    async def run() -> Any:
        async with open_configured_store(config) as store:
            return await work(store)

    try:
        return trio.run(run)
    except (OSError, ConnectionError) as exc:
        raise _Failure(f"cannot use the store: {type(exc).__name__}: {exc}", EXIT_RUNTIME) from None


def _print_json(value: object) -> None:
    print(json.dumps(value, indent=2, sort_keys=True, default=str))


def _erase(args: argparse.Namespace) -> int:
    from smppcore.gateway.privacy import erase_msisdn

    config = _load(args)
    forms = _msisdn_forms(config, args.msisdn)

    async def work(store: Any) -> dict[str, int]:
        totals: dict[str, int] = {}
        for form in forms:
            for kind, count in (await erase_msisdn(store, form, time.time())).items():
                totals[kind] = totals.get(kind, 0) + count
        return totals

    _print_json({"erased": _with_store(config, work)})
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    from smppcore.cli_data import readable
    from smppcore.gateway.privacy import export_msisdn

    config = _load(args)
    forms = _msisdn_forms(config, args.msisdn)

    async def work(store: Any) -> dict[str, list[object]]:
        merged: dict[str, list[object]] = {}
        for form in forms:
            for kind, records in (await export_msisdn(store, form)).items():
                bucket = merged.setdefault(kind, [])
                bucket.extend(r for r in records if r not in bucket)
        return merged

    _print_json(readable(_with_store(config, work)))
    return EXIT_OK


def _optout_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="optout_action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="opt-outs as hashes, keyword and time")
    _config_arguments(listing, positional=False)
    for name, help_text in (
        ("add", "suppress a number"),
        ("remove", "lift a suppression"),
        ("check", "is a number suppressed (for each --scope, or wherever it is)"),
    ):
        action = actions.add_parser(name, help=help_text, description=help_text)
        action.add_argument("msisdn", metavar="MSISDN", help="the handset's number")
        action.add_argument(
            "--scope", action="append", required=name != "check", metavar="NUMBER|ACCOUNT",
            help="an account's system_id or a sender number an account owns (repeatable)",
        )  # fmt: skip
        if name == "add":
            action.add_argument("--keyword", default="CLI", help="recorded with the entry")
        _config_arguments(action, positional=False)


def _scope(config: Config, scope: str) -> str:
    from smppcore.cli_data import ArgumentProblem, resolve_scope

    try:
        return resolve_scope(config, scope)
    except ArgumentProblem as exc:
        raise _Failure(str(exc), EXIT_CONFIG) from None


async def _check_optout(
    config: Config, store: Any, handset: str, scopes: list[str] | None
) -> dict[str, object]:
    """``{"suppressed": bool, "scopes": [...]}``: one entry per asked scope, or (no scope
    asked) one per suppression of the handset, its scope named when the config defines it."""
    from smppcore.cli_data import iso_utc, named_scopes

    subject = store.hash_msisdn(handset)
    held = {s.scope_hash: s for s in await store.list_suppressions() if s.recipient_hash == subject}
    entries: list[dict[str, object]] = []
    if scopes is None:
        names = named_scopes(config, store.hash_msisdn)
        for scope_hash, entry in sorted(held.items()):
            entries.append({"scope": names.get(scope_hash), "scope_hash": scope_hash,
                            "suppressed": True, "keyword": entry.keyword,
                            "created_at": iso_utc(entry.created_at)})  # fmt: skip
    else:
        for scope in scopes:
            found = held.get(store.hash_msisdn(scope))
            row: dict[str, object] = {"scope": scope, "suppressed": found is not None}
            if found is not None:
                row.update(keyword=found.keyword, created_at=iso_utc(found.created_at))
            entries.append(row)
    return {"suppressed": any(e["suppressed"] for e in entries), "scopes": entries}


def _optout(args: argparse.Namespace) -> int:
    from smppcore.cli_data import iso_utc
    from smppcore.gateway.privacy import list_optouts, record_opt_in, record_opt_out

    config = _load(args)
    if args.optout_action == "list":
        entries = _with_store(config, list_optouts)
        _print_json([{**e, "created_at": iso_utc(e["created_at"])} for e in entries])
        return EXIT_OK
    handset = _msisdn_forms(config, args.msisdn)[-1]
    scopes = None if args.scope is None else [_scope(config, scope) for scope in args.scope]

    async def work(store: Any) -> dict[str, object]:
        now = time.time()
        if args.optout_action == "check":
            return await _check_optout(config, store, handset, scopes)
        assert scopes is not None  # required by the parser for add and remove
        if args.optout_action == "add":
            added = 0
            for scope in scopes:
                added += int(await record_opt_out(store, scope, handset, args.keyword, now,
                                                  source="cli"))  # fmt: skip
            return {"added": added}
        return {"removed": await record_opt_in(store, scopes, handset, "CLI", now, source="cli")}

    _print_json(_with_store(config, work))
    return EXIT_OK


# --- the table ----------------------------------------------------------------------------

#: name -> (help, add_arguments, handler). Data commands (erase, export, optout, status) go here.
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Handler]] = {
    "run": ("start the daemon", _run_arguments, _run),
    "check-config": ("validate a config file", _check_arguments, _check),
    "hash-password": ("hash a client password for the config", _hash_arguments, _hash),
    "simulate": ("run the built-in SMSC simulator alone", _simulate_arguments, _simulate),
    "status": ("ask the running daemon how it is", status_arguments, status_command),
    "erase": ("erase every record of a number (keeps its hashed opt-out)", _data_arguments, _erase),
    "export": ("print every record held about a number, as JSON", _data_arguments, _export),
    "optout": ("list, add, remove or check opt-outs (suppressions)", _optout_arguments, _optout),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smppcore",
        description="SMPP 3.4 gateway engine.",
        epilog="exit codes: 0 ok, 1 runtime error, 2 usage or configuration error",
    )
    parser.add_argument("--version", action="version", version=f"smppcore {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, add_arguments, handler) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(command)
        command.set_defaults(handler=handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``smppcore`` script; returns the exit code."""
    args = build_parser().parse_args(argv)  # exits 2 on usage errors
    handler: Handler = args.handler
    try:
        return handler(args)
    except _Failure as failure:
        print(f"smppcore: {failure}", file=sys.stderr)
        return failure.code
    except KeyboardInterrupt:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
