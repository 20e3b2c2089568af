"""The model contract on a CUDA device, in float32 and under bfloat16 autocast (marked `cuda`: skipped without a GPU).

CI has no GPU; run these on a GPU machine with `pytest -m cuda tests/test_cuda.py tests/test_golden.py`.
"""

from __future__ import annotations

import numpy as np
import pytest
import spriteforge
import torch
from spriteforge.data.sprites import SpriteSet
from spriteforge.engine.run import instantiate
from spriteforge.models.base import HANDED_ON, DataSpec, GenerativeModel, registered

CASES = [(name, rep) for name, cls in registered().items() for rep in cls.representations]
IDS = [f"{name}-{rep}" for name, rep in CASES]
pytestmark = pytest.mark.cuda


@pytest.fixture(scope="module")
def sprites() -> SpriteSet:
    return spriteforge.load_sprites("procedural", count=8, size=16)


def build_on_cuda(name: str, representation: str, sprites: SpriteSet) -> GenerativeModel:
    torch.manual_seed(0)
    cls = registered()[name]
    config = cls.Config(representation=representation, **cls.presets["tiny"])
    spec = DataSpec(height=16, width=16, palette_rgba=torch.from_numpy(sprites.palette.colors.copy()))
    return instantiate(cls, config, spec).to("cuda")  # as the engine builds it


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize(("name", "representation"), CASES, ids=IDS)
def test_loss_backward_and_sample_on_cuda(
    name: str, representation: str, dtype: torch.dtype, sprites: SpriteSet
) -> None:
    model = build_on_cuda(name, representation, sprites).train()
    rgba = torch.from_numpy(sprites.to_rgba()).permute(0, 3, 1, 2).float() / 255
    batch = {"indices": torch.from_numpy(sprites.indices.astype(np.int64)).cuda(), "domain_a": rgba.cuda()}
    groups = list(model.param_groups()) if "param_groups" in model.capabilities() else [None]
    with torch.autocast("cuda", dtype=dtype, enabled=dtype != torch.float32):
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
    with torch.no_grad(), torch.autocast("cuda", dtype=dtype, enabled=dtype != torch.float32):
        output = model.sample(3, generator=torch.Generator(device="cuda").manual_seed(0))
    indices = model.codec.to_indices(output, model.representation)
    assert indices.device.type == "cuda" and indices.shape == (3, 16, 16)
    assert int(indices.min()) >= 0 and int(indices.max()) < model.spec.num_colors
