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
        scrape the running daemon's /metrics once and print its health.
        0 the daemon answered; 1 no answer (or metrics disabled); 2 a ConfigError.
    smppcore erase MSISDN --config FILE [--data-dir DIR]
        erase every record of a number (its hashed opt-out stays), print counts as JSON.
        0 done; 1 the store cannot be used; 2 bad arguments or a ConfigError.
    smppcore export MSISDN --config FILE [--data-dir DIR]
        print every record held about a number, as JSON.
        0 done; 1 the store cannot be used; 2 bad arguments or a ConfigError.
    smppcore optout list|add|remove [MSISDN --scope NUMBER|ACCOUNT ...] --config FILE
        list opt-outs (hashes, keyword and time only), or add / lift suppressions; JSON out.
        0 done; 1 the store cannot be used; 2 bad arguments or a ConfigError.

Each ``COMMANDS`` entry is ``name -> (help, add_arguments, handler)``; a test checks this
docstring names every one of them.

Exit codes:

* ``0`` - success (also a daemon or simulator stopped with Ctrl-C);
* ``1`` - runtime error (a component missing, the daemon failed, the store unusable, no
  daemon answering ``status``);
* ``2`` - usage or configuration error (bad arguments, a ``ConfigError``, empty password).
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
# process), print JSON, and never print a number other than the one the operator typed.


def _data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("msisdn", metavar="MSISDN", help="the number (any written form)")
    _config_arguments(parser, positional=False)


def _msisdn_forms(config: Config, typed: str) -> list[str]:
    """The typed number, and its E.164 form when it was written nationally."""
    from smppcore.gateway.replies import normalise_mo_address

    forms = [typed]
    compact = "".join(ch for ch in typed if ch not in " -.()/")  # as people write numbers
    e164 = normalise_mo_address(compact, 0, config.policy.default_country)
    if e164 and e164 not in forms:
        forms.append(e164)
    return forms


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

    async def work(store: Any) -> dict[str, int]:
        totals: dict[str, int] = {}
        for form in _msisdn_forms(config, args.msisdn):
            for kind, count in (await erase_msisdn(store, form, time.time())).items():
                totals[kind] = totals.get(kind, 0) + count
        return totals

    _print_json({"erased": _with_store(config, work)})
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    from smppcore.gateway.privacy import export_msisdn

    config = _load(args)

    async def work(store: Any) -> dict[str, list[object]]:
        merged: dict[str, list[object]] = {}
        for form in _msisdn_forms(config, args.msisdn):
            for kind, records in (await export_msisdn(store, form)).items():
                bucket = merged.setdefault(kind, [])
                bucket.extend(r for r in records if r not in bucket)
        return merged

    _print_json(_with_store(config, work))
    return EXIT_OK


def _optout_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="optout_action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="opt-outs as hashes, keyword and time")
    _config_arguments(listing, positional=False)
    for name, help_text in (("add", "suppress a number"), ("remove", "lift a suppression")):
        action = actions.add_parser(name, help=help_text)
        action.add_argument("msisdn", metavar="MSISDN", help="the handset's number")
        action.add_argument(
            "--scope", action="append", required=True, metavar="NUMBER|ACCOUNT",
            help="our sender number or an account's system_id (repeatable)",
        )  # fmt: skip
        if name == "add":
            action.add_argument("--keyword", default="CLI", help="recorded with the entry")
        _config_arguments(action, positional=False)


def _scope(config: Config, scope: str) -> str:
    if config.account(scope) is not None:
        return scope
    forms = _msisdn_forms(config, scope)
    return forms[-1]


def _optout(args: argparse.Namespace) -> int:
    from smppcore.gateway.privacy import list_optouts, record_opt_in, record_opt_out

    config = _load(args)
    if args.optout_action == "list":
        _print_json(_with_store(config, list_optouts))
        return EXIT_OK
    handset = _msisdn_forms(config, args.msisdn)[-1]
    scopes = [_scope(config, scope) for scope in args.scope]

    async def work(store: Any) -> dict[str, int]:
        now = time.time()
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
    "optout": ("list, add or remove opt-outs (suppression list)", _optout_arguments, _optout),
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
