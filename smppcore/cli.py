"""The ``smppcore`` command line.

Owns argument parsing and the mapping of outcomes to exit codes; the work lives elsewhere.

Subcommands::

    smppcore run --config FILE [--data-dir DIR]   start the daemon (smppcore.daemon.run_daemon)
    smppcore check-config FILE [--data-dir DIR]   validate a config, print a one-line summary
    smppcore hash-password                        read a password (stdin or prompt), print hash
    smppcore simulate [--config FILE]             run the SMSC simulator alone

Data commands (``erase``, ``export``, ``optout``, ``status``) are added to ``COMMANDS`` below
when the store-facing code exists: each entry is ``name -> (help, add_arguments, handler)``.

Exit codes:

* ``0`` - success (also a daemon stopped with Ctrl-C);
* ``1`` - runtime error (a component missing, the daemon failed);
* ``2`` - usage or configuration error (bad arguments, a ``ConfigError``, empty password).
"""

from __future__ import annotations

import argparse
import getpass
import importlib
import inspect
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import trio

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
    try:
        return load_config(args.config, data_dir=args.data_dir)
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
    configure_logging(config.logging.format, config.logging.level, cache_loggers=True)
    run_daemon = _import_entry("smppcore.daemon", "run_daemon", "the daemon")
    return _call(run_daemon, config)


# --- check-config -------------------------------------------------------------------------


def _check_arguments(parser: argparse.ArgumentParser) -> None:
    _config_arguments(parser, positional=True)


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
    print(summarize(_load(args)))
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


# --- the table ----------------------------------------------------------------------------

#: name -> (help, add_arguments, handler). Data commands (erase, export, optout, status) go here.
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Handler]] = {
    "run": ("start the daemon", _run_arguments, _run),
    "check-config": ("validate a config file", _check_arguments, _check),
    "hash-password": ("hash a client password for the config", _hash_arguments, _hash),
    "simulate": ("run the built-in SMSC simulator alone", _simulate_arguments, _simulate),
    "status": ("ask the running daemon how it is", status_arguments, status_command),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smppcore",
        description="SMPP 3.4 gateway engine.",
        epilog="exit codes: 0 ok, 1 runtime error, 2 usage or configuration error",
    )
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
