"""Configuration errors: one exception that names the file, the key path and the problem
(:class:`ConfigError`), and :class:`ConfigErrors` for all the problems found in one pass."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

__all__ = ["ConfigError", "ConfigErrors", "SmppcoreConfigError", "each_error", "raise_all"]


class SmppcoreConfigError(ValueError):
    """Base class of every configuration problem smppcore reports."""


class ConfigError(SmppcoreConfigError):
    """A problem in a config file, e.g. ``local.toml: accounts[1].password_hash: required key
    is missing``. ``key`` is the dotted key path (empty for the file as a whole)."""

    def __init__(self, file: Path | str, key: str, problem: str) -> None:
        self.file = Path(file)
        self.key = key
        self.problem = problem
        where = f"{self.file}: {key}" if key else str(self.file)
        super().__init__(f"{where}: {problem}")


class ConfigErrors(ConfigError):
    """Several problems found in one pass, one per line; ``errors`` lists them. Its own
    ``file``/``key``/``problem`` are the first one's."""

    def __init__(self, errors: Sequence[ConfigError]) -> None:
        first = errors[0]
        super().__init__(first.file, first.key, first.problem)
        self.errors = list(errors)
        self.args = ("\n".join(str(e) for e in self.errors),)

    def __str__(self) -> str:
        return str(self.args[0])


def each_error(exc: ConfigError) -> list[ConfigError]:
    """The single problems in ``exc`` (itself, or what a :class:`ConfigErrors` holds)."""
    return list(exc.errors) if isinstance(exc, ConfigErrors) else [exc]


def raise_all(errors: Sequence[ConfigError]) -> None:
    """Raise what was collected, if anything: one problem as itself, several together."""
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ConfigErrors(errors)
