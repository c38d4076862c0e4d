"""Settings models: a capability declares each of its settings once, as a field of a frozen dataclass
whose rules ride on the field (`setting(ge=1, pattern=...)`, `check(self)`, `prepare(data)`; how synth, the
CLI and the functions use them: docs/adding-a-capability.md). A function validates what it received back into
the same dataclasses with `received` at cold start. No pydantic here: this module is on every cold-start path.
"""

from __future__ import annotations

import json
import math
import re
import types
import typing
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from typing import Any, TypeVar, dataclass_transform

from mlgov_runtime.core.env import Env, SettingsError

SETTINGS_JSON = "MLGOV_{NAME}_SETTINGS"  # a capability's settings as its construct received them (`variable`)
RULES = ("gt", "ge", "lt", "le", "min_length", "max_length", "pattern")

T = TypeVar("T")


def setting(
    default: Any = MISSING,
    *,
    factory: Callable[[], Any] | None = None,
    check: Callable[[Any], Any] | None = None,
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = None,
    min_length: int | None = None,
    max_length: int | None = None,
    pattern: str | None = None,
) -> Any:
    """One setting: its default (or `factory`), its bounds and pattern, and an optional `check` that
    returns the value or raises ValueError with the reason."""
    given = {"gt": gt, "ge": ge, "lt": lt, "le": le, "min_length": min_length, "max_length": max_length}
    metadata: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    if pattern is not None:
        metadata["pattern"] = pattern
    if check is not None:
        metadata["check"] = check
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(setting,))
def settings_model(cls: type[T]) -> type[T]:
    """Mark a class as a settings model (a frozen, keyword-only dataclass). No generated __repr__ or __eq__:
    each costs cold start on every model, and settings are compared as the JSON they travel in."""
    return dataclass(frozen=True, kw_only=True, repr=False, eq=False)(cls)


def all_match(values: list[str], pattern: str, what: str) -> list[str]:
    for value in values:
        if not re.fullmatch(pattern, value):
            raise ValueError(f"{value!r} is not {what}")
    return values


# Exempt roles (pipeline, approver, role admin, ...) sit on this IAM path, where only role admins create roles.
PROTECTED_ROLE_PATH = "/mlgov-protected/"
ROLE_PATH = r"^/([\w+=,.@-]+/)+$"


def protected_path_problem(arns: list[str], path: str) -> str | None:
    """The cross-key rule synth (mlgov.settings.Guardrails) and cold start (a `Received` with role ARNs) both
    apply: why one of these role ARNs is not on the protected path, or None."""
    for arn in arns:
        head, _, rest = arn.partition(":role")
        if not rest.startswith(path):
            name = rest.rsplit("/", 1)[-1]
            return (
                f"{arn!r} is not on the protected path {path} "
                "(a role name alone can be copied by anyone who may create roles): have a role admin "
                f"(guardrails.role_admin_arns) create it with `aws iam create-role --path {path}` and name it "
                f"{head}:role{path}{name}"
            )
    return None


class KeyProblem(ValueError):
    """A cross-field rule's failure that belongs to one key of the model (the message names that key)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


# The validating loader: what pydantic checks at synth, checked again on the JSON the function receives.

_HINTS: dict[type, dict[str, Any]] = {}


def hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def variable(cls: type) -> str:
    """The environment variable of a capability's `Received` (mlgov_runtime.<name>.settings): one per
    capability, so functions of several capabilities can share one process (the sandbox) without mixing."""
    return SETTINGS_JSON.format(NAME=cls.__module__.rsplit(".", 2)[-2].upper())


def _fail(where: str, message: str) -> SettingsError:
    return SettingsError(f"'{where}': {message}")


def _value(kind: Any, value: Any, where: str) -> Any:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is Any:
        return value
    if origin is typing.Literal:
        if not any(value == a and type(value) is type(a) for a in args):
            raise _fail(where, f"{value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _value(arg, value, where)
            except SettingsError:
                continue
        raise _fail(where, f"{value!r} matches none of its types")
    if origin in (list, tuple, frozenset):
        if not isinstance(value, (list, tuple)):
            raise _fail(where, "not a list")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise _fail(where, f"needs {len(args)} items")
            return tuple(_value(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True)))
        item = args[0] if args else Any
        items = [_value(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return origin(items) if origin is not list else items
    if origin is dict:
        if not isinstance(value, dict):
            raise _fail(where, "not an object")
        key_kind, value_kind = args or (Any, Any)
        return {_value(key_kind, k, where): _value(value_kind, v, f"{where}.{k}") for k, v in value.items()}
    if is_dataclass(kind) and isinstance(kind, type):
        return load(kind, value, where)
    if kind is bool:
        if not isinstance(value, bool):
            raise _fail(where, f"{value!r} is not true or false")
        return value
    if kind is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _fail(where, f"{value!r} is not a whole number")
        return value
    if kind is float:
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise _fail(where, f"{value!r} is not a number")
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise _fail(where, f"{value!r} is not a string")
        return value
    raise _fail(where, f"no rule to read a {kind!r}")


def _rules(metadata: Any, value: Any, where: str) -> None:
    if value is None:
        return
    bounds = {"gt": float.__gt__, "ge": float.__ge__, "lt": float.__lt__, "le": float.__le__}
    for name, holds in bounds.items():
        if name in metadata and isinstance(value, (int, float)) and not holds(float(value), float(metadata[name])):
            raise _fail(where, f"{value!r} breaks {name} {metadata[name]}")
    if "min_length" in metadata and len(value) < metadata["min_length"]:
        raise _fail(where, f"has fewer than {metadata['min_length']} items")
    if "max_length" in metadata and len(value) > metadata["max_length"]:
        raise _fail(where, f"has more than {metadata['max_length']} items")
    if "pattern" in metadata and isinstance(value, str) and not re.search(metadata["pattern"], value):
        raise _fail(where, f"{value!r} does not match {metadata['pattern']}")


def load(cls: type[T], data: Any, where: str) -> T:
    """`data` (decoded JSON) as a `cls` settings model, validated by the rules on its fields."""
    prepare = getattr(cls, "prepare", None)
    if prepare is not None and isinstance(data, dict):
        try:
            data = prepare(data)
        except ValueError as exc:
            raise _fail(where, str(exc)) from None
    if not isinstance(data, dict):
        raise _fail(where, "not an object")
    known = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
    for key in data:
        if key not in known:
            raise _fail(f"{where}.{key}", "unknown setting")
    kinds, values = hints(cls), {}
    for name, spec in known.items():
        if name not in data:
            if spec.default is MISSING and spec.default_factory is MISSING:
                raise _fail(f"{where}.{name}", "missing")
            continue
        value = _value(kinds[name], data[name], f"{where}.{name}")
        _rules(spec.metadata, value, f"{where}.{name}")
        if "check" in spec.metadata:
            try:
                value = spec.metadata["check"](value)
            except ValueError as exc:
                raise _fail(f"{where}.{name}", str(exc)) from None
        values[name] = value
    model = cls(**values)
    check = getattr(model, "check", None)
    if check is not None:
        try:
            check()
        except ValueError as exc:
            raise _fail(f"{where}.{getattr(exc, 'key', '')}".rstrip("."), str(exc)) from None
    return model


def _decoded(env: Env, name: str) -> dict[str, Any]:
    text = env.get(name)
    if not text:
        raise SettingsError(f"environment variable {name}: missing (the settings its construct passes)")
    try:
        raw = json.loads(text)
    except ValueError:
        raise SettingsError(f"environment variable {name}: not valid JSON") from None
    if not isinstance(raw, dict):
        raise SettingsError(f"environment variable {name}: not a JSON object")
    return raw


def dump(value: Any, kind: Any) -> Any:
    """`value` (the dataclass, or the pydantic model derived from it) as the JSON `kind` reads back:
    only the fields `kind` declares (a capability's `Thresholds` picks its knobs from all of them)."""
    if isinstance(kind, type) and is_dataclass(kind):
        kinds = hints(kind)
        return {f.name: dump(getattr(value, f.name), kinds[f.name]) for f in fields(kind)}
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        models = [a for a in args if isinstance(a, type) and is_dataclass(a)]
        return dump(value, models[0]) if models else dump(value, Any)
    if origin in (list, tuple, frozenset) and args and args[-1] is not Ellipsis and origin is not tuple:
        return [dump(v, args[0]) for v in value]
    if origin is dict and args:
        return {k: dump(v, args[1]) for k, v in value.items()}
    if isinstance(value, (list, tuple, frozenset)):
        return [dump(v, Any) for v in value]
    if isinstance(value, dict):
        return {k: dump(v, Any) for k, v in value.items()}
    return value


def received_environment(settings: Any, received: type) -> dict[str, str]:
    """The one environment variable that carries what a function receives (`received`: a dataclass whose
    fields are named after the settings' top-level keys), from the validated settings."""
    return {variable(received): json.dumps(dump(settings, received), sort_keys=True, separators=(",", ":"))}


def received(env: Env, cls: type[T]) -> T:
    """What this function received (its `variable`), validated as `cls`."""
    name = variable(cls)
    try:
        return load(cls, _decoded(env, name), "mlgov")
    except SettingsError as exc:
        message = str(exc).removeprefix(f"environment variable {name}: ")
        raise SettingsError(f"environment variable {name}: {message}") from None
