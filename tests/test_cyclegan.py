"""The CycleGAN and what it needs from the engine: parameter groups with manual optimisation, a second image domain
in the batches, the linear schedule, exact resume; on real Kenney tiles and CC0 photos, tiny preset."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import spriteforge
import torch
from PIL import Image
from safetensors.torch import load_file, save_file
from spriteforge import cli
from spriteforge.convert.translate import load_pix2pix_generator
from spriteforge.data.crops import image_crops
from spriteforge.data.palette import Palette
from spriteforge.engine.batches import SpriteBatches
from spriteforge.engine.config import TrainConfig
from spriteforge.engine.module import lr_factor
from spriteforge.errors import SpriteforgeError
from torch import nn
from typer.testing import CliRunner

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")

TINY = [
    "data.count=40",
    "data.size=16",
    "data.domain_a_count=24",
    "train.batch_size=8",
    "train.progress=false",
    "train.val_every=3",
    "train.checkpoint_every=3",
    "train.sample_every=0",
]


@pytest.fixture(scope="module")
def photos(test_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for name in ("camera.png", "coins.png"):
        shutil.copy(test_data / "photos" / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def tiles(test_data: Path) -> Path:
    return test_data / "kenney" / "tiles" / "1bit_pack_colored"


def _train(tiles: Path, photos: Path, out: Path, steps: int) -> spriteforge.Run:
    # A flat learning rate: the linear decay depends on max_steps, which the interrupted run changes on resume.
    overrides = [*TINY, f"data.domain_a={photos}", f"train.max_steps={steps}", "train.min_lr_ratio=1.0"]
    return spriteforge.train("cyclegan", tiles, out, overrides=overrides, preset="tiny", logger="none")


def _ckpt(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def straight(tiles: Path, photos: Path, tmp_path_factory: pytest.TempPathFactory) -> spriteforge.Run:
    return _train(tiles, photos, tmp_path_factory.mktemp("runs") / "A", 6)


def test_training_steps_both_groups_and_resume_continues_exactly(
    straight: spriteforge.Run, tiles: Path, photos: Path, tmp_path: Path
) -> None:
    state = _ckpt(straight.path / "last.ckpt")
    assert state["global_step"] == 6  # one step per batch, although two optimisers step
    assert len(state["optimizer_states"]) == 2 and len(state["lr_schedulers"]) == 2
    assert all(s["last_epoch"] == 6 for s in state["lr_schedulers"])
    assert {s["_last_lr"][0] for s in state["lr_schedulers"]} == {2e-4}  # the model's train defaults
    betas = [group["betas"] for s in state["optimizer_states"] for group in s["param_groups"]]
    assert all(tuple(b) == (0.5, 0.999) for b in betas)
    assert straight.metrics["steps"] == 6 and np.isfinite(straight.metrics["val/loss"])
    # A translator cannot sample: the run says so and what it can do; its progress grids are translations.
    assert "sample" not in straight.model.capabilities() and "translate" in straight.model.capabilities()
    with pytest.raises(SpriteforgeError, match="cannot sample; it can translate.*convert"):
        straight.sample(4, seed=0)
    assert (straight.path / "samples" / "step_000006.png").is_file()

    _train(tiles, photos, tmp_path / "B", 3)  # stops at step 3, then resumes to 6
    resumed = spriteforge.resume(tmp_path / "B", ["train.max_steps=6"])
    first, second = (
        load_file(str(straight.path / "weights.safetensors")),
        load_file(str(resumed.path / "weights.safetensors")),
    )
    differing = [k for k in first if not torch.equal(first[k], second[k])]
    assert not differing  # generators, discriminators and image pools alike


def test_a_run_saved_with_the_retired_photo_buffers_still_loads(straight: spriteforge.Run, tmp_path: Path) -> None:
    """Earlier CycleGAN runs saved kept photos (for a sample() it no longer has): loading drops them."""
    old = tmp_path / "old"
    shutil.copytree(straight.path, old)
    tensors = load_file(str(old / "weights.safetensors"))
    save_file(
        {**tensors, "photos": torch.zeros(16, 4, 16, 16), "photos_seen": torch.ones(())}, old / "weights.safetensors"
    )
    loaded = spriteforge.load_run(old)
    assert all(torch.equal(loaded.model.state_dict()[k], v) for k, v in tensors.items())


def test_a_two_domain_model_without_its_second_domain_is_refused_before_writing(tiles: Path, tmp_path: Path) -> None:
    with pytest.raises(SpriteforgeError, match="data.domain_a"):
        spriteforge.train("cyclegan", tiles, tmp_path / "run", overrides=TINY, preset="tiny", logger="none")
    assert not (tmp_path / "run").exists()
    with pytest.raises(SpriteforgeError, match="no images"):
        image_crops(tmp_path, 16, 4)


def test_bad_schedule_is_refused(tiles: Path, photos: Path, tmp_path: Path) -> None:
    with pytest.raises(SpriteforgeError, match="cosine, linear"):
        spriteforge.train(
            "cyclegan",
            tiles,
            tmp_path / "run",
            overrides=[*TINY, f"data.domain_a={photos}", "train.schedule=step"],
            logger="none",
        )


def test_linear_schedule_is_constant_then_decays_to_the_floor() -> None:
    config = TrainConfig(max_steps=100, warmup_steps=0, schedule="linear", min_lr_ratio=0.0)
    assert [lr_factor(s, config) for s in (0, 25, 50)] == [1.0, 1.0, 1.0]
    assert lr_factor(75, config) == pytest.approx(0.5) and lr_factor(100, config) == 0.0


def test_crops_are_seeded_downscaled_images(photos: Path) -> None:
    crops = image_crops(photos, 16, 6, seed=3)
    assert crops.shape == (6, 4, 16, 16) and crops.dtype == np.float32
    assert 0.0 <= crops.min() and crops.max() <= 1.0 and np.all(crops[:, 3] == 1.0)  # photos are opaque
    np.testing.assert_array_equal(crops, image_crops(photos, 16, 6, seed=3))
    assert not np.array_equal(crops, image_crops(photos, 16, 6, seed=4))


def test_second_domain_batches_repeat_after_a_restore(photos: Path) -> None:
    pool = image_crops(photos, 8, 10)
    indices = np.zeros((12, 8, 8), np.uint8)

    def batches() -> SpriteBatches:
        return SpriteBatches(indices, None, 4, num_colors=2, shuffle=True, seed=1, drop_last=True, domain_a=pool)

    straight = [b["domain_a"] for _, b in zip(range(5), _endless(batches()))]
    first = batches()
    iterator = iter(first)
    next(iterator), next(iterator)
    first.mark_completed()
    restored = batches()
    restored.load_state_dict(first.state_dict())
    again = [b["domain_a"] for _, b in zip(range(3), _endless(restored))]
    assert all(torch.equal(a, b) for a, b in zip(straight[2:], again))
    assert straight[0].shape == (4, 4, 8, 8)


def _endless(batches: SpriteBatches):
    while True:
        yield from batches


# ---------------------------------------------------------------------- spriteforge convert --model


def _convert(*args: object) -> str:
    result = CliRunner().invoke(cli.app, ["convert", *map(str, args)])
    assert result.exit_code == 0, f"{result.output} {result.exception}"
    return result.output


def _colors(path: Path) -> set[tuple[int, ...]]:
    return {tuple(c) for c in np.asarray(Image.open(path).convert("RGBA")).reshape(-1, 4).tolist()}


def test_convert_with_a_run_is_palette_exact_on_the_grid(
    straight: spriteforge.Run, photos: Path, tmp_path: Path
) -> None:
    out = tmp_path / "coins.png"
    _convert(photos / "coins.png", "--model", straight.path, "--size", 20, "--scale", 3, "--out", out)
    image = np.asarray(Image.open(out).convert("RGBA"))
    assert image.shape[:2] == (16, 20)  # 303x384 -> the longer side 20, aspect kept (a size the generator pads)
    assert _colors(out) <= {tuple(c) for c in straight.palette.colors.tolist()}
    preview = np.asarray(Image.open(tmp_path / "coins_x3.png").convert("RGBA"))
    np.testing.assert_array_equal(preview, image.repeat(3, 0).repeat(3, 1))
    output = _convert(photos, "--model", straight.path, "--size", 16, "--palette", "pico8", "--out", tmp_path / "all")
    assert "2 image(s) converted" in output
    for name in ("camera.png", "coins.png"):
        assert _colors(tmp_path / "all" / name) <= {tuple(c) for c in Palette.named("pico8").colors.tolist()}


def _reference_generator(width: int, blocks: int) -> nn.Sequential:
    """The pytorch-CycleGAN-and-pix2pix ResnetGenerator layout (instance norm, no dropout), written out here layer
    by layer, independently of spriteforge.nn.gan, with its Tanh; its state dict is what latest_net_G_A.pth holds."""

    class Block(nn.Module):
        def __init__(self, dim: int) -> None:
            super().__init__()
            self.conv_block = nn.Sequential(
                nn.ReflectionPad2d(1),
                nn.Conv2d(dim, dim, 3, bias=True),
                nn.InstanceNorm2d(dim),
                nn.ReLU(True),
                nn.ReflectionPad2d(1),
                nn.Conv2d(dim, dim, 3, bias=True),
                nn.InstanceNorm2d(dim),
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.conv_block(x)

    layers = [nn.ReflectionPad2d(3), nn.Conv2d(3, width, 7, bias=True), nn.InstanceNorm2d(width), nn.ReLU(True)]
    for i in range(2):
        m = 2**i
        layers += [
            nn.Conv2d(width * m, width * m * 2, 3, stride=2, padding=1, bias=True),
            nn.InstanceNorm2d(width * m * 2),
            nn.ReLU(True),
        ]
    layers += [Block(width * 4) for _ in range(blocks)]
    for i in range(2):
        m = 2 ** (2 - i)
        layers += [
            nn.ConvTranspose2d(width * m, width * m // 2, 3, stride=2, padding=1, output_padding=1, bias=True),
            nn.InstanceNorm2d(width * m // 2),
            nn.ReLU(True),
        ]
    layers += [nn.ReflectionPad2d(3), nn.Conv2d(width, 3, 7), nn.Tanh()]
    reference = nn.Module()
    reference.model = nn.Sequential(*layers)
    return reference


def test_a_pix2pix_resnet_9blocks_state_dict_loads_and_converts(photos: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    reference = _reference_generator(width=4, blocks=9).eval()
    assert "model.10.conv_block.1.weight" in reference.state_dict() and "model.26.weight" in reference.state_dict()
    path = tmp_path / "latest_net_G_A.pth"
    torch.save(reference.state_dict(), path)
    loaded = load_pix2pix_generator(path)
    x = torch.rand(1, 3, 20, 28) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(torch.tanh(loaded(x)), reference.model(x))
    out = tmp_path / "camera.png"
    _convert(
        photos / "camera.png", "--model", path, "--size", 24, "--palette", "db16", "--dither", "bayer4", "--out", out
    )
    assert np.asarray(Image.open(out)).shape[:2] == (24, 24)
    assert _colors(out) <= {tuple(c) for c in Palette.named("db16").colors.tolist()}


def test_each_group_steps_on_its_own_gradients_only(tiles: Path, photos: Path, tmp_path: Path, monkeypatch) -> None:
    """The generators' loss reaches the discriminators' parameters too: that gradient is cleared before the
    discriminators' own loss, so their step follows their loss alone."""
    from spriteforge.models.cyclegan import CycleGAN

    seen: list[tuple[str, bool]] = []
    original = CycleGAN.loss

    def watched(self, batch, *, step, group=None):
        if group is not None:  # training steps (validation calls without one)
            seen.append((group, any(p.grad is not None for p in self.parameters())))
            # The discriminators judge the fakes the generators' loss handed on in this step.
            assert ("fake_a" in batch) == (group == "discriminators")
        return original(self, batch, step=step, group=group)

    monkeypatch.setattr(CycleGAN, "loss", watched)
    spriteforge.train(
        "cyclegan",
        tiles,
        tmp_path / "run",
        preset="tiny",
        logger="none",
        overrides=[*TINY, f"data.domain_a={photos}", "train.max_steps=2", "train.val_every=100"],
    )
    assert seen == [("generators", False), ("discriminators", False)] * 2


def test_bf16_mixed_precision_clips_every_group(tiles: Path, photos: Path, tmp_path: Path) -> None:
    """Manual optimisation under bf16 autocast: each group's gradients are clipped without Lightning's refusal of
    clipping for a fused optimizer (see test_engine's bf16 test)."""
    overrides = [*TINY, f"data.domain_a={photos}", "train.max_steps=2", "train.precision=bf16-mixed"]
    run = spriteforge.train("cyclegan", tiles, tmp_path / "run", overrides=overrides, preset="tiny", logger="none")
    assert (run.path / "weights.safetensors").is_file()
