"""Configuration errors: one exception that names the file, the key path and the problem."""

from __future__ import annotations

from pathlib import Path

__all__ = ["ConfigError", "SmppcoreConfigError"]


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
