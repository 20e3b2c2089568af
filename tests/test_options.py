"""Sampling options as data: OptionSpec checks and parses values, option_specs reads a SampleOptions dataclass,
merged_specs joins several models' options, and every registered model declares finite ranges."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import spriteforge
import torch
from spriteforge.errors import SpriteforgeError
from spriteforge.models.options import merged_specs, option, option_specs, read_options
from spriteforge.nn.pixels import draw_categorical


@dataclass
class Options:
    temperature: float = option(1.0, min=0.0, max=100.0, help="softmax temperature")
    steps: int | None = option(None, min=1, max=50, help="steps (default: all)")
    sampler: str = option("a", choices=("a", "b"), help="which sampler")
    fast: bool = option(False, help="go fast")


def test_specs_carry_type_default_range_choices_and_help() -> None:
    temperature, steps, sampler, fast = option_specs(Options)
    assert (temperature.name, temperature.type, temperature.default, temperature.min, temperature.max) == (
        "temperature",
        "float",
        1.0,
        0.0,
        100.0,
    )
    assert (steps.type, steps.default) == ("int", None)
    assert sampler.choices == ("a", "b") and sampler.to_json()["choices"] == ["a", "b"]
    assert fast.type == "bool" and fast.help == "go fast"


@pytest.mark.parametrize(
    "name, value, words",
    [
        ("temperature", math.nan, "from 0 to 100"),
        ("temperature", math.inf, "from 0 to 100"),
        ("temperature", 1e308, "from 0 to 100"),
        ("temperature", -0.5, "from 0 to 100"),
        ("temperature", "hot", "a number"),
        ("steps", 0, "an integer from 1 to 50"),
        ("steps", 2.5, "an integer"),
        ("steps", True, "an integer"),
        ("sampler", "c", "one of a, b"),
        ("fast", 1, "true or false"),
    ],
)
def test_bad_values_name_the_option_the_value_and_the_range(name: str, value: object, words: str) -> None:
    with pytest.raises(SpriteforgeError, match=f"sampling option {name}=.*must be .*{words}"):
        read_options(Options, {name: value}, "toy")


def test_read_options_fills_defaults_coerces_and_refuses_unknown_names() -> None:
    options = read_options(Options, {"temperature": 2, "steps": None}, "toy")
    assert options == Options(temperature=2.0) and isinstance(options.temperature, float)
    with pytest.raises(SpriteforgeError, match="model 'toy' has no sampling option guidance.*temperature, steps"):
        read_options(Options, {"guidance": 3}, "toy")


def test_parse_reads_text_as_the_option_type() -> None:
    specs = {spec.name: spec for spec in option_specs(Options)}
    assert specs["temperature"].parse("0.5") == 0.5 and specs["steps"].parse("7") == 7
    assert specs["fast"].parse("true") is True and specs["sampler"].parse("b") == "b"
    for name, text in (("temperature", "nan"), ("steps", "7.5"), ("fast", "maybe")):
        with pytest.raises(SpriteforgeError, match=f"sampling option {name}="):
            specs[name].parse(text)


def test_a_field_without_option_or_with_an_infinite_range_is_refused() -> None:
    @dataclass
    class Plain:
        temperature: float = 1.0

    @dataclass
    class Endless:
        temperature: float = option(1.0, max=math.inf, help="t")

    for broken in (Plain, Endless):
        with pytest.raises(TypeError, match="temperature"):
            option_specs(broken)


def test_merged_specs_widen_ranges_join_choices_and_refuse_two_types() -> None:
    @dataclass
    class Other:
        temperature: float = option(0.0, min=0.0, max=10.0, help="another temperature")
        sampler: str = option("c", choices=("c",), help="which sampler")

    merged = {spec.name: spec for spec in merged_specs({"toy": option_specs(Options), "other": option_specs(Other)})}
    assert merged["temperature"].models == ("toy", "other") and merged["temperature"].max == 100.0
    assert merged["temperature"].default is None and "other: another temperature" in merged["temperature"].help
    assert merged["sampler"].choices == ("a", "b", "c") and merged["steps"].models == ("toy",)

    @dataclass
    class Clash:
        steps: str = option("x", help="not a number")

    with pytest.raises(SpriteforgeError, match="'steps' is int for toy but str for clash"):
        merged_specs({"toy": option_specs(Options), "clash": option_specs(Clash)})


@pytest.mark.parametrize("name", sorted(spriteforge.registered()))
def test_every_model_declares_finite_ranges(name: str) -> None:
    for spec in spriteforge.registered()[name].option_specs():
        if spec.type in ("int", "float"):
            assert spec.min is not None and spec.max is not None, f"{name}.{spec.name} needs a finite range"


def test_a_tiny_temperature_is_the_argmax_not_nan() -> None:
    grid = torch.randn(2, 5, 4, 4)  # (B,K,H,W)
    drawn = draw_categorical(grid, 1e-40, generator=torch.Generator().manual_seed(0), dim=1)
    assert torch.equal(drawn, grid.argmax(1))  # no NaN from inf/inf: the argmax's one-hot
