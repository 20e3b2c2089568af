"""A trained run in memory: `load_run` rebuilds it from its folder, and `Run` samples, inpaints, varies,
reconstructs, encodes, interpolates, fuses and edits with it. The folder format itself is engine/run.py."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spriteforge import io
from spriteforge.data.labels import LabelSpec
from spriteforge.data.palette import Palette
from spriteforge.data.sprites import SpriteSet
from spriteforge.engine import pretrained
from spriteforge.engine import run as runfiles
from spriteforge.engine.config import RunConfig
from spriteforge.engine.fusion import MODES, Fusion, can_fuse, joiner_for
from spriteforge.errors import SpriteforgeError
from spriteforge.models.base import GenerativeModel, registered
from spriteforge.nn.labels import label_matrix


@dataclass
class Run:
    """A trained model with its palette and labels: sample, reconstruct, encode and interpolate."""

    path: Path
    config: RunConfig
    model: GenerativeModel
    palette: Palette
    labels: LabelSpec | None
    metrics: dict[str, Any]

    @property
    def device(self) -> torch.device:
        return next(iter(self.model.parameters()), torch.zeros(())).device

    def to(self, device: str | torch.device) -> Run:
        self.model.to(device)
        return self

    def _generator(self, seed: int | None) -> torch.Generator | None:
        return None if seed is None else torch.Generator(device=self.device).manual_seed(seed)

    def _sprites(self, indices: torch.Tensor) -> SpriteSet:
        return SpriteSet(indices.cpu().numpy().astype(np.int64), self.palette)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        seed: int | None = None,
        labels: Sequence[str] | torch.Tensor | None = None,
        palette: Palette | str | None = None,
        remap: str = "luminance",
        **opts: Any,
    ) -> SpriteSet:
        """n new sprites, palette-exact; `labels` asks a conditional run for these labels (names, e.g.
        ["female", "earring"] or ["pack=tiny_dungeon"], for every sprite; or a tensor with one row per sprite);
        `palette` re-colours them into another palette (see `SpriteSet.with_palette` for `remap`)."""
        sprites, _ = self.generate(n, seed=seed, labels=labels, **opts)
        return sprites.with_palette(palette, remap) if palette is not None else sprites

    @torch.no_grad()
    def generate(
        self,
        n: int,
        *,
        seed: int | None = None,
        labels: Sequence[str] | torch.Tensor | None = None,
        batch_size: int = 256,
        **opts: Any,
    ) -> tuple[SpriteSet, np.ndarray]:
        """n sprites in batches, and each sprite's palette adherence before snapping (1.0 for index models)."""
        self._require("sample")
        if n < 1:
            raise SpriteforgeError(f"--n {n}: ask for at least one sprite.")
        label_rows = self.label_rows(labels, n)
        self._check_options(opts)
        self.model.eval()
        generator = self._generator(seed)
        indices, adherence = [], []
        for start in range(0, n, batch_size):
            count = min(batch_size, n - start)
            chunk = None if label_rows is None else label_rows[start : start + count]
            output = self.model.sample(count, labels=chunk, generator=generator, **opts)
            indices.append(self.model.codec.to_indices(output, self.model.representation).cpu())
            adherence.append(self.model.codec.adherence_per_sprite(output, self.model.representation).cpu())
        return self._sprites(torch.cat(indices)), torch.cat(adherence).numpy()

    def _check_options(self, opts: dict[str, Any]) -> None:
        """Refuse, before any work, an option the model lacks or a value outside its declared type, range or choices
        (the model reads them again with its defaults)."""
        self.model.read_options(opts)

    @torch.no_grad()
    def inpaint(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        n: int = 8,
        *,
        seed: int | None = None,
        labels: Sequence[str] | torch.Tensor | None = None,
        **opts: Any,
    ) -> SpriteSet:
        """n completions of one sprite: `image` (H,W,4) uint8 RGBA, `mask` (H,W) bool, True = regenerate. The
        pixels outside the mask are kept exactly (in this run's palette)."""
        self._require("inpaint")
        indices = self._sprite_rows(image, n, opts)
        if mask.shape != tuple(indices.shape[1:]):
            raise SpriteforgeError(
                f"the mask is {mask.shape[1]}x{mask.shape[0]} but the sprite is {indices.shape[2]}x{indices.shape[1]}: "
                "draw the mask at the sprite's size."
            )
        rows = torch.from_numpy(np.ascontiguousarray(mask, dtype=bool)).to(self.device).expand_as(indices)
        output = self.model.inpaint(
            indices, rows, labels=self.label_rows(labels, n), generator=self._generator(seed), **opts
        )
        return self._sprites(output)

    @torch.no_grad()
    def complete(
        self,
        given: Mapping[int, np.ndarray],
        n: int = 8,
        *,
        seed: int | None = None,
        labels: Sequence[str] | torch.Tensor | None = None,
        **opts: Any,
    ) -> SpriteSet:
        """n completions of a set, for a run trained on sheets (data.sheet / data.sheet_csv): `given` maps slots
        (0-based) to (H,W,4) uint8 RGBA sprites of the run's sprite size; every other slot is generated by inpainting.
        Returns n sheets (n,H,slots*W) in this run's palette; the given sprites are kept exactly (a colour outside
        the palette takes its nearest colour, as in `inpaint`)."""
        self._require("inpaint")
        sheet, mask = self.given_sheet(given)
        return replace(self.inpaint(sheet, mask, n, seed=seed, labels=labels, **opts), slots=self.slots)

    @property
    def slots(self) -> int:
        """Sprites per sheet: 1 unless the run was trained on sheets."""
        return self.config.data.slots or 1

    def given_sheet(self, given: Mapping[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(H, slots*W, 4) RGBA sheet with the given sprites in their slots (the rest transparent) and the (H, slots*W)
        mask of what to generate; refuses a run not trained on sheets, a slot out of range or a sprite of the wrong
        size, naming it."""
        if not self.config.data.is_sheet:
            raise SpriteforgeError(
                f"{self.path}: this run was trained on single sprites, not sheets, so it has no slots to complete. "
                "Train on sets with --set data.sheet=true (a folder per set) or --set data.sheet_csv=FILE."
            )
        if not given:
            raise SpriteforgeError("give at least one sprite of the set (--given FILE) to complete the others from.")
        height, width = self.model.spec.height, self.model.spec.width // self.slots
        sheet = np.zeros((height, self.slots * width, 4), np.uint8)
        mask = np.ones((height, self.slots * width), bool)
        for slot, image in given.items():
            if not 0 <= slot < self.slots:
                raise SpriteforgeError(
                    f"slot {slot} is out of range: this run's sheets have {self.slots} slots, 0 to {self.slots - 1}."
                )
            if image.ndim != 3 or image.shape != (height, width, 4):
                found = "x".join(map(str, image.shape[1::-1])) if image.ndim == 3 else str(image.shape)
                raise SpriteforgeError(
                    f"the sprite for slot {slot} is {found} but this run's sprites are {width}x{height}: "
                    "give a sprite of the run's size (the size it was trained at, data.size)."
                )
            sheet[:, slot * width : (slot + 1) * width] = image
            mask[:, slot * width : (slot + 1) * width] = False
        if not mask.any():
            raise SpriteforgeError(f"all {self.slots} slots are given: leave at least one slot for the model to fill.")
        return sheet, mask

    @torch.no_grad()
    def vary(
        self,
        image: np.ndarray,
        strength: float = 0.5,
        n: int = 8,
        *,
        seed: int | None = None,
        labels: Sequence[str] | torch.Tensor | None = None,
        **opts: Any,
    ) -> SpriteSet:
        """n variations of one sprite (`image` (H,W,4) uint8 RGBA): 0 < strength <= 1, how much may change."""
        self._require("vary")
        indices = self._sprite_rows(image, n, opts)
        output = self.model.vary(
            indices, strength, labels=self.label_rows(labels, n), generator=self._generator(seed), **opts
        )
        return self._sprites(output)

    def fusion_modes(self) -> list[str]:
        """The fusion modes this run's model can join (fusion.MODES order); [] when it cannot fuse."""
        join = joiner_for(self.model)
        return [] if join is None else [mode for mode in MODES if mode in join.modes]

    @torch.no_grad()
    def fuse(
        self,
        first: np.ndarray,
        second: np.ndarray,
        n: int = 8,
        *,
        mode: str = "left-right",
        mask: np.ndarray | None = None,
        seam: int = 1,
        seed: int | None = None,
        labels: Sequence[str] | torch.Tensor | None = None,
        **opts: Any,
    ) -> SpriteSet:
        """n fusions of two sprites (`first` = A, `second` = B, (H,W,4) uint8 RGBA, brought into this run's palette)
        in one of `fusion_modes()`: left-right, top-bottom, mask ((H,W) bool, True = from A), random or latent.
        Models that inpaint keep A's pixels in A's region and B's in B's, exactly, but for a seam band `seam` pixels
        wide on each side of the border, which they regenerate (see engine/fusion.py for the other models)."""
        join = joiner_for(self.model)
        if join is None:
            fusing = ", ".join(name for name, cls in registered().items() if can_fuse(cls))
            raise SpriteforgeError(
                f"{self.path}: a {self.config.model!r} run cannot fuse sprites; fusion needs a model that inpaints, "
                f"has a VQ code grid, or encodes and decodes: {fusing}."
            )
        if first.shape != second.shape:
            raise SpriteforgeError(
                f"sprite A is {'x'.join(map(str, first.shape[1::-1]))} but sprite B is "
                f"{'x'.join(map(str, second.shape[1::-1]))}: fuse two sprites of the same size (the run's)."
            )
        fusion = Fusion(mode, mask, seam)
        fusion.check(join.modes, (self.model.spec.height, self.model.spec.width))
        rows_a, rows_b = self._sprite_rows(first, n, opts), self._sprite_rows(second, n, opts)
        output = join(self.model, rows_a, rows_b, fusion, self.label_rows(labels, n), self._generator(seed), opts)
        return self._sprites(output)

    def _sprite_rows(self, image: np.ndarray, n: int, opts: dict[str, Any]) -> torch.Tensor:
        """(n,H,W) copies of one RGBA sprite in this run's palette, on the model's device; checks n and options."""
        if n < 1:
            raise SpriteforgeError(f"--n {n}: ask for at least one sprite.")
        size = (self.model.spec.height, self.model.spec.width)
        if image.ndim != 3 or image.shape[2] != 4 or image.shape[:2] != size:
            raise SpriteforgeError(
                f"the sprite is {'x'.join(map(str, image.shape[1::-1]))} but this run makes {size[1]}x{size[0]} sprites: "
                "give a sprite of the run's size."
            )
        self._check_options(opts)
        self.model.eval()
        # Exact colours map exactly; others to the nearest colour of the run's palette.
        indices = torch.from_numpy(self.palette.index(image)).long().to(self.device)
        return indices.expand(n, -1, -1).contiguous()

    def label_rows(self, labels: Sequence[str] | torch.Tensor | None, n: int) -> torch.Tensor | None:
        """(n,) long or (n,L) float labels on the model's device, from names (the same for every sprite) or rows."""
        if labels is None or (not isinstance(labels, torch.Tensor) and not labels):
            return None
        if not self.model.is_conditional or self.labels is None:
            raise SpriteforgeError(
                f"{self.path}: this {self.config.model} run is not conditional, so it takes no --label. "
                "Train with --labels CSV and a conditional model to sample by label."
            )
        if isinstance(labels, torch.Tensor):
            if len(labels) != n:
                raise SpriteforgeError(f"labels: {len(labels)} rows for {n} sprites; give one row per sprite.")
            return labels.to(self.device)
        value = torch.from_numpy(self.labels.encode(list(labels)))
        return value.expand(n, *value.shape).to(self.device)

    def interpolate_pairs(self, pool: SpriteSet, pairs: int, steps: int, seed: int = 0) -> np.ndarray:
        """(pairs, steps, H, W, 4) RGBA: latent walks between seeded random pairs of sprites from `pool`."""
        chosen = np.random.default_rng(seed).choice(len(pool), size=(2, pairs), replace=len(pool) < 2 * pairs)
        path = self.interpolate(pool.subset(chosen[0]), pool.subset(chosen[1]), steps).to_rgba()
        return path.reshape(pairs, steps, *path.shape[1:])

    def training_data(self) -> SpriteSet:
        """The sprites this run was trained on (train and validation), indexed into its palette."""
        return runfiles.load_data(self.config.data, palette=self.palette)

    def _require(self, capability: str) -> None:
        if capability not in self.model.capabilities():
            uses = ", ".join(self.model.uses()) or "nothing"
            raise SpriteforgeError(
                f"{self.path}: a {self.config.model!r} run cannot {capability}; it can {uses}."
                + (self._generate_hint() if capability == "sample" else "")
            )

    def _generate_hint(self) -> str:
        """How to get new sprites from a run that cannot sample: a model built on it (a prior on a VQ-VAE), or,
        for a translator, converting images."""
        builders = [
            f"{name} ({name}.{part.key}={self.path})"
            for name, cls in registered().items()
            for part in cls.frozen_parts
            if hasattr(self.model, part.requires)
        ]
        if builders:
            return f" To generate, train a model built on it: {', '.join(builders)}."
        if "translate" in self.model.capabilities():
            return " It makes sprites from images: convert them with it (`spriteforge convert --model RUN`)."
        return ""

    def _indices_of(self, sprites: SpriteSet) -> torch.Tensor:
        if sprites.size != (self.model.spec.height, self.model.spec.width):
            raise SpriteforgeError(
                f"sprites are {sprites.size[1]}x{sprites.size[0]} but this run was trained on "
                f"{self.model.spec.width}x{self.model.spec.height}: load them with --size {self.model.spec.width}."
            )
        # Bring the sprites into this run's palette (exact colours map exactly; others to the nearest).
        indices = self.palette.index(sprites.to_rgba())
        return torch.from_numpy(indices).long().to(self.device)

    def labels_of(self, sprites: SpriteSet) -> torch.Tensor | None:
        """The sprites' labels in this run's vocabulary ((N,) long or (N,L) float), or None when either has none.

        Sprites loaded with their own CSV number their categories by what they contain; this maps them by name."""
        if sprites.labels is None or sprites.label_spec is None or self.labels is None:
            return None
        own, mine = sprites.label_spec, self.labels
        unknown = sorted(set(own.names) - set(mine.names))
        if own.kind != mine.kind or unknown:
            raise SpriteforgeError(
                f"the sprites' labels ({own.kind}: {', '.join(own.names[:8])}...) do not fit this run's "
                f"({mine.kind}: {', '.join(mine.names)}): give the CSV and --label-column the run was trained with."
            )
        positions = np.array([mine.names.index(name) for name in own.names], dtype=np.int64)
        if own.kind == "categorical":
            return torch.from_numpy(positions[sprites.labels.astype(np.int64)]).to(self.device)
        values = np.zeros((len(sprites), len(mine)), np.float32)
        values[:, positions] = sprites.labels
        return torch.from_numpy(values).to(self.device)

    @torch.no_grad()
    def reconstruct(self, sprites: SpriteSet, batch_size: int = 256) -> SpriteSet:
        """Encode and decode sprites (argmax / snapped), in batches: what the model keeps of them (a labelled or
        conditional model takes the sprites' labels)."""
        self._require("reconstruct")
        self.model.eval()
        batches = _batches(self._indices_of(sprites), self.labels_of(sprites), batch_size)
        to_indices = self.model.codec.to_indices
        rebuilt = [
            to_indices(self.model.reconstruct(chunk, **labels), self.model.representation).cpu()
            for chunk, labels in batches
        ]
        return self._sprites(torch.cat(rebuilt))

    @torch.no_grad()
    def encode(self, sprites: SpriteSet, batch_size: int = 256) -> np.ndarray:
        """(N,h,w) int64 code grids (VQ models) or (N,D) float32 latents (autoencoders) of sprites, in batches."""
        self._require("encode")
        self.model.eval()
        codes = [self.model.encode(chunk).cpu() for chunk in self._indices_of(sprites).split(batch_size)]
        return torch.cat(codes).numpy()

    def encode_dataset(self, sprites: SpriteSet, out: str | Path, batch_size: int = 256) -> Path:
        """Write sprites' codes or latents to an .npz for other tools, atomically: `codes`, `files` (source names),
        and `labels` with `label_names` when the sprites have labels."""
        out = Path(out)
        if out.suffix != ".npz":
            raise SpriteforgeError(f"--out {out}: codes are written as .npz; name the file e.g. codes.npz.")
        arrays: dict[str, np.ndarray] = {"codes": self.encode(sprites, batch_size), "files": np.array(sprites.names)}
        if sprites.labels is not None and sprites.label_spec is not None:
            arrays["labels"] = sprites.labels
            arrays["label_names"] = np.array(sprites.label_spec.names)
        with io.atomic_path(out) as tmp, open(tmp, "wb") as handle:
            # numpy's stub checks each **arrays value against savez's own `allow_pickle: bool` keyword.
            np.savez_compressed(handle, **arrays)  # type: ignore[arg-type]
        return out

    @torch.no_grad()
    def interpolate(self, first: SpriteSet, second: SpriteSet, steps: int = 8) -> SpriteSet:
        """Sprites along the straight line between the latent codes of first[i] and second[i]: (pairs*steps) sprites,
        pair by pair."""
        self._require("encode")
        if steps < 2:
            raise SpriteforgeError(f"--steps {steps}: need at least 2 (the two ends).")
        self.model.eval()
        first_labels, second_labels = self.labels_of(first), self.labels_of(second)
        start = self.model.encode(self._indices_of(first), **_given(first_labels))
        end = self.model.encode(self._indices_of(second), **_given(second_labels))
        if not start.is_floating_point():
            raise SpriteforgeError(
                f"{self.path}: a {self.config.model} encodes sprites as discrete codes, which have no "
                "straight line between them; interpolate a vae or ae run instead."
            )
        weights = torch.linspace(0, 1, steps, device=self.device)[None, :, None]  # (1,S,1)
        path = torch.lerp(start[:, None], end[:, None], weights).flatten(0, 1)  # (pairs*S, D)
        labels = None
        vocabulary = self.labels
        if (
            self.model.is_conditional
            and vocabulary is not None
            and first_labels is not None
            and second_labels is not None
        ):
            # A conditional decoder walks the labels too, as (pairs, L) vectors.
            ends = label_matrix(first_labels, vocabulary), label_matrix(second_labels, vocabulary)
            labels = torch.lerp(ends[0][:, None], ends[1][:, None], weights).flatten(0, 1)  # (pairs*S, L)
        output = self.model.decode(path, **_given(labels))
        return self._sprites(self.model.codec.to_indices(output, self.model.representation))

    @staticmethod
    def _column_of(attribute: str, vocabulary: LabelSpec) -> int:
        """The label-vector column of an attribute name (`earring`, `pack=tiny_dungeon`); unknown names list the vocabulary."""
        value = vocabulary.encode([attribute])  # () class index, or (L,) one-hot row
        return int(value) if value.ndim == 0 else int(value.argmax())

    def _labelled(self, sprites: SpriteSet) -> tuple[torch.Tensor, LabelSpec]:
        """The sprites' labels in this run's vocabulary, and that vocabulary: attribute vectors need both."""
        labels = self.labels_of(sprites)
        if labels is None or self.labels is None:
            raise SpriteforgeError(
                f"{self.path}: attribute vectors need labelled sprites of a run with labels: give --labels CSV."
            )
        return labels, self.labels

    @torch.no_grad()
    def attribute_vector(
        self, sprites: SpriteSet, attribute: str, batch_size: int = 256
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(D,) mean latent code of the labelled sprites with `attribute` minus that of those without; for a
        conditional model also (L,), the same difference of their label vectors (None otherwise)."""
        self._require("encode")
        labels, vocabulary = self._labelled(sprites)
        rows = label_matrix(labels, vocabulary)  # (N,L)
        has = rows[:, self._column_of(attribute, vocabulary)] > 0.5  # (N,)
        if bool(has.all()) or not bool(has.any()):
            raise SpriteforgeError(
                f"--add {attribute}: {int(has.sum())} of {len(has)} sprites have it; need some with and some without."
            )
        self.model.eval()
        batches = _batches(self._indices_of(sprites), labels, batch_size)
        codes = torch.cat([self.model.encode(chunk, **given) for chunk, given in batches])  # (N,D)
        latent = codes[has].mean(0) - codes[~has].mean(0)
        return latent, (rows[has].mean(0) - rows[~has].mean(0)) if self.model.is_conditional else None

    @torch.no_grad()
    def edit(
        self, sprites: SpriteSet, attribute: str, strength: float = 1.0, n: int = 8
    ) -> tuple[SpriteSet, SpriteSet]:
        """("add earring") The first n sprites without `attribute`, and the same sprites decoded from their code plus
        `strength` x the attribute vector (a conditional model's labels move the same way, kept in [0,1])."""
        latent, label_shift = self.attribute_vector(sprites, attribute)
        labels, vocabulary = self._labelled(sprites)
        rows = label_matrix(labels, vocabulary)
        without = torch.nonzero(rows[:, self._column_of(attribute, vocabulary)] < 0.5).flatten()[:n].cpu().numpy()
        originals = sprites.subset(without)
        original_labels, _ = self._labelled(originals)
        codes = self.model.encode(self._indices_of(originals), labels=original_labels) + strength * latent  # (n,D)
        moved = (
            None
            if label_shift is None
            else (label_matrix(original_labels, vocabulary) + strength * label_shift).clamp(0, 1)
        )
        output = self.model.decode(codes, **_given(moved))
        return originals, self._sprites(self.model.codec.to_indices(output, self.model.representation))


def _given(labels: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """{"labels": labels} when there are labels, else {}: models without labels are called as before."""
    return {} if labels is None else {"labels": labels}


def _batches(
    indices: torch.Tensor, labels: torch.Tensor | None, batch_size: int
) -> Iterator[tuple[torch.Tensor, dict[str, torch.Tensor]]]:
    """(chunk of indices, _given(its label rows)) in order."""
    for start in range(0, len(indices), batch_size):
        rows = None if labels is None else labels[start : start + batch_size]
        yield indices[start : start + batch_size], _given(rows)


def load_run(path: str | Path, device: str | torch.device = "cpu") -> Run:
    """Rebuild a trained model from RUN/config.yaml, palette.hex, labels.json and weights.safetensors; `path` is a
    run folder or `pretrained:NAME`, a run shipped with the package (engine/pretrained.py)."""
    files = runfiles.read_run(pretrained.resolve(path))
    model = runfiles.load_model(files)
    return Run(files.path, files.config, model.to(device).eval(), files.palette, files.labels, files.metrics)
