"""Run configuration: dataclasses for data and training, plus the model's own Config, read from YAML and --set.

A run's config.yaml has four sections:

    model: vae               # a registered name
    data: {...}              # DataConfig
    train: {...}             # TrainConfig
    vae: {...}               # the model's Config, under the model's name

OmegaConf checks keys and types against the dataclasses, so a typo is an error that lists the known keys.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, cast

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from spriteforge.data.augment import AugmentConfig
from spriteforge.errors import SpriteforgeError
from spriteforge.models.base import ModelConfig, model_class


@dataclass
class DataConfig:
    """Where sprites come from and how they are prepared (see `spriteforge.load_sprites`)."""

    source: str = "procedural"  # a folder, a sprite sheet (with tile), or a named dataset
    size: int | None = None  # square canvas; default: the largest sprite (16 for procedural)
    max_colors: int = 256  # including transparent; more colours are quantised by k-means
    palette: str | None = None  # index into this palette (name or file) instead of extracting one
    labels: str | None = None  # CSV with a `file` column
    label_column: str | None = None  # one categorical column of that CSV; default: all columns as 0/1 attributes
    crop: bool = False  # crop sprites larger than the canvas instead of failing
    tile: int | None = None  # sprite sheets: tile width (and height unless tile_height)
    tile_height: int | None = None
    spacing: int = 0
    margin: int = 0
    count: int | None = None  # keep (or, for procedural, generate) this many sprites
    alpha_threshold: int = 128  # pixels with less alpha are transparent (index 0)
    # Two-domain models (cyclegan): a folder of images (photos, art) whose seeded random crops, area-downscaled to
    # the sprite size, are batched beside the sprites as "domain_a" (B,4,H,W) in [0,1].
    domain_a: str | None = None
    domain_a_count: int = 512  # crops in that pool
    augment: AugmentConfig = field(default_factory=AugmentConfig)


@dataclass
class TrainConfig:
    """How the engine trains: optimisation, schedule, precision, evaluation and logging."""

    max_steps: int = 2000
    # A time budget ("90s", "15m", "1h30m", "2.5m" or seconds): training stops when it is spent (or at max_steps,
    # whichever comes first), and the schedules are fitted to it (SpriteModule.schedule_step).
    max_time: str | None = None
    # The step scale the schedules (learning rate, a model's annealing) are defined on; None: max_steps. A budget
    # given without max_steps sets it to the default max_steps and lifts max_steps to UNBOUNDED_STEPS.
    schedule_steps: int | None = None
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.01
    warmup_steps: int = 100  # linear warm-up, then decay to min_lr_ratio * lr at max_steps
    min_lr_ratio: float = 0.05
    schedule: str = "cosine"  # cosine | linear (constant for half the steps, then linear decay, as in CycleGAN)
    grad_clip: float = 1.0  # max gradient norm; 0 disables
    ema: bool = False  # keep an exponential moving average of the weights (saved as the run's weights)
    ema_decay: float = 0.999
    precision: str = "auto"  # auto = bf16 autocast on CUDA, 32 on CPU; or any Lightning precision string
    channels_last: bool = (
        True  # conv weights (and so activations) in NHWC: faster convolutions (benchmarks/fast_path.py)
    )
    compile: bool = (
        False  # torch.compile the training loss (forward and backward); pays nothing on CPU (docs/decisions.md)
    )
    seed: int = 0
    val_fraction: float = 0.1
    val_every: int = 250  # steps between validations
    sample_every: int = 500  # steps between sample grids (written to samples/ and logged)
    checkpoint_every: int = 250  # steps between atomic last.ckpt writes
    num_samples: int = 64  # sprites per sample grid
    logger: str = "mlflow"  # mlflow | tensorboard | csv | none
    accelerator: str = "auto"
    devices: str = "auto"  # "auto", a count ("2") or a list of device ids ("[0,1]")
    num_nodes: int = 1
    strategy: str = "auto"  # Lightning strategy: auto | ddp | fsdp | ...
    progress: bool = True


@dataclass
class RunConfig:
    model: str
    data: DataConfig
    train: TrainConfig
    model_config: ModelConfig

    def to_yaml(self) -> str:
        document = {"model": self.model, "data": asdict(self.data), "train": asdict(self.train)}
        document[self.model] = asdict(self.model_config)
        return OmegaConf.to_yaml(OmegaConf.create(document))


def build_config(
    model: str | None = None,
    config_file: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    base: RunConfig | None = None,
    preset: str | None = None,
) -> RunConfig:
    """Defaults (or `base`), then the model's train defaults and named preset, then a YAML file, then `key=value`
    overrides, in that order; checked against the dataclasses."""
    file_document = _read_yaml(config_file) if config_file else OmegaConf.create({})
    dotlist = _parse_overrides(overrides)
    name = model or dotlist.get("model") or file_document.get("model") or (base.model if base else None)
    if name is None:
        name, preset = _default_model(dotlist, file_document, preset)
    if not isinstance(name, str):
        where = f"{config_file}: " if config_file else ""
        raise SpriteforgeError(f"{where}model: {name!r} is not a model name (`spriteforge models` lists them).")
    schema = OmegaConf.create(
        {
            "model": name,
            "data": OmegaConf.structured(base.data if base else DataConfig),
            "train": OmegaConf.structured(base.train if base else TrainConfig),
            name: OmegaConf.structured(base.model_config if base and base.model == name else model_class(name).Config),
        }
    )
    OmegaConf.set_struct(schema, True)
    for value in schema[name].values():  # a dict field of a model config is free-form (e.g. a prior's VQ-VAE config)
        if isinstance(value, DictConfig):
            OmegaConf.set_struct(value, False)
    model_train_defaults = OmegaConf.create({} if base else {"train": model_class(name).train_defaults})
    overrides_layer = OmegaConf.from_dotlist([f"{k}={v}" for k, v in dotlist.items()])
    layers = [schema, model_train_defaults, _preset_document(name, preset), file_document, overrides_layer]
    try:
        merged = cast(DictConfig, OmegaConf.merge(*layers))  # merging DictConfig layers gives a DictConfig
    except OmegaConfBaseException as error:
        raise SpriteforgeError(_explain(error, name, config_file)) from None
    merged.model = name
    for section in ("data", "train", name):
        if not isinstance(merged[section], DictConfig):
            where = f"{config_file}: " if config_file else ""
            raise SpriteforgeError(
                f"{where}section {section!r} is {merged[section]!r}, not a mapping of keys to values."
            )
    try:  # to_object turns each structured node back into its dataclass (typed only as "an object")
        config = RunConfig(
            model=name,
            data=cast(DataConfig, OmegaConf.to_object(merged.data)),
            train=cast(TrainConfig, OmegaConf.to_object(merged.train)),
            model_config=cast(ModelConfig, OmegaConf.to_object(merged[name])),
        )
    except OmegaConfBaseException as error:  # e.g. an interpolation ${...} that does not resolve
        raise SpriteforgeError(_explain(error, name, config_file)) from None
    _check_ranges(config, config_file)
    if config.train.max_time is not None:
        try:
            parse_duration(config.train.max_time)
        except SpriteforgeError as error:
            where = f"{config_file}: " if config_file else ""
            raise SpriteforgeError(f"{where}train.max_time: {error}") from None
        if base is None and not _steps_given(file_document, dotlist):
            _let_time_bind(config.train)
    return config


# The step cap of a run whose time budget is its only limit: far beyond what any budget reaches.
UNBOUNDED_STEPS = 10**12

_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?")


def parse_duration(text: str | float) -> float:
    """Seconds in a duration: "90s", "15m", "1h", "1h30m", "2.5m" or plain seconds ("900"); above zero."""
    value = str(text).strip().lower()
    match = _DURATION.fullmatch(value)
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
        if value and match:
            hours, minutes, secs = (float(part or 0) for part in match.groups())
            seconds = hours * 3600 + minutes * 60 + secs
    if not math.isfinite(seconds) or seconds <= 0:
        raise SpriteforgeError(
            f"{str(text)!r} is not a time budget: give a positive duration such as 90s, 15m, 1h30m, 2.5m or seconds."
        )
    return seconds


def _steps_given(file_document: Any, dotlist: dict[str, str]) -> bool:
    """Whether the user set train.max_steps (in the config file or an override), rather than leaving the default."""
    train = file_document.get("train") if isinstance(file_document, DictConfig) else None
    return "train.max_steps" in dotlist or (isinstance(train, DictConfig) and "max_steps" in train)


def _let_time_bind(train: TrainConfig) -> None:
    """A budget without max_steps: the schedules keep the default max_steps as their scale (models' annealing steps
    are tuned to it) and are stretched onto the budget; the step cap is lifted so that time is the binding limit."""
    if train.schedule_steps is None:
        train.schedule_steps = train.max_steps
    train.max_steps = UNBOUNDED_STEPS


# Inclusive (low, high) bounds of the data and train values (None: unbounded). A hand-edited or hostile config.yaml
# must not allocate petabytes (data.size, data.count), train on NaN, or reach Lightning as a value it rejects late.
_RANGES: dict[str, tuple[float | None, float | None]] = {
    "data.size": (1, 1024),
    "data.max_colors": (2, 4096),
    "data.tile": (1, 4096),
    "data.tile_height": (1, 4096),
    "data.spacing": (0, 4096),
    "data.margin": (0, 4096),
    "data.count": (1, 10_000_000),
    "data.alpha_threshold": (0, 255),
    "data.domain_a_count": (1, 1_000_000),
    "train.max_steps": (1, 10**12),
    "train.schedule_steps": (1, 10**12),
    "train.batch_size": (1, 1_000_000),
    "train.lr": (0, 100),
    "train.weight_decay": (0, 100),
    "train.warmup_steps": (0, 10**12),
    "train.min_lr_ratio": (0, 1),
    "train.grad_clip": (0, None),
    "train.ema_decay": (0, 1),
    "train.seed": (0, 2**32 - 1),  # Lightning's seed range
    "train.val_fraction": (0, 0.99),
    "train.val_every": (1, None),
    "train.sample_every": (0, None),
    "train.checkpoint_every": (0, None),
    "train.num_samples": (1, 4096),
    "train.num_nodes": (1, 100_000),
}


def _check_ranges(config: RunConfig, config_file: str | Path | None) -> None:
    """Refuse a data or train value outside its range, or a non-finite float, naming the key."""
    where = f"{config_file}: " if config_file else ""
    for section in ("data", "train"):
        values = getattr(config, section)
        for item in fields(values):
            key, value = f"{section}.{item.name}", getattr(values, item.name)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            low, high = _RANGES.get(key, (None, None))
            if not math.isfinite(value) or (low is not None and value < low) or (high is not None and value > high):
                bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
                raise SpriteforgeError(
                    f"{where}{key}={value!r} is out of range: give a value {bounds if low is not None else 'finite'}."
                )


# The model when none is named: the vae, quick to train for a fixed number of steps; given only a time budget, the
# recipe that made the best sprites in that budget (docs/leaderboard.md).
DEFAULT_MODEL = "vae"
BUDGET_MODEL, BUDGET_PRESET = "discrete_diffusion", "cpu15"


def _default_model(dotlist: dict[str, Any], file_document: Any, preset: str | None) -> tuple[str, str | None]:
    """(model, preset) when no model is named: the budget recipe when a time budget is given without steps."""
    timed = "train.max_time" in dotlist or OmegaConf.select(file_document, "train.max_time") is not None
    if timed and not _steps_given(file_document, dotlist):
        return BUDGET_MODEL, preset or BUDGET_PRESET
    return DEFAULT_MODEL, preset


# Keys of a preset that are not model settings but whole config sections: a recipe may set training and data
# options too (a learning rate, an augmentation), not only the network's shape.
PRESET_SECTIONS = ("train", "data")


def _preset_document(model: str, preset: str | None) -> Any:
    """{model: settings, train: ..., data: ...} of a named preset, or an empty layer."""
    if preset is None:
        return OmegaConf.create({})
    presets = model_class(model).presets
    if preset not in presets:
        choices = ", ".join(presets) or "none"
        raise SpriteforgeError(f"--preset {preset!r}: model {model!r} has no such preset (it has: {choices}).")
    settings = dict(presets[preset])
    sections = {section: settings.pop(section) for section in PRESET_SECTIONS if section in settings}
    return OmegaConf.create({model: settings, **sections})


def load_config(path: Path) -> RunConfig:
    """Read a run's config.yaml."""
    return build_config(config_file=path)


def _read_yaml(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise SpriteforgeError(f"{path}: no such config file.")
    try:
        document = OmegaConf.load(path)
    except Exception as error:  # yaml.YAMLError and OmegaConf errors: any parse failure is bad input
        raise SpriteforgeError(f"{path}: not valid YAML ({error}).") from None
    if not isinstance(document, type(OmegaConf.create({}))):
        raise SpriteforgeError(f"{path}: expected a mapping with sections model, data, train and the model's name.")
    return document


def _parse_overrides(overrides: list[str] | tuple[str, ...]) -> dict[str, str]:
    parsed = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SpriteforgeError(
                f"--set {item!r}: expected key=value, e.g. --set train.lr=1e-3 or --set vae.beta=0.5."
            )
        parsed[key.strip()] = value.strip()
    return parsed


def _explain(error: OmegaConfBaseException, model: str, config_file: str | Path | None) -> str:
    key = getattr(error, "full_key", None) or ""
    where = f"{config_file}: " if config_file else ""
    section = key.split(".")[0] if key else ""
    known = {
        "data": DataConfig,
        "train": TrainConfig,
        model: model_class(model).Config,
    }
    if section in known and "." in key:
        keys = ", ".join(f"{section}.{f.name}" for f in fields(known[section]))
        return f"{where}bad config key or value {key!r} ({error.msg}). Known keys: {keys}."
    return (
        f"{where}bad config key or value {key or ''!r} ({error.msg}). Sections: model, data, train, {model} "
        f"(e.g. --set train.lr=1e-3, --set {model}.latent_dim=16)."
    )
