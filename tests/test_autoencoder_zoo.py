"""Issue 3: conditioning of the autoencoders, the Gumbel-softmax VAE, end to end on real labels (Kenney packs,
CryptoPunks attributes)."""

from __future__ import annotations

import csv
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import spriteforge
from spriteforge.data.labels import LabelSpec
from spriteforge.errors import SpriteforgeError
from spriteforge.models.base import DataSpec, model_class
from spriteforge.nn.pixels import INDEX, RGBA

from test_cli import fails, invoke

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")
ATTRIBUTES = LabelSpec("multi_hot", ("female", "male", "earring", "cap"))


@pytest.fixture(scope="module")
def kenney_packs(test_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 tiles each of two 16x16 Kenney packs, with a labels.csv (file,pack) beside them."""
    folder = tmp_path_factory.mktemp("kenney_packs")
    rows = []
    for pack in ("tiny_dungeon", "tiny_battle"):
        source = test_data / "kenney" / "tiles" / pack
        if not source.is_dir():
            pytest.skip(f"{source} not found")
        (folder / pack).mkdir()
        for tile in sorted(source.glob("*.png"))[:24]:
            shutil.copy(tile, folder / pack / tile.name)
            rows.append(f"{pack}/{tile.name},{pack}\n")
    (folder / "labels.csv").write_text("file,pack\n" + "".join(rows))
    return folder


@pytest.fixture(scope="module")
def punks(test_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 200 CryptoPunks and their 92 multi-hot attribute columns."""
    source = test_data / "cpunks"
    if not (source / "labels.csv").is_file():
        pytest.skip(f"{source} not found")
    folder = tmp_path_factory.mktemp("punks")
    (folder / "images").mkdir()
    with (source / "labels.csv").open(newline="") as handle:
        reader = csv.reader(handle)
        header, rows = next(reader), [row for _, row in zip(range(200), reader)]
    for row in rows:
        shutil.copy(source / row[0], folder / row[0])
    with (folder / "labels.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])
    return folder


def _spec(labels: LabelSpec | None = ATTRIBUTES) -> DataSpec:
    palette = spriteforge.load_sprites("procedural", count=4, size=16).palette
    return DataSpec(16, 16, torch.from_numpy(palette.colors.copy()), labels)


def _model(name: str, conditioning: str, body: str = "conv", representation: str = INDEX, **extra):
    torch.manual_seed(0)
    cls = model_class(name)
    config = cls.Config(representation=representation, **{**cls.presets["tiny"], "body": body, "conditioning": conditioning, **extra})
    return cls(config, _spec())


# ---------------------------------------------------------------------- conditioning


@pytest.mark.parametrize("name", ["ae", "vae", "gumbel_vae"])
@pytest.mark.parametrize("body", ["conv", "mlp"])
def test_the_requested_labels_reach_the_decoder(name: str, body: str) -> None:
    model = _model(name, "conditional", body).eval()
    assert model.is_conditional
    seen = []
    handle = model.decoder.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0]))
    asked = torch.tensor([[1.0, 0, 1, 0], [0, 1, 0, 1]])  # (female, earring) and (male, cap)
    z = model._prior(2, torch.Generator().manual_seed(0))
    first, second = model.decode(z, asked), model.decode(z, asked.flip(0))
    handle.remove()
    # The decoder's input is [z, y]: the asked label vector, row by row.
    assert torch.equal(seen[0][:, -len(ATTRIBUTES) :], asked)
    assert not torch.allclose(first, second), "the same z with other labels gave the same output"
    # Sampling passes the labels through too: different labels, same seed, different sprites' logits.
    generator = lambda: torch.Generator().manual_seed(1)  # noqa: E731
    a = model.sample(2, labels=asked, generator=generator())
    b = model.sample(2, labels=asked.flip(0), generator=generator())
    assert a.shape == (2, 16, 16) and b.shape == a.shape


def test_categorical_labels_are_one_hot_in_the_decoder_input() -> None:
    spec = _spec(LabelSpec("categorical", ("tiny_battle", "tiny_dungeon", "roguelike"), "pack"))
    model = model_class("vae")(model_class("vae").Config(**model_class("vae").presets["tiny"], conditioning="conditional"), spec).eval()
    seen = []
    model.decoder.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0]))
    model.sample(3, labels=torch.tensor([2, 0, 1]), generator=torch.Generator().manual_seed(0))
    assert torch.equal(seen[0][:, -3:], torch.eye(3)[[2, 0, 1]])


def test_labelled_feeds_the_encoder_only() -> None:
    model = _model("vae", "labelled").train()
    assert not model.is_conditional
    indices = torch.randint(0, model.spec.num_colors, (4, 16, 16))
    labels = torch.tensor([[1.0, 0, 1, 0]] * 4, requires_grad=True)
    model.loss({"indices": indices, "labels": labels, "step": 0})["loss"].backward()
    assert labels.grad is not None and labels.grad.abs().sum() > 0, "the labels do not reach the encoder"
    assert model.decoder[0].in_features == model.config.latent_dim  # no label columns in the decoder
    with pytest.raises(SpriteforgeError, match="not conditional"):
        model.sample(2, labels=labels.detach()[:2])
    with pytest.raises(SpriteforgeError, match="--labels CSV"):
        model.encode(indices)  # encoding needs the sprites' labels


def test_unseen_attribute_combinations_sample() -> None:
    model = _model("vae", "conditional", representation=RGBA).eval()
    everything = torch.ones(3, len(ATTRIBUTES))  # female and male at once: in no dataset
    output = model.sample(3, labels=everything, generator=torch.Generator().manual_seed(0))
    assert output.shape == (3, 4, 16, 16) and torch.isfinite(output).all()


def test_conditional_sampling_without_labels_names_label_and_the_vocabulary() -> None:
    model = _model("vae", "conditional").eval()
    with pytest.raises(SpriteforgeError) as caught:
        model.sample(2)
    assert "--label" in str(caught.value) and "earring" in str(caught.value)


def test_conditioning_without_labels_in_the_data_is_refused() -> None:
    cls = model_class("vae")
    with pytest.raises(SpriteforgeError, match="give --labels CSV"):
        cls(cls.Config(**cls.presets["tiny"], conditioning="conditional"), _spec(None))
    with pytest.raises(SpriteforgeError, match="labelled"):
        cls(cls.Config(**cls.presets["tiny"], conditioning="sometimes"), _spec())


# ---------------------------------------------------------------------- Gumbel-softmax VAE


def test_gumbel_temperature_annealing_schedule() -> None:
    model = _model("gumbel_vae", "none", tau0=2.0, tau_min=0.5, anneal_rate=1e-3)
    assert model.temperature(0) == pytest.approx(2.0)
    assert model.temperature(500) == pytest.approx(2.0 * math.exp(-0.5))
    assert model.temperature(1000) == pytest.approx(2.0 * math.exp(-1.0))
    assert model.temperature(10_000) == 0.5  # the floor
    terms = model.train().loss({"indices": torch.zeros(2, 16, 16, dtype=torch.long), "labels": torch.zeros(2, 4), "step": 500})
    assert float(terms["tau"]) == pytest.approx(2.0 * math.exp(-0.5))


@pytest.mark.parametrize("hard", [True, False])
def test_gumbel_codes_are_blocks_of_categories(hard: bool) -> None:
    model = _model("gumbel_vae", "none", hard=hard).train()  # tiny: latent_dim 8 = 2 variables x 4 categories
    posterior = torch.randn(5, 8, requires_grad=True)
    z, penalties = model._latent_and_penalty(posterior, step=0)
    blocks = z.reshape(5, 2, 4)
    assert torch.allclose(blocks.sum(-1), torch.ones(5, 2))
    if hard:  # straight-through: exactly one-hot forward, gradient still reaches the logits
        assert set(blocks.detach().unique().tolist()) <= {0.0, 1.0}
    else:
        assert (blocks > 0).all() and (blocks < 1).all()
    (z * torch.randn_like(z)).sum().backward()
    assert posterior.grad.abs().sum() > 0
    kl_logged, _ = penalties["kl"]
    assert float(kl_logged) > 0
    _, uniform = model._latent_and_penalty(torch.zeros(3, 8), step=0)
    assert float(uniform["kl"][0]) == pytest.approx(0.0, abs=1e-6)  # uniform posterior = the prior


def test_gumbel_prior_draws_uniform_one_hot_categories() -> None:
    model = _model("gumbel_vae", "none").eval()
    z = model._prior(4000, torch.Generator().manual_seed(0)).reshape(4000, 2, 4)
    assert torch.equal(z.sum(-1), torch.ones(4000, 2))
    frequencies = z.mean(0)  # (2,4): ~1/4 each
    assert (frequencies - 0.25).abs().max() < 0.03
    with pytest.raises(SpriteforgeError, match="multiple of categories"):
        _model("gumbel_vae", "none", latent_dim=9)


# ---------------------------------------------------------------------- end to end on real labels

TINY_CONDITIONAL = ["--preset", "tiny", "--set", "vae.conditioning=conditional", "--steps", 3, "--logger", "none",
                    "--set", "train.batch_size=16", "--set", "train.progress=false", "--set", "train.sample_every=3"]  # fmt: skip


def test_conditional_run_on_kenney_packs_samples_by_pack(kenney_packs: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    run = tmp_path / "run"
    invoke("train", "--model", "vae", "--data", kenney_packs, "--labels", kenney_packs / "labels.csv",
           "--label-column", "pack", "--out", run, *TINY_CONDITIONAL)  # fmt: skip
    grid = tmp_path / "dungeon.png"
    assert "wrote 8" in invoke("sample", run, "--label", "pack=tiny_dungeon", "--n", 8, "--seed", 0, "--out", grid)
    assert grid.is_file()
    fails(monkeypatch, capsys, "sample", run, "--label", "pack=castle", "--out", tmp_path / "x.png", mentions=("castle", "tiny_battle", "tiny_dungeon"))
    fails(monkeypatch, capsys, "sample", run, "--out", tmp_path / "y.png", mentions=("--label", "tiny_dungeon"))
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "y.png").exists()
    loaded = spriteforge.load_run(run)
    assert loaded.model.is_conditional
    both = spriteforge.load_sprites(kenney_packs, labels=kenney_packs / "labels.csv", label_column="pack")
    assert len(loaded.reconstruct(both.subset(slice(0, 4)))) == 4  # the sprites' own labels go in
    assert loaded.interpolate(both.subset([0]), both.subset([30]), steps=3).indices.shape == (3, 16, 16)


def test_conditional_run_on_cryptopunks_attributes(punks: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    invoke("train", "--model", "gumbel_vae", "--data", punks / "images", "--labels", punks / "labels.csv",
           "--out", run, *[a if a != "vae.conditioning=conditional" else "gumbel_vae.conditioning=conditional" for a in TINY_CONDITIONAL])  # fmt: skip
    invoke("sample", run, "--label", "female", "--label", "earring", "--n", 4, "--out", tmp_path / "f.png")
    # alien + ape + a top hat: a combination that no punk has.
    invoke("sample", run, "--label", "alien", "--label", "ape", "--label", "topHat", "--n", 4, "--out", tmp_path / "u.png")
    assert (tmp_path / "u.png").is_file()
