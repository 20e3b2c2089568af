"""ddpm and discrete_diffusion on real Kenney tiles: labels and guidance, inpainting that keeps the unmasked pixels
bit-exact, variations, and the train / resume / sample / inpaint / vary commands end to end."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import spriteforge
import torch
from PIL import Image
from spriteforge import cli
from spriteforge.data.labels import LabelSpec
from spriteforge.errors import SpriteforgeError
from spriteforge.models.base import DataSpec, model_class
from tests.kenney_fixtures import labelled_packs
from typer.testing import CliRunner

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")
MODELS = ["ddpm", "discrete_diffusion"]
runner = CliRunner()


def invoke(*args: object) -> str:
    result = runner.invoke(cli.app, [str(a) for a in args])
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return result.output


@pytest.fixture(scope="module")
def labelled(test_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return labelled_packs(test_data, tmp_path_factory.mktemp("kenney") / "packs")


@pytest.fixture(scope="module")
def sprites(labelled: Path) -> spriteforge.SpriteSet:
    return spriteforge.load_sprites(labelled, size=16, labels=labelled / "labels.csv", label_column="pack")


def build(name: str, sprites: spriteforge.SpriteSet, **extra) -> torch.nn.Module:
    torch.manual_seed(0)
    cls = model_class(name)
    spec = DataSpec(16, 16, torch.from_numpy(sprites.palette.colors.copy()), sprites.label_spec)
    model = cls(cls.Config(**{**cls.presets["tiny"], **extra}), spec).eval()
    # The output layer starts at zero (a stable first step); give it weights, as training would, so that the
    # output depends on the input, the step and the label.
    torch.nn.init.normal_(model.unet.head[-1].weight, std=0.1)
    return model


def test_reference_preset_size() -> None:
    """The Kenney comparison's U-Net: ~7.4M parameters, 1000-step linear schedule (printed with -s)."""
    cls = model_class("ddpm")
    spec = DataSpec(16, 16, torch.zeros(8, 4, dtype=torch.uint8), LabelSpec("categorical", tuple("abcdefgh"), "pack"))
    model = cls(cls.Config(**cls.presets["reference"]), spec)
    count = sum(p.numel() for p in model.parameters())
    print(f"ddpm reference preset: {count:,} parameters")
    assert 7.0e6 < count < 7.6e6
    assert model.schedule.timesteps == 1000 and float(model.schedule.betas[-1]) == pytest.approx(0.02)


def test_cpu15_preset_trains_on_analog_bits(sprites: spriteforge.SpriteSet) -> None:
    """The swept CPU recipe: the cpu U-Net on analog bits of the index, cosine schedule, v-prediction; its loss is
    finite and its samples are palette indices."""
    cls = model_class("ddpm")
    model = cls(cls.Config(**cls.presets["cpu15"]), DataSpec(16, 16, torch.from_numpy(sprites.palette.colors)))
    assert model.representation == "index" and model.config.schedule == "cosine" and model.config.prediction == "v"
    loss = model.loss({"indices": torch.from_numpy(sprites.indices).long()[:4]}, step=0)["loss"]
    assert torch.isfinite(loss)
    assert model.sample(2, steps=2).max() < len(sprites.palette)


@pytest.mark.parametrize("name", MODELS)
def test_labels_guidance_and_label_dropout(name: str, sprites: spriteforge.SpriteSet) -> None:
    model = build(name, sprites)
    assert model.is_conditional
    labels = torch.from_numpy(sprites.labels).long()
    batch = {"indices": torch.from_numpy(sprites.indices).long()[:16], "labels": labels[:16]}
    model.train()
    loss = model.loss(batch, step=0)["loss"]
    loss.backward()
    assert torch.isfinite(loss) and model.unet.label_embed.table.weight.grad.abs().sum() > 0
    model.eval()
    asked = torch.tensor([0, 1, 0, 1])
    seeded = lambda **opts: model.sample(4, labels=asked, generator=torch.Generator().manual_seed(3), **opts)  # noqa: E731
    plain, guided = seeded(steps=4), seeded(steps=4, guidance=3.0)
    assert plain.shape[0] == guided.shape[0] == 4 and not torch.equal(plain, guided)
    # Guidance = 1 is the conditional model alone: the same sprites as asking without a guidance option.
    assert torch.equal(plain, seeded(steps=4, guidance=1.0))
    # Null-label sampling (no labels) works on a conditional model: label dropout trained the null label.
    assert model.sample(2, generator=torch.Generator().manual_seed(0), steps=2).shape[0] == 2
    unconditional = build(name, sprites, conditional=False)
    with pytest.raises(SpriteforgeError, match="not conditional"):
        unconditional.sample(2, labels=asked[:2])


@pytest.mark.parametrize("name", MODELS)
def test_inpainting_keeps_unmasked_pixels_exactly(name: str, sprites: spriteforge.SpriteSet) -> None:
    model = build(name, sprites)
    indices = torch.from_numpy(sprites.indices).long()[::6][:8]  # both packs
    mask = torch.zeros(8, 16, 16, dtype=torch.bool)
    mask[:, 4:12, 4:12] = True
    output = model.inpaint(indices, mask, generator=torch.Generator().manual_seed(0), steps=3)
    assert output.shape == indices.shape and output.dtype == torch.long
    assert torch.equal(output[~mask], indices[~mask])
    assert int(output.max()) < len(sprites.palette)
    if name == "ddpm":  # the DDPM sampler and guidance go through the same loop
        labels = torch.from_numpy(sprites.labels[::6][:8]).long()
        again = model.inpaint(
            indices,
            mask,
            labels=labels,
            generator=torch.Generator().manual_seed(0),
            steps=3,
            sampler="ddpm",
            guidance=2.0,
        )
        assert torch.equal(again[~mask], indices[~mask])


@pytest.mark.parametrize("name", MODELS)
def test_variations(name: str, sprites: spriteforge.SpriteSet) -> None:
    model = build(name, sprites)
    indices = torch.from_numpy(sprites.indices).long()[:4]
    varied = model.vary(indices, 0.25, generator=torch.Generator().manual_seed(0), steps=4)
    assert varied.shape == indices.shape and int(varied.max()) < len(sprites.palette)
    if name == "discrete_diffusion":  # re-masks exactly a quarter of the pixels; the rest are kept
        assert int((varied != indices).flatten(1).sum(1).max()) <= 64
    with pytest.raises(SpriteforgeError, match="strength"):
        model.vary(indices, 1.5)


@pytest.mark.parametrize("name", MODELS)
def test_train_resume_sample_inpaint_vary_from_the_command_line(
    name: str, labelled: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    out = tmp_path / "run"
    tiny = [
        "--preset",
        "tiny",
        "--set",
        "train.batch_size=16",
        "--set",
        "train.progress=false",
        "--set",
        "train.num_samples=4",
    ]
    invoke(
        "train",
        "--model",
        name,
        "--data",
        labelled,
        "--labels",
        labelled / "labels.csv",
        "--label-column",
        "pack",
        "--size",
        16,
        "--steps",
        2,
        "--logger",
        "none",
        "--out",
        out,
        *tiny,
    )
    run = spriteforge.load_run(out)
    assert run.config.train.ema and run.model.is_conditional
    invoke("train", "--resume", out, "--steps", 3)
    assert spriteforge.load_run(out).metrics["steps"] == 3
    grid = tmp_path / "grid.png"
    invoke("sample", out, "--n", 4, "--label", "tiny_dungeon", "--guidance", 3, "--steps", 2, "--out", grid)
    assert grid.is_file()
    sprite = next((labelled / "tiny_dungeon").glob("*.png"))
    mask = np.zeros((16, 16, 4), np.uint8)
    mask[..., 3] = 255
    mask[8:, :, :3] = 255  # white: regenerate the bottom half
    Image.fromarray(mask).save(tmp_path / "mask.png")
    inpainted = tmp_path / "inpainted.png"
    invoke(
        "inpaint",
        out,
        "--image",
        sprite,
        "--mask",
        tmp_path / "mask.png",
        "--n",
        3,
        "--steps",
        2,
        "--seed",
        0,
        "--out",
        inpainted,
    )
    assert Image.open(inpainted).size[0] > 0
    completions = spriteforge.load_run(out).inpaint(
        np.asarray(Image.open(sprite).convert("RGBA")), mask[..., 0] > 0, 3, seed=0, steps=2
    )
    original = run.palette.index(np.asarray(Image.open(sprite).convert("RGBA")))
    assert (completions.indices[:, :8] == original[:8]).all()
    invoke("vary", out, "--image", sprite, "--strength", 0.5, "--n", 2, "--steps", 2, "--out", tmp_path / "vary.png")
    # A mask of another size is a clear error, and nothing is written.
    Image.fromarray(np.zeros((8, 8, 4), np.uint8)).save(tmp_path / "small.png")
    bad = tmp_path / "bad.png"
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "spriteforge",
            "inpaint",
            str(out),
            "--image",
            str(sprite),
            "--mask",
            str(tmp_path / "small.png"),
            "--out",
            str(bad),
        ],
    )
    with pytest.raises(SystemExit) as caught:
        cli.main()
    assert caught.value.code == 2 and "8x8" in capsys.readouterr().err and not bad.exists()


@pytest.mark.parametrize("command", ["inpaint", "vary"])
def test_help_has_an_example(command: str) -> None:
    assert f"spriteforge {command} runs/" in " ".join(invoke(command, "--help").split())


def self_reinforcing_background(model: torch.nn.Module, sprite_colours: int) -> None:
    """The near-empty failure in miniature: the model's likeliest colour is the background (index 0), and it grows
    surer of it the more background it sees (as one trained on sprites with wide empty margins does); the rest of the
    probability is spread evenly over `sprite_colours` colours (1..sprite_colours)."""
    mask_token = model.mask_token

    def logits(tokens: torch.Tensor, labels: object, guidance: float = 1.0) -> torch.Tensor:
        known = tokens != mask_token  # (B,H,W)
        background = ((tokens == 0) & known).flatten(1).sum(1) / known.flatten(1).sum(1).clamp(min=1)  # (B,)
        p_background = (0.5 + 0.4 * background)[:, None, None]  # (B,1,1)
        probs = torch.full((tokens.shape[0], mask_token, *tokens.shape[1:]), 1e-6)  # (B,K,H,W)
        probs[:, 0] = p_background
        probs[:, 1 : sprite_colours + 1] = ((1 - p_background) / sprite_colours)[:, None]
        return probs.log()

    model._logits = logits


def sprite_share(model: torch.nn.Module, **options: object) -> float:
    drawn = model.sample(16, generator=torch.Generator().manual_seed(0), steps=16, **options)
    return float((drawn != 0).float().mean())


def test_choice_noise_keeps_the_background_from_being_committed_first(sprites: spriteforge.SpriteSet) -> None:
    """Greedy unmasking (choice_noise=0) commits the confident background draws first, which makes the model surer
    still, and the sprite ends nearly empty; the default noise commits pixels in a mixed order and the sprite keeps its
    colour."""
    model = build("discrete_diffusion", sprites, conditional=False)
    self_reinforcing_background(model, sprite_colours=2)
    greedy, default, shuffled = (
        sprite_share(model, order="confidence", choice_noise=noise)
        for noise in (0.0, model.SampleOptions().choice_noise, 1e3)
    )
    # Greedy empties the sprite; the default noise keeps more than twice its colour; with overwhelming noise (a random
    # order) the colour share settles where the model's own balance puts it: b = 0.5 + 0.4 b, so 1/6 colour.
    assert greedy < 0.03 and default > 2 * greedy, (greedy, default)
    assert shuffled == pytest.approx(1 / 6, abs=0.05)


def test_occupancy_order_does_not_punish_sprites_of_many_colours(sprites: spriteforge.SpriteSet) -> None:
    """With the sprite's probability spread over many colours, each colour looks less sure than the background, so
    the confidence order commits the background first and empties the sprite even with the default noise. The
    occupancy order ranks "background or not", which the palette's size does not change: the sprite keeps its colour
    whether it is drawn in 2 colours or in all of the palette's."""
    model = build("discrete_diffusion", sprites, conditional=False)
    many = model.mask_token - 1
    self_reinforcing_background(model, sprite_colours=many)
    confidence, occupancy = (sprite_share(model, order=order) for order in ("confidence", "occupancy"))
    self_reinforcing_background(model, sprite_colours=2)
    occupancy_two = sprite_share(model, order="occupancy")
    assert many >= 4, many
    assert occupancy > 2 * confidence, (occupancy, confidence)
    assert occupancy == pytest.approx(occupancy_two, abs=0.03), (occupancy, occupancy_two)


def test_certainty_order_commits_draws_at_their_model_probability(sprites: spriteforge.SpriteSet) -> None:
    """Scoring the drawn colour commits each pixel's likelier side first, and on the toy the background feeds on
    itself (greedy confidence empties the sprite); the certainty order scores only how sure the model is of a pixel,
    so what it commits is an unbiased draw: the sprite keeps the colour share of a random order, even greedily."""
    model = build("discrete_diffusion", sprites, conditional=False)
    self_reinforcing_background(model, sprite_colours=2)
    random_order = sprite_share(model, order="occupancy", choice_noise=1e3)
    greedy_confidence = sprite_share(model, order="confidence", choice_noise=0.0)
    for noise in (0.0, model.SampleOptions().choice_noise):
        certainty = sprite_share(model, order="certainty", choice_noise=noise)
        assert certainty == pytest.approx(random_order, abs=0.05), (noise, certainty, random_order)
    assert greedy_confidence < random_order / 2, (greedy_confidence, random_order)
