"""Sampling options as data: each model declares a `SampleOptions` dataclass whose fields are made with `option()`.

    @dataclass
    class SampleOptions:
        temperature: float = option(1.0, min=0.0, max=100.0, help="softmax temperature; 0 = most likely")
        sampler: str = option("ddim", choices=("ddim", "ddpm"), help="reverse process")
        steps: int | None = option(None, min=1, max=10_000, help="reverse steps (default: 50)")

`option_specs(SampleOptions)` turns it into `OptionSpec`s, the one description every consumer builds from: the
check of a run's options, the CLI's flags and `--opt NAME=VALUE`, the HTTP API's request fields (and so its
OpenAPI schema), the studio's controls and `spriteforge models`. Numbers have finite ranges, so a value that would
overflow a softmax (1e308, NaN, inf) is refused with a message naming the option, the value and the range.
"""

from __future__ import annotations

import builtins
import math
import numbers
import types
import typing
from dataclasses import MISSING, Field, dataclass, field, fields, is_dataclass
from typing import Any

from spriteforge.errors import SpriteforgeError

TYPES: dict[type, str] = {bool: "bool", int: "int", float: "float", str: "str"}


def option(
    default: Any,
    *,
    help: str,  # noqa: A002 - the word every CLI and schema uses
    min: float | None = None,  # noqa: A002
    max: float | None = None,  # noqa: A002
    choices: tuple[str, ...] | None = None,
) -> Any:
    """A SampleOptions field: its default (None: the model decides, as the help says), help, range and choices."""
    return field(default=default, metadata={"help": help, "min": min, "max": max, "choices": choices})


@dataclass(frozen=True)
class OptionSpec:
    """One sampling option: name, type ("float", "int", "str" or "bool"), default, help, range and choices.

    `models` names the models that declare it when the spec is the union over several (`merged_specs`)."""

    name: str
    type: str
    default: Any
    help: str
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] | None = None
    models: tuple[str, ...] = ()

    @property
    def python_type(self) -> builtins.type:  # builtins.: the field `type` shadows the name in this class
        return next(kind for kind, name in TYPES.items() if name == self.type)

    def allowed(self) -> str:
        """What the option takes, in words: "a number from 0 to 100", "one of ddim, ddpm", ..."""
        if self.choices:
            return f"one of {', '.join(self.choices)}"
        kind = {"float": "a number", "int": "an integer", "str": "text", "bool": "true or false"}[self.type]
        if self.min is not None and self.max is not None:
            return f"{kind} from {_number(self.min)} to {_number(self.max)}"
        if self.min is not None:
            return f"{kind} >= {_number(self.min)}"
        if self.max is not None:
            return f"{kind} <= {_number(self.max)}"
        return kind

    def check(self, value: Any) -> Any:
        """The value as this option's type, or an error naming the option, the value and what it takes."""
        if self.type == "bool":
            ok = isinstance(value, bool)
        elif self.type == "int":
            ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        elif self.type == "float":
            ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
        else:
            ok = isinstance(value, str)
        if ok and self.type in ("int", "float"):
            value = self.python_type(value)
            ok = (self.min is None or value >= self.min) and (self.max is None or value <= self.max)
        if ok and self.choices:
            ok = value in self.choices
        if not ok:
            raise SpriteforgeError(f"sampling option {self.name}={value!r}: must be {self.allowed()}.")
        return value

    def parse(self, text: str) -> Any:
        """A value given as text (`--opt NAME=VALUE`), checked."""
        if self.type == "str":
            return self.check(text)
        if self.type == "bool":
            words = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
            if text.strip().lower() not in words:
                raise SpriteforgeError(f"sampling option {self.name}={text!r}: must be {self.allowed()}.")
            return words[text.strip().lower()]
        try:
            value = self.python_type(text)
        except ValueError:
            raise SpriteforgeError(f"sampling option {self.name}={text!r}: must be {self.allowed()}.") from None
        return self.check(value)

    def to_json(self) -> dict[str, Any]:
        """The spec as JSON (the HTTP API and `spriteforge models --json`); choices as a list."""
        data = {
            "name": self.name,
            "type": self.type,
            "default": self.default,
            "help": self.help,
            "min": self.min,
            "max": self.max,
            "choices": list(self.choices) if self.choices else None,
        }
        if self.models:
            data["models"] = list(self.models)
        return data


def option_specs(options_class: type) -> list[OptionSpec]:
    """The specs of a SampleOptions dataclass, in declaration order; every field must be made with `option()`."""
    if not is_dataclass(options_class):
        raise TypeError(f"{options_class.__qualname__}: SampleOptions must be a dataclass")
    hints = typing.get_type_hints(options_class)
    return [_spec(item, hints[item.name], options_class) for item in fields(options_class)]


def _spec(item: Field, hint: Any, owner: type) -> OptionSpec:
    kind = _base_type(hint)
    if kind not in TYPES or "help" not in item.metadata or item.default is MISSING:
        raise TypeError(
            f"{owner.__qualname__}.{item.name}: declare it as `name: float|int|str|bool = option(default, help=...)`"
        )
    meta = item.metadata
    numeric = kind in (int, float)
    if numeric and not all(v is None or math.isfinite(v) for v in (meta["min"], meta["max"])):
        raise TypeError(f"{owner.__qualname__}.{item.name}: min and max must be finite numbers")
    choices = tuple(meta["choices"]) if meta["choices"] else None
    return OptionSpec(item.name, TYPES[kind], item.default, meta["help"], meta["min"], meta["max"], choices)


def _base_type(hint: Any) -> Any:
    """float for `float` and `float | None`; anything else as it is (then refused by the caller)."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        others = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return others[0] if len(others) == 1 else hint
    return hint


def read_options(options_class: type, given: dict[str, Any], model: str) -> Any:
    """A SampleOptions instance from keyword options: unknown names refused (listing the known ones), None meaning
    "the default", every given value checked against its spec."""
    specs = {spec.name: spec for spec in option_specs(options_class)}
    unknown = sorted(set(given) - set(specs))
    if unknown:
        raise SpriteforgeError(
            f"model {model!r} has no sampling option {', '.join(unknown)} (it has: {', '.join(specs) or 'none'})."
        )
    return options_class(**{k: specs[k].check(v) for k, v in given.items() if v is not None})


def merged_specs(declared: dict[str, list[OptionSpec]]) -> list[OptionSpec]:
    """One spec per option name over several models ({model: its specs}): the widest range, every choice, each
    model's help; the models that declare it in `models`. Two models giving one name two types is an error."""
    merged: dict[str, OptionSpec] = {}
    helps: dict[str, dict[str, list[str]]] = {}
    for model, specs in declared.items():
        for spec in specs:
            helps.setdefault(spec.name, {}).setdefault(spec.help, []).append(model)
            seen = merged.get(spec.name)
            if seen is None:
                merged[spec.name] = OptionSpec(**{**spec.__dict__, "models": (model,)})
                continue
            if seen.type != spec.type:
                raise SpriteforgeError(
                    f"sampling option {spec.name!r} is {seen.type} for {', '.join(seen.models)} but {spec.type} for "
                    f"{model}: one name, one type. Rename the option in one of the models."
                )
            merged[spec.name] = OptionSpec(
                spec.name,
                spec.type,
                seen.default if seen.default == spec.default else None,
                seen.help,
                _widest(seen.min, spec.min, min),
                _widest(seen.max, spec.max, max),
                tuple(sorted({*seen.choices, *spec.choices})) if seen.choices and spec.choices else None,
                (*seen.models, model),
            )
    for name, spec in merged.items():
        by_help = helps[name]
        text = spec.help if len(by_help) == 1 else "; ".join(f"{', '.join(m)}: {h}" for h, m in by_help.items())
        merged[name] = OptionSpec(**{**spec.__dict__, "help": text})
    return list(merged.values())


def _widest(first: float | None, second: float | None, pick: Any) -> float | None:
    return None if first is None or second is None else pick(first, second)


def _number(value: float) -> str:
    return f"{value:g}"
