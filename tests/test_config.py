"""Tests for spriteforge.engine.config: defaults, YAML files, --set overrides, error messages and round trips."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest
from spriteforge.engine.config import DataConfig, RunConfig, TrainConfig, build_config, load_config
from spriteforge.errors import SpriteforgeError
from spriteforge.models.base import registered
from spriteforge.models.vae import AEConfig, VAEConfig


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------- defaults


def test_defaults_are_the_dataclass_defaults() -> None:
    config = build_config()
    assert isinstance(config, RunConfig)
    assert config.model == "vae"
    assert config.data == DataConfig()
    assert config.train == TrainConfig()
    assert config.model_config == VAEConfig()
    assert type(config.model_config) is VAEConfig
    # Spot-check a few documented defaults so a silent change of a default is noticed.
    assert config.train.max_steps == 2000
    assert config.train.logger == "mlflow"
    assert config.data.source == "procedural"
    assert config.data.size is None
    assert config.model_config.representation == "index"


@pytest.mark.parametrize("name", sorted(registered()))
def test_every_registered_model_builds_its_own_config_section(name: str) -> None:
    config = build_config(name)
    assert config.model == name
    assert type(config.model_config) is registered()[name].Config
    assert f"\n{name}:" in "\n" + config.to_yaml()


def test_model_can_be_chosen_by_override() -> None:
    config = build_config(overrides=["model=ae", "ae.latent_dim=3"])
    assert config.model == "ae"
    assert type(config.model_config) is AEConfig
    assert config.model_config.latent_dim == 3


def test_overrides_are_typed() -> None:
    config = build_config(
        "vae",
        overrides=[
            "train.lr=0.5",
            "train.max_steps=7",
            "train.ema=true",
            "data.size=24",
            "vae.channels=[4,8]",
            "vae.beta=0.25",
            "data.augment.flip=true",
        ],
    )
    assert config.train.lr == 0.5 and isinstance(config.train.lr, float)
    assert config.train.max_steps == 7 and isinstance(config.train.max_steps, int)
    assert config.train.ema is True
    assert config.data.size == 24
    assert list(config.model_config.channels) == [4, 8]
    assert config.model_config.beta == 0.25
    assert config.data.augment.flip is True


# ---------------------------------------------------------------------- precedence


def test_yaml_file_then_set_overrides(tmp_path: Path) -> None:
    file = _write(
        tmp_path / "c.yaml",
        "model: ae\ntrain:\n  lr: 0.1\n  batch_size: 8\nae:\n  latent_dim: 5\n  channels: [4, 8]\n",
    )
    config = build_config(config_file=file, overrides=["train.lr=0.2", "ae.latent_dim=6"])
    assert config.model == "ae"
    assert config.train.lr == 0.2  # --set wins over the file
    assert config.train.batch_size == 8  # the file wins over the default
    assert config.train.max_steps == TrainConfig().max_steps  # untouched default
    assert config.model_config.latent_dim == 6
    assert list(config.model_config.channels) == [4, 8]


def test_explicit_model_argument_wins_over_the_file(tmp_path: Path) -> None:
    file = _write(tmp_path / "c.yaml", "model: ae\ntrain:\n  lr: 0.1\n")
    config = build_config("vae", config_file=file)
    assert config.model == "vae"
    assert config.train.lr == 0.1


def test_base_config_is_kept_under_overrides() -> None:
    base = build_config("ae", overrides=["train.max_steps=10", "ae.latent_dim=3"])
    config = build_config(base=base, overrides=["train.max_steps=20"])
    assert config.model == "ae"
    assert config.train.max_steps == 20
    assert config.model_config.latent_dim == 3


# ---------------------------------------------------------------------- errors


def test_unknown_key_lists_known_keys() -> None:
    with pytest.raises(SpriteforgeError) as caught:
        build_config(overrides=["train.lrr=1"])
    message = str(caught.value)
    assert "train.lrr" in message
    # The known keys of that section are listed, so the typo can be fixed from the message alone.
    for key in ("train.lr", "train.max_steps", "train.batch_size"):
        assert key in message


def test_unknown_model_key_lists_model_keys() -> None:
    with pytest.raises(SpriteforgeError) as caught:
        build_config("vae", overrides=["vae.latent=3"])
    message = str(caught.value)
    assert "vae.latent" in message
    assert "vae.latent_dim" in message and "vae.beta" in message


def test_unknown_key_in_yaml_names_the_file(tmp_path: Path) -> None:
    file = _write(tmp_path / "typo.yaml", "train:\n  lrr: 0.1\n")
    with pytest.raises(SpriteforgeError) as caught:
        build_config(config_file=file)
    assert str(file) in str(caught.value)
    assert "train.lr" in str(caught.value)


def test_unknown_section_is_an_error() -> None:
    with pytest.raises(SpriteforgeError) as caught:
        build_config("vae", overrides=["trian.lr=1"])
    assert "trian" in str(caught.value)


def test_unknown_model_lists_models() -> None:
    with pytest.raises(SpriteforgeError) as caught:
        build_config("nosuchmodel")
    message = str(caught.value)
    assert "nosuchmodel" in message
    for name in registered():
        assert name in message


def test_unknown_model_in_overrides_lists_models() -> None:
    with pytest.raises(SpriteforgeError) as caught:
        build_config(overrides=["model=gan9000"])
    assert "gan9000" in str(caught.value) and "vae" in str(caught.value)


@pytest.mark.parametrize(
    "override", ["train.max_steps=abc", "train.lr=fast", "train.progress=maybe", "vae.latent_dim=1.5", "data.size=big"]
)
def test_bad_value_type_is_an_error_naming_the_key(override: str) -> None:
    with pytest.raises(SpriteforgeError) as caught:
        build_config("vae", overrides=[override])
    assert override.split("=")[0] in str(caught.value)


@pytest.mark.parametrize("override", ["train.lr", "=3", "  =x"])
def test_set_without_equals_is_an_error(override: str) -> None:
    with pytest.raises(SpriteforgeError) as caught:
        build_config(overrides=[override])
    assert "key=value" in str(caught.value)
    assert repr(override) in str(caught.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(SpriteforgeError) as caught:
        build_config(config_file=tmp_path / "nope.yaml")
    assert "nope.yaml" in str(caught.value)


def test_invalid_yaml_file(tmp_path: Path) -> None:
    file = _write(tmp_path / "bad.yaml", "train: [1, 2\n  lr: : :\n")
    with pytest.raises(SpriteforgeError) as caught:
        build_config(config_file=file)
    assert "bad.yaml" in str(caught.value)


def test_yaml_that_is_not_a_mapping(tmp_path: Path) -> None:
    file = _write(tmp_path / "list.yaml", "- 1\n- 2\n")
    with pytest.raises(SpriteforgeError) as caught:
        build_config(config_file=file)
    assert "list.yaml" in str(caught.value)


# ---------------------------------------------------------------------- round trip


@pytest.mark.parametrize("name", sorted(registered()))
def test_to_yaml_round_trip(tmp_path: Path, name: str) -> None:
    config = build_config(
        name,
        overrides=[
            "train.lr=0.0123",
            "train.max_steps=17",
            "train.logger=csv",
            "train.ema=true",
            "data.size=16",
            "data.count=64",
            "data.palette=pico8",
            "data.augment.shift=2",
            f"{name}.representation=rgba",
        ],
    )
    path = tmp_path / "config.yaml"
    path.write_text(config.to_yaml(), encoding="utf-8")
    loaded = load_config(path)
    assert loaded == config
    assert loaded.to_yaml() == config.to_yaml()


def test_yaml_sections_are_model_data_train_and_the_model_name() -> None:
    import yaml

    document = yaml.safe_load(build_config("ae").to_yaml())
    assert set(document) == {"model", "data", "train", "ae"}
    assert document["model"] == "ae"
    assert set(document["train"]) == {f.name for f in fields(TrainConfig)}
    assert set(document["ae"]) == {f.name for f in fields(AEConfig)}


def test_preset_applies_before_the_file_and_overrides(tmp_path: Path) -> None:
    tiny = build_config("vae", preset="tiny")
    assert tiny.model_config.latent_dim == 4 and tiny.model_config.channels == [8, 16]
    overridden = build_config("vae", preset="tiny", overrides=["vae.latent_dim=6"])
    assert overridden.model_config.latent_dim == 6 and overridden.model_config.channels == [8, 16]


def test_unknown_preset_lists_the_presets() -> None:
    with pytest.raises(SpriteforgeError, match=r"no such preset \(it has: tiny\)"):
        build_config("vae", preset="huge")


def test_a_model_train_defaults_apply_under_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    from spriteforge.models.vae import VAE

    monkeypatch.setattr(VAE, "train_defaults", {"ema": True, "lr": 5e-4})
    config = build_config("vae", overrides=["train.lr=1e-3"])
    assert config.train.ema is True and config.train.lr == 1e-3
