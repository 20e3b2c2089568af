"""The model contract, model configs and the registry.

A model is an nn.Module that turns a batch into losses and, by capability, samples, encodes, translates...; the
engine owns everything else (optimisers, precision, EMA, checkpoints, devices, loading the trained runs a model
builds on). Adding a model is one file with `@register("name")`: the CLI,
the engine and the contract tests find it here.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, fields
from importlib import metadata
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from spriteforge.data.labels import LabelSpec
from spriteforge.errors import SpriteforgeError
from spriteforge.models.options import OptionSpec, option_specs, read_options
from spriteforge.nn.pixels import INDEX, REPRESENTATIONS, PaletteCodec

# Entry-point group through which an installed package adds models (see README "Adding a model").
PLUGIN_GROUP = "spriteforge.models"

# Capabilities a model may have beyond loss, found by the methods it defines. A translator (cyclegan) or an
# autoencoder without a prior (vqvae) has no `sample`: it cannot make sprites from nothing.
CAPABILITIES = ("sample", "encode", "decode", "reconstruct", "translate", "inpaint", "vary", "param_groups")
# A loss may return, under this key, a dict of detached tensors that the engine adds to the batch of the next
# parameter group's loss in the same step (a CycleGAN's fakes, made by the generators, judged by the discriminators).
HANDED_ON = "handed_on"


@dataclass
class ModelConfig:
    """Hyper-parameters shared by every model; each model subclasses this with its own fields."""

    representation: str = INDEX  # "index" (categorical over palette colours) or "rgba" (continuous, snapped)


@dataclass(frozen=True)
class FrozenPart:
    """A trained model that a model is built on and never trains (a prior's VQ-VAE), declared by the model and
    provided by the engine.

    The model's config holds the part's run folder in field `key` (`--set prior.vqvae=RUN`), and the part's model name
    and config in `<key>_model` and `<key>_config`. When training starts, the engine loads that run, records its
    model name and config there (so the new run loads without the part's folder: the part's weights are saved with
    the model's own), gives the new run the part's data, size, palette and representation, and passes the frozen
    module to the model's constructor as the keyword `key`. A saved run gets the part rebuilt from what was recorded
    (its weights then come from the run's weights file); with nothing recorded (tests, smoke runs), an untrained
    stand-in at the part model's "tiny" preset.
    """

    key: str
    requires: str  # an attribute the part's class must have (e.g. "latent_shape": a grid of discrete codes)
    description: str  # what it is, for messages ("a VQ model (one with a code grid)")

    @property
    def model_field(self) -> str:
        return f"{self.key}_model"

    @property
    def config_field(self) -> str:
        return f"{self.key}_config"


@dataclass(frozen=True)
class DataSpec:
    """What a model needs to know about its data: sprite size, palette (K,4) uint8, label vocabulary."""

    height: int
    width: int
    palette_rgba: torch.Tensor
    labels: LabelSpec | None = None

    @property
    def num_colors(self) -> int:
        return int(self.palette_rgba.shape[0])


@dataclass
class NoOptions:
    """The SampleOptions of a model that takes no sampling options."""


class GenerativeModel(nn.Module):
    """Base of every model. Subclasses set `Config`, implement `loss`, and add capabilities by defining them.

    loss(batch, *, step, group=None) -> {"loss": scalar to minimise, other scalars to log}; batch = {"indices":
    (B,H,W) long, "labels": optional (B,) long or (B,L) float, and the entries of `batch_keys`}; step: the global
    training step; group: the parameter group being trained (models with `param_groups`), None otherwise.
    sample(n, *, labels=None, generator=None, **opts) -> (n,H,W) indices or (n,4,H,W) rgba in [0,1], for models
    that can make sprites from nothing (the "sample" capability).
    """

    Config: ClassVar[type[ModelConfig]] = ModelConfig
    # The instance's settings, built from `Config`; each subclass re-declares it as its own Config (`config:
    # VAEConfig`) so that its fields type-check.
    config: ModelConfig
    name: ClassVar[str] = ""
    representations: ClassVar[tuple[str, ...]] = REPRESENTATIONS
    # Sampling options (a dataclass of `option()` fields): the run's checks, the CLI, the HTTP API and the studio are
    # built from it; sample/inpaint/vary read them with `self.read_options(opts)`.
    SampleOptions: ClassVar[type] = NoOptions
    # Named config settings (`spriteforge train --preset NAME`), optionally with "train" and "data" sections (a
    # recipe); "tiny" is what the contract tests and CPU smoke
    # runs use, "reference" the configuration a paper or baseline describes, when there is one.
    presets: ClassVar[dict[str, dict[str, Any]]] = {}
    # The model's own defaults for the train section (e.g. {"ema": True} for diffusion), applied over TrainConfig's
    # defaults and under any preset, config file or --set.
    train_defaults: ClassVar[dict[str, Any]] = {}
    # Batch entries beyond indices/labels the model needs, e.g. ("domain_a",) for a two-domain model: the engine
    # refuses to start without the data that provides them.
    batch_keys: ClassVar[tuple[str, ...]] = ()
    # Trained models this model is built on (the engine loads them and passes them to the constructor).
    frozen_parts: ClassVar[tuple[FrozenPart, ...]] = ()
    # Names of tensors that runs saved by earlier versions hold and this version no longer has: dropped on loading.
    retired_weights: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: ModelConfig, spec: DataSpec) -> None:
        super().__init__()
        if config.representation not in self.representations:
            raise SpriteforgeError(
                f"model {self.name!r} does not support representation {config.representation!r}; "
                f"choose one of: {', '.join(self.representations)}."
            )
        self.config = config
        self.spec = spec
        self.codec = PaletteCodec(spec.palette_rgba)

    @property
    def representation(self) -> str:
        return self.config.representation

    @property
    def is_conditional(self) -> bool:
        """True when sample() takes labels (the run has a vocabulary and the model was built to use it)."""
        return False

    def check_labels(self, labels: torch.Tensor | None, n: int | None = None) -> None:
        """Refuse labels for a model not built to use them, and a label count that is not one row per sprite."""
        if labels is None:
            return
        if not self.is_conditional:
            raise SpriteforgeError(f"this {self.name} run is not conditional: sample it without labels.")
        if n is not None and len(labels) != n:
            raise SpriteforgeError(f"labels: {len(labels)} rows for {n} sprites; give one row per sprite.")

    @classmethod
    def option_specs(cls) -> list[OptionSpec]:
        """The sampling options this model takes: name, type, default, range, choices, help."""
        return option_specs(cls.SampleOptions)

    def read_options(self, given: dict[str, Any]) -> Any:
        """The SampleOptions for keyword options: defaults for those not given (or None), each value checked."""
        return read_options(self.SampleOptions, given, self.name)

    def loss(self, batch: dict[str, Any], *, step: int, group: str | None = None) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    if TYPE_CHECKING:
        # The capabilities' signatures. A model has a capability when it defines the method (see `capabilities`), so
        # at run time the base class has none of them; the type checker reads these, and checks each model's own
        # definition against them.
        def sample(
            self, n: int, *, labels: torch.Tensor | None = None, generator: torch.Generator | None = None, **opts: Any
        ) -> torch.Tensor:
            """n new sprites: (n,H,W) indices or (n,4,H,W) rgba in [0,1]."""

        def encode(self, indices: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
            """(B,H,W) sprites -> (B,D) latents or (B,h,w) codes."""

        def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
            """Latents or codes -> (B,K,H,W) logits or (B,4,H,W) rgba."""

        def reconstruct(self, indices: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
            """(B,H,W) sprites -> (B,K,H,W) logits or (B,4,H,W) rgba: decode(encode(sprites))."""

        def translate(self, images: torch.Tensor) -> torch.Tensor:
            """(B,4,H,W) images in [0,1] -> (B,H,W) palette indices."""

        def inpaint(
            self,
            indices: torch.Tensor,
            mask: torch.Tensor,
            *,
            labels: torch.Tensor | None = None,
            generator: torch.Generator | None = None,
            **opts: Any,
        ) -> torch.Tensor:
            """(B,H,W) sprites, (B,H,W) mask (True = regenerate) -> (B,H,W) indices."""

        def vary(
            self,
            indices: torch.Tensor,
            strength: float,
            *,
            labels: torch.Tensor | None = None,
            generator: torch.Generator | None = None,
            **opts: Any,
        ) -> torch.Tensor:
            """(B,H,W) sprites -> (B,H,W) variations, `strength` in (0, 1] away."""

        def param_groups(self) -> dict[str, tuple[list[nn.Parameter], dict[str, Any]]]:
            """Named parameter groups, each with its own optimiser settings, stepped in turn."""

    @classmethod
    def capabilities(cls) -> list[str]:
        return [c for c in CAPABILITIES if callable(getattr(cls, c, None))]

    @classmethod
    def uses(cls) -> list[str]:
        """The capabilities a user can call, for messages: all but param_groups (how it trains, not a use)."""
        return [c for c in cls.capabilities() if c != "param_groups"]


REGISTRY: dict[str, type[GenerativeModel]] = {}


def register(name: str) -> Callable[[type[GenerativeModel]], type[GenerativeModel]]:
    """Class decorator: make a model available under `name` to the CLI, engine, tests and benchmarks."""

    def add(cls: type[GenerativeModel]) -> type[GenerativeModel]:
        if name in REGISTRY:
            raise ValueError(f"model name {name!r} is registered twice")
        cls.name = name
        REGISTRY[name] = cls
        return cls

    return add


def model_class(name: str) -> type[GenerativeModel]:
    """The registered class for `name`, or an error listing the registered names."""
    _import_models()
    if name not in REGISTRY:
        raise SpriteforgeError(f"unknown model {name!r}. Known models: {', '.join(sorted(REGISTRY))}.")
    return REGISTRY[name]


def registered() -> dict[str, type[GenerativeModel]]:
    _import_models()
    return dict(sorted(REGISTRY.items()))


def config_fields(config_class: type[ModelConfig]) -> dict[str, Any]:
    """Field name -> default, for listing config keys in messages and `spriteforge models`."""
    return {f.name: f.default for f in fields(config_class)}


def _import_models() -> None:
    """Import every model file of this package and every plugin's: importing runs their @register.

    Module imports are cached by Python, so this is cheap after the first call; plugins are looked up each time, so a
    package installed while the process runs (or a test's temporary one) is found."""
    package = importlib.import_module("spriteforge.models")
    for module in pkgutil.iter_modules(package.__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{package.__name__}.{module.name}")
    for entry in metadata.entry_points(group=PLUGIN_GROUP):
        _load_plugin(entry)


def _load_plugin(entry: metadata.EntryPoint) -> None:
    """Import a plugin's model module (its @register adds the model), or say which entry point failed and why."""
    try:
        entry.load()
    except Exception as error:  # any error in someone else's module: name the plugin, keep the message
        source = f" of package {entry.dist.name!r}" if entry.dist is not None else ""
        raise SpriteforgeError(
            f"model plugin {entry.name!r} (entry point {entry.value!r}{source}, group {PLUGIN_GROUP!r}) failed to "
            f"import: {type(error).__name__}: {error}. Fix or uninstall that package."
        ) from error
