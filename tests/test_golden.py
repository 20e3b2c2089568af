"""Golden outputs: every registered model's seeded forward pass on a fixed batch, pinned to stored values.

As diffusers pins its schedulers and models: a change to a network, a loss or a sampler that moves any number fails
here, naming the model, the term and both values. The batch is 4 procedural sprites (generated in code, so the test
needs no data folder); each model is built from its "tiny" preset under a fixed seed.

After an intended numerical change, regenerate the stored values with one command and review the diff:

    pytest tests/test_golden.py --update-golden

Pinned on the CPU in float32. With a GPU (`pytest -m cuda tests/test_golden.py`), the loss terms of the models whose
loss draws no noise are compared on CUDA in float32 and bfloat16 at looser tolerances (random draws differ between
the CPU's and CUDA's generators, so sampled values and noisy losses are pinned on the CPU only), and the model
contract (finite losses and gradients, palette-exact samples) is checked on the device.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import spriteforge
import torch
from spriteforge.data.sprites import SpriteSet
from spriteforge.engine.run import instantiate
from spriteforge.models.base import HANDED_ON, DataSpec, GenerativeModel, registered

GOLDEN = Path(__file__).parent / "golden" / "models.json"
CASES = [(name, rep) for name, cls in registered().items() for rep in cls.representations]
IDS = [f"{name}-{rep}" for name, rep in CASES]
SLICE = 16  # values kept from each sampled or reconstructed tensor
# float32 on one CPU is reproducible to the last bit in practice; the tolerance absorbs other CPUs' kernels and
# thread counts, and is tight enough that a 5% change in a small loss term (the VAE's KL share) fails.
CPU_TOLERANCE = {"rel": 1e-5, "abs": 1e-6}
CUDA_TOLERANCE = {torch.float32: {"rel": 1e-3, "abs": 1e-4}, torch.bfloat16: {"rel": 5e-2, "abs": 5e-2}}


@pytest.fixture(scope="module")
def sprites() -> SpriteSet:
    return spriteforge.load_sprites("procedural", count=4, size=16)


def build(name: str, representation: str, sprites: SpriteSet) -> GenerativeModel:
    torch.manual_seed(0)
    cls = registered()[name]
    config = cls.Config(representation=representation, **cls.presets["tiny"])
    spec = DataSpec(height=16, width=16, palette_rgba=torch.from_numpy(sprites.palette.colors.copy()))
    return instantiate(cls, config, spec)  # as the engine builds it: a prior gets a stand-in VQ-VAE


def batch_of(sprites: SpriteSet, device: torch.device) -> dict[str, torch.Tensor]:
    rgba = torch.from_numpy(sprites.to_rgba()).permute(0, 3, 1, 2).float() / 255  # (N,4,H,W) in [0,1]
    # "domain_a": the second domain of two-domain models (cyclegan); the sprites' own colours stand in for photos.
    return {"indices": torch.from_numpy(sprites.indices.astype(np.int64)).to(device), "domain_a": rgba.to(device)}


def loss_terms(model: GenerativeModel, batch: dict[str, torch.Tensor], seed: int | None = 1) -> dict[str, float]:
    """Every scalar the loss reports, per parameter group for adversarial models ("group/term"); what a group's
    loss hands on joins the next group's batch, as in the engine's step."""
    groups = list(model.param_groups()) if "param_groups" in model.capabilities() else [None]
    terms: dict[str, float] = {}
    for group in groups:
        if seed is not None:
            torch.manual_seed(seed)  # the loss's own noise (diffusion timesteps, Gumbel noise, ...)
        reported = model.loss(batch, step=0, group=group)
        batch = {**batch, **reported.pop(HANDED_ON, {})}
        for key, value in reported.items():
            if value.dim() == 0:
                terms[key if group is None else f"{group}/{key}"] = float(value)
    return terms


def forward_pass(name: str, representation: str, sprites: SpriteSet) -> dict[str, Any]:
    """The numbers pinned for one model: its loss terms, and slices of a seeded sample and reconstruction."""
    model = build(name, representation, sprites).train()
    batch = batch_of(sprites, torch.device("cpu"))
    values: dict[str, Any] = {"loss": loss_terms(model, batch)}
    model.eval()
    with torch.no_grad():
        if "sample" in model.capabilities():
            output = model.sample(2, generator=torch.Generator().manual_seed(2))
            values["sample"] = output.flatten()[:: max(1, output.numel() // SLICE)][:SLICE].float().tolist()
        if "reconstruct" in model.capabilities():
            output = model.reconstruct(batch["indices"][:2])
            values["reconstruct"] = output.flatten()[:: max(1, output.numel() // SLICE)][:SLICE].float().tolist()
    return values


def stored() -> dict[str, Any]:
    return json.loads(GOLDEN.read_text()) if GOLDEN.is_file() else {}


@pytest.fixture(scope="module")
def golden(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """The stored values; with --update-golden, a dict this module's tests fill and write at the end."""
    if not request.config.getoption("--update-golden"):
        yield stored()
        return
    values: dict[str, Any] = {}
    yield values
    text = json.dumps(dict(sorted(values.items())), indent=1) + "\n"
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(text)


@pytest.mark.parametrize(("name", "representation"), CASES, ids=IDS)
def test_forward_pass_matches_the_golden_values(
    name: str, representation: str, sprites: SpriteSet, golden: dict[str, Any], request: pytest.FixtureRequest
) -> None:
    key = f"{name}-{representation}"
    values = forward_pass(name, representation, sprites)
    if request.config.getoption("--update-golden"):
        golden[key] = values
        return
    assert key in golden, f"no golden values for {key}: run `pytest tests/test_golden.py --update-golden`"
    expected = golden[key]
    assert sorted(values["loss"]) == sorted(expected["loss"]), f"{key}: the loss reports other terms"
    for term, value in values["loss"].items():
        assert value == pytest.approx(expected["loss"][term], **CPU_TOLERANCE), f"{key}: loss term {term!r}"
    for part in ("sample", "reconstruct"):
        assert (part in values) == (part in expected), f"{key}: {part} capability changed"
        if part in values:
            assert values[part] == pytest.approx(expected[part], **CPU_TOLERANCE), f"{key}: {part}"


def noiseless(name: str, representation: str, sprites: SpriteSet) -> bool:
    """True when the model's loss draws no random numbers, so CUDA must reproduce the CPU's value."""
    model = build(name, representation, sprites).train()
    batch = batch_of(sprites, torch.device("cpu"))
    state = torch.random.get_rng_state()
    loss_terms(model, batch, seed=None)
    return torch.equal(state, torch.random.get_rng_state())


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize(("name", "representation"), CASES, ids=IDS)
def test_cuda_loss_matches_the_golden_values(
    name: str, representation: str, dtype: torch.dtype, sprites: SpriteSet, golden: dict[str, Any]
) -> None:
    if not noiseless(name, representation, sprites):
        pytest.skip(f"{name} draws noise in its loss: CUDA's generator differs from the CPU's")
    device = torch.device("cuda")
    model = build(name, representation, sprites).train().to(device)
    with torch.autocast("cuda", dtype=dtype, enabled=dtype != torch.float32):
        values = loss_terms(model, batch_of(sprites, device))
    expected = golden[f"{name}-{representation}"]["loss"]
    for term, value in values.items():
        assert value == pytest.approx(expected[term], **CUDA_TOLERANCE[dtype]), f"{name}-{representation}: {term}"


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize(("name", "representation"), CASES, ids=IDS)
def test_the_contract_holds_on_cuda(name: str, representation: str, dtype: torch.dtype, sprites: SpriteSet) -> None:
    """On a GPU: finite losses and gradients for every parameter group, and palette-exact samples on the device."""
    check_contract(name, representation, sprites, torch.device("cuda"), dtype)


@pytest.mark.parametrize(("name", "representation"), CASES, ids=IDS)
def test_the_contract_holds_under_bf16_autocast(name: str, representation: str, sprites: SpriteSet) -> None:
    """bf16 autocast on the CPU runs the same mixed-precision code paths as on a GPU (a quantizer once wrote bf16
    sums into its float32 buffers and failed only there), so CI catches them without one."""
    check_contract(name, representation, sprites, torch.device("cpu"), torch.bfloat16)


def check_contract(
    name: str, representation: str, sprites: SpriteSet, device: torch.device, dtype: torch.dtype
) -> None:
    """Finite losses and gradients for every parameter group, and palette-exact samples on `device` under autocast."""
    model = build(name, representation, sprites).train().to(device)
    batch = batch_of(sprites, device)
    groups = list(model.param_groups()) if "param_groups" in model.capabilities() else [None]
    with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
        for group in groups:
            terms = model.loss(batch, step=0, group=group)
            batch = {**batch, **terms.pop(HANDED_ON, {})}  # as the engine's step: fakes join the next group's batch
            assert torch.isfinite(terms["loss"]), f"{group}: {terms['loss']}"
            terms["loss"].backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    if "sample" not in model.capabilities():
        return
    model.eval()
    with torch.no_grad(), torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
        output = model.sample(3, generator=torch.Generator(device=device).manual_seed(0))
    indices = model.codec.to_indices(output, model.representation)
    assert indices.device.type == device.type and indices.shape == (3, 16, 16)
    assert int(indices.min()) >= 0 and int(indices.max()) < model.spec.num_colors
