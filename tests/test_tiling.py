"""Seamless tiles: the `tileable` sampling option (circular padding, spriteforge.nn.tiling) and the seam statistics
that judge it (spriteforge.metrics.seams), down to a model trained on Kenney terrain whose tiles repeat without
a seam when asked to."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import spriteforge
import torch
from spriteforge import cli, io
from spriteforge.metrics.seams import seam_statistics
from spriteforge.models.base import DataSpec, model_class
from spriteforge.nn.tiling import is_wrapping, wrap_around, wrap_pad
from spriteforge.nn.unet import UNet
from tests.kenney_fixtures import terrain_tiles
from typer.testing import CliRunner

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")


def test_wrapped_unet_commutes_with_circular_shifts() -> None:
    """With circular padding the U-Net computes a function on the torus: shifting the input around the edges (by a
    multiple of its downsampling, 2 here) shifts the output alike, so the output has no edge, hence no seam."""
    torch.manual_seed(0)
    unet = UNet(3, 3, [8, 16], blocks_per_level=1, attention_levels=1, heads=2).eval()
    for parameter in unet.head[-1].parameters():  # the zero-initialised head would make every output 0
        torch.nn.init.normal_(parameter)
    x, t = torch.randn(2, 3, 16, 16), torch.tensor([3.0, 700.0])
    shift = (6, -4)
    with torch.no_grad(), wrap_around():
        shifted = unet(torch.roll(x, shift, dims=(2, 3)), t)
        expected = torch.roll(unet(x, t), shift, dims=(2, 3))
    torch.testing.assert_close(shifted, expected, atol=1e-5, rtol=1e-4)
    with torch.no_grad():  # zero padding: the edges differ
        plain = unet(torch.roll(x, shift, dims=(2, 3)), t)
    assert (plain - expected).abs().max() > 1e-3


@pytest.mark.parametrize(("before", "after"), [(1, 1), (2, 0), (0, 3), (0, 0)])
def test_wrap_pad_is_circular_padding(before: int, after: int) -> None:
    """The concatenation that pads the torus gives exactly F.pad's circular mode, on either axis and memory format."""
    x = torch.randn(2, 3, 5, 7).to(memory_format=torch.channels_last)
    expected = torch.nn.functional.pad(x, (before, after, after, before), mode="circular")
    assert torch.equal(wrap_pad(wrap_pad(x, before, after, dim=-1), after, before, dim=-2), expected)


def test_wrapping_is_scoped_to_the_block_and_the_thread() -> None:
    seen: list[bool] = []
    with wrap_around():
        assert is_wrapping()
        other = threading.Thread(target=lambda: seen.append(is_wrapping()))
        other.start()
        other.join()
        with wrap_around(False):
            assert not is_wrapping()
        assert is_wrapping()
    assert not is_wrapping() and seen == [False]


def test_seam_statistics_of_hand_made_tiles() -> None:
    stripes = np.tile(np.arange(4) % 2, (1, 4, 1))  # (1,4,4) columns 0 1 0 1: every left-right pair changes
    framed = np.ones((1, 4, 4), np.int64)
    framed[:, 1:3, 1:3] = 2  # a 2x2 square in a 1-pixel frame: frame meets frame at the seams, no change there
    noise = np.random.default_rng(0).integers(0, 2, (64, 16, 16))
    assert seam_statistics(stripes).seam == seam_statistics(stripes).inside == 0.5
    # The frame's pairs all change inside (8 pairs of the 24) and never across the seams: ratio 0.
    assert seam_statistics(framed).inside == pytest.approx(8 / 24) and seam_statistics(framed).seam == 0.0
    assert seam_statistics(noise).ratio == pytest.approx(1.0, abs=0.05)
    half = np.zeros((1, 4, 4), np.int64)
    half[:, :, 2:] = 1  # left half 0, right half 1: one change inside each row, and one across each row's seam
    stats = seam_statistics(half)
    # 3x3 copies of 4x4: 12 rows of 11 left-right pairs, 2 of them across a seam; the same top-bottom.
    assert (stats.pairs_seam, stats.pairs_inside) == (48, 216)
    assert (stats.inside, stats.seam, stats.ratio) == pytest.approx((36 / 216, 24 / 48, 3.0))


@pytest.fixture(scope="module")
def terrain_run(test_data: Path, tmp_path_factory: pytest.TempPathFactory) -> spriteforge.Run:
    """A small discrete diffusion model trained for 300 steps (seconds) on 96 Kenney terrain tiles in 8 colours."""
    root = tmp_path_factory.mktemp("terrain")
    folder = terrain_tiles(test_data, root / "tiles", count=96)
    overrides = ["train.batch_size=32", "train.progress=false", "train.max_steps=300", "train.sample_every=0"]
    overrides += ["train.val_every=300", "data.size=16", "data.max_colors=8", "discrete_diffusion.channels=[16,32]"]
    return spriteforge.train(
        "discrete_diffusion", folder, root / "run", overrides=overrides, preset="tiny", logger="none"
    )


def test_tileable_samples_repeat_without_a_seam(terrain_run: spriteforge.Run) -> None:
    """3x3 copies of tileable samples change colour across their seams as often as inside; the plain samples of the
    same model, like the terrain tiles it learnt from (many of them framed), change far more often at the seams."""
    tileable = seam_statistics(terrain_run.sample(64, seed=0, steps=8, tileable=True).indices)
    plain = seam_statistics(terrain_run.sample(64, seed=0, steps=8).indices)
    print(f"seam and inside change shares: tileable {tileable.to_json()}, plain {plain.to_json()}")
    assert tileable.inside < 0.6  # learnt colour areas, not noise (noise changes at ~95% of pairs)
    assert 0.8 < tileable.ratio < 1.25
    assert plain.ratio > tileable.ratio + 0.2


@pytest.mark.parametrize("model", ["ddpm", "discrete_diffusion"])
def test_training_on_the_torus_pads_circularly(model: str) -> None:
    """With tileable=true every U-Net pass of the training loss runs inside `wrap_around()`, and the loss differs
    from the zero-padded one on the same batch and noise: the network learns on the torus it will sample on."""
    cls = model_class(model)
    spec = DataSpec(8, 8, torch.randint(0, 256, (6, 4), dtype=torch.uint8))
    network = cls(cls.Config(**{**cls.presets["tiny"], "tileable": True}), spec)
    for parameter in network.unet.head[-1].parameters():  # the zero-initialised head would hide the padding
        torch.nn.init.normal_(parameter)
    wrapping: list[bool] = []
    network.unet.register_forward_pre_hook(lambda module, inputs: wrapping.append(is_wrapping()))
    batch = {"indices": torch.randint(0, 6, (4, 8, 8))}

    def loss() -> torch.Tensor:
        torch.manual_seed(0)
        return network.loss(batch, step=0)["loss"]

    on_torus = loss()
    network.config.tileable = False
    assert wrapping == [True] and not torch.allclose(on_torus, loss()) and wrapping == [True, False]


@pytest.mark.parametrize("model", ["ddpm", "discrete_diffusion"])
def test_a_run_trained_on_the_torus_samples_tileable_by_default(
    model: str, test_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`tileable=true` is recorded in the run's config.yaml; the loaded run samples as with --tileable when the option
    is left out (Python and CLI), and `--opt tileable=false` still gives zero padding."""
    folder = terrain_tiles(test_data, tmp_path / "tiles", count=24)
    # No warm-up and no EMA, so that four steps move the zero-initialised output layer and the padding shows.
    overrides = ["train.batch_size=8", "train.progress=false", "train.max_steps=4", "train.sample_every=0"]
    overrides += ["train.val_every=4", "train.warmup_steps=0", "train.ema=false"]
    overrides += ["data.size=16", "data.max_colors=8", f"{model}.tileable=true"]
    spriteforge.train(model, folder, tmp_path / "run", overrides=overrides, preset="tiny", logger="none")
    assert "tileable: true" in (tmp_path / "run" / "config.yaml").read_text()
    run = spriteforge.load_run(tmp_path / "run")
    assert run.model.config.tileable is True
    default, tileable, plain = (run.sample(4, seed=1, steps=4, tileable=mode) for mode in (None, True, False))
    np.testing.assert_array_equal(default.indices, tileable.indices)
    assert (default.indices != plain.indices).any()
    monkeypatch.chdir(tmp_path)
    for flags, expected in (([], tileable), (["--opt", "tileable=false"], plain)):
        command = ["sample", "run", "--n", "4", "--seed", "1", "--steps", "4", "--out", "grid.png", "--each", "out"]
        result = CliRunner().invoke(cli.app, [*command, *flags])
        assert result.exit_code == 0, result.output
        written = np.stack([io.read_rgba(file) for file in sorted(Path("out").glob("*.png"))])
        np.testing.assert_array_equal(written, expected.to_rgba())
