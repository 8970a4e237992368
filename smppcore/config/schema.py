"""A small table-driven validator: TOML tables -> the attrs classes of :mod:`.model`.

Owns the generic conversion by type annotation (str, int, float, bool, Path, Literal,
optional, tuple, mapping, nested attrs class, value types with ``from_config``), unknown-key
detection with a "did you mean" hint, per-key checks from field metadata and per-class
``_problems()``. Every error is a :class:`ConfigError` naming the file and key path.
"""

from __future__ import annotations

import difflib
import functools
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import attrs

from smppcore.config.errors import ConfigError, each_error, raise_all

__all__ = ["Builder", "join"]

T = TypeVar("T")

_TYPE_WORDS = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    list: "a list",
    dict: "a table",
}


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _describe(value: object) -> str:
    for kind, word in reversed(list(_TYPE_WORDS.items())):
        if isinstance(value, kind):
            return word
    return type(value).__name__


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


class Builder:
    """Converts TOML data into config objects for one file."""

    def __init__(self, file: Path, *, check_files: bool = True) -> None:
        self.file = file
        self.base_dir = file.parent
        #: False: files named by the config are not opened (``check-config --no-files``)
        self.check_files = check_files

    def error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(self.file, key, problem)

    def build(self, cls: type[T], table: object, path: str) -> T:
        """``table`` as a ``cls``. Every problem in the table (and the tables in it) is
        collected and raised together (:func:`~smppcore.config.errors.raise_all`), so one
        run names them all."""
        if not isinstance(table, dict):
            raise self.error(path, f"expected a table, got {_describe(table)}")
        fields = [f for f in attrs.fields(typing.cast(Any, cls)) if not f.metadata.get("internal")]
        known = [f.name for f in fields]
        errors: list[ConfigError] = []
        for key in table:
            if key not in known:
                hint = difflib.get_close_matches(key, known, n=1)
                more = f" (did you mean {hint[0]!r}?)" if hint else f" (known: {', '.join(known)})"
                errors.append(self.error(join(path, key), f"unknown key{more}"))
        hints = _hints(typing.cast(type, cls))
        kwargs: dict[str, Any] = {}
        for field in fields:
            key_path = join(path, field.name)
            if field.name not in table:
                if field.default is attrs.NOTHING:
                    errors.append(self.error(key_path, "required key is missing"))
                continue
            try:
                value = self.convert(table[field.name], hints[field.name], key_path, field)
            except ConfigError as exc:
                errors.extend(each_error(exc))
                continue
            problem = next(
                (p for check in field.metadata.get("checks", ()) if (p := check(value))), None
            )
            if problem:
                errors.append(self.error(key_path, problem))
                continue
            kwargs[field.name] = value
        raise_all(errors)
        obj = cls(**kwargs)
        problems = getattr(obj, "_problems", None)
        if problems is not None:
            raise_all([self.error(join(path, key), problem) for key, problem in problems()])
        return obj

    def convert(self, value: object, tp: Any, path: str, field: attrs.Attribute[Any]) -> Any:
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin in (typing.Union, types.UnionType):
            # TOML has no null: an optional key is simply absent; convert to the real type.
            real = [a for a in args if a is not type(None)]
            return self.convert(value, real[0], path, field)
        if origin is typing.Literal:
            if value not in args:
                choices = ", ".join(repr(a) for a in args)
                shown = "" if not field.repr else f" (got {value!r})"
                raise self.error(path, f"must be one of {choices}{shown}")
            return value
        if origin is tuple:
            if not isinstance(value, list):
                raise self.error(path, f"expected a list, got {_describe(value)}")
            items: list[Any] = []
            errors: list[ConfigError] = []
            for i, x in enumerate(value):
                try:
                    items.append(self.convert(x, args[0], join(path, i), field))
                except ConfigError as exc:
                    errors.extend(each_error(exc))
            raise_all(errors)
            return tuple(items)
        if origin in (Mapping, dict) or tp is Mapping:
            if not isinstance(value, dict):
                raise self.error(path, f"expected a table, got {_describe(value)}")
            item_type = args[1] if args else Any
            return {k: self.convert(x, item_type, join(path, k), field) for k, x in value.items()}
        if tp is Any or tp is object:
            return value
        from_config = getattr(tp, "from_config", None)
        if from_config is not None:
            try:
                return from_config(value)
            except ValueError as exc:
                raise self.error(path, str(exc)) from None
        if attrs.has(tp):
            return self.build(tp, value, path)
        if tp is Path:
            return self._path(value, path, field)
        return self._scalar(value, tp, path)

    def _scalar(self, value: object, tp: type, path: str) -> Any:
        ok = isinstance(value, tp) and not (tp is not bool and isinstance(value, bool))
        if tp is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not ok:
            raise self.error(path, f"expected {_TYPE_WORDS.get(tp, tp.__name__)}, "
                                   f"got {_describe(value)}")  # fmt: skip
        return value

    def _path(self, value: object, path: str, field: attrs.Attribute[Any]) -> Path:
        if not isinstance(value, str) or not value:
            raise self.error(path, f"expected a file path string, got {_describe(value)}")
        result = Path(value).expanduser()
        if field.metadata.get("base") == "config" and not result.is_absolute():
            result = (self.base_dir / result).resolve()
        if field.metadata.get("readable") and self.check_files:
            try:
                with result.open("rb") as fh:
                    empty = not fh.read(1)
            except OSError as exc:
                raise self.error(path, f"cannot read {result}: {exc.strerror}") from None
            if empty:
                raise self.error(path, f"{result} is empty")
        return result
