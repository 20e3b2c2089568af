"""Adding a model is one file, even from another package: a model with a sampling option of its own, installed as a
plugin (a module and a *.dist-info folder declaring entry-point group `spriteforge.models`, in a temporary folder on
sys.path), appears in `spriteforge models`, `sample --help`, `sample --opt`, the HTTP API's OpenAPI schema and the
option specs the studio renders its controls from. Nothing else in spriteforge is edited.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import spriteforge
from fastapi.testclient import TestClient
from spriteforge import cli
from spriteforge.errors import SpriteforgeError
from spriteforge.models import base
from spriteforge.serve.app import create_app
from typer.testing import CliRunner

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")

PLUGIN = '''
"""A per-pixel colour table: the smallest model there is, with a sampling option no built-in model has."""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from spriteforge.models.base import GenerativeModel, ModelConfig, register
from spriteforge.models.options import option
from spriteforge.nn.pixels import INDEX, draw_categorical


@dataclass
class TableOptions:
    sharpness: float = option(1.0, min=0.5, max=4.0, help="how sharply the likeliest colours win")


@register("colour_table")
class ColourTable(GenerativeModel):
    Config = ModelConfig
    SampleOptions = TableOptions
    representations = (INDEX,)
    seen = []  # the sharpness of each sample() call, for the test

    def __init__(self, config, spec):
        super().__init__(config, spec)
        self.logits = nn.Parameter(torch.zeros(spec.num_colors, spec.height, spec.width))  # (K,H,W)

    def loss(self, batch, *args, **kwargs):
        indices = batch["indices"].long()  # (B,H,W)
        return {"loss": F.cross_entropy(self.logits.expand(len(indices), -1, -1, -1), indices)}

    @torch.no_grad()
    def sample(self, n, *, labels=None, generator=None, **opts):
        sharpness = self.read_options(opts).sharpness
        ColourTable.seen.append(sharpness)
        logits = self.logits.expand(n, -1, -1, -1) * sharpness  # (n,K,H,W)
        return draw_categorical(logits, 1.0, generator=generator, dim=1)  # (n,H,W)
'''

runner = CliRunner()


def _install(folder: Path, module: str, source: str, model: str) -> None:
    """folder/module.py and the dist-info that importlib.metadata reads its entry point from."""
    (folder / f"{module}.py").write_text(source)
    info = folder / f"{module}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{base.PLUGIN_GROUP}]\n{model} = {module}\n")


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The colour_table plugin installed for one test, and fully removed after it (registry, module, sys.path)."""
    folder = tmp_path / "site"
    folder.mkdir()
    _install(folder, "spriteforge_colour_table", textwrap.dedent(PLUGIN), "colour_table")
    monkeypatch.syspath_prepend(str(folder))
    yield folder
    base.REGISTRY.pop("colour_table", None)
    sys.modules.pop("spriteforge_colour_table", None)


def invoke(*args: object, code: int = 0) -> str:
    result = runner.invoke(cli.app, [str(a) for a in args], env={"COLUMNS": "80"})
    assert result.exit_code == code, result.output
    return result.output


def test_a_plugin_model_is_found_everywhere(plugin: Path, tmp_path: Path) -> None:
    listing = invoke("models")
    assert "colour_table" in listing and "sharpness" in listing
    help_text = " ".join(invoke("sample", "--help").split())
    assert "--sharpness" in help_text and "colour_table: sharpness" in help_text

    runs = tmp_path / "runs"
    overrides = ["data.count=16", "data.size=8", "train.max_steps=2", "train.batch_size=8", "train.progress=false"]
    overrides += ["train.val_every=2", "train.sample_every=0"]
    spriteforge.train("colour_table", "procedural", runs / "table", overrides=overrides, logger="none")
    table = sys.modules["spriteforge_colour_table"].ColourTable

    invoke("sample", runs / "table", "--n", 2, "--opt", "sharpness=2.5", "--out", tmp_path / "a.png")
    invoke("sample", runs / "table", "--n", 2, "--sharpness", 3, "--out", tmp_path / "b.png")
    assert table.seen[-2:] == [2.5, 3.0]
    refused = runner.invoke(cli.app, ["sample", str(runs / "table"), "--opt", "sharpness=9"])
    assert isinstance(refused.exception, SpriteforgeError) and "sharpness=9.0" in str(refused.exception)
    assert "from 0.5 to 4" in str(refused.exception)

    client = TestClient(create_app(runs), base_url="http://localhost")  # a loopback Host, as the guard wants
    schema = client.get("/openapi.json").json()["components"]["schemas"]["SampleRequest"]["properties"]
    number = next(kind for kind in schema["sharpness"]["anyOf"] if kind["type"] == "number")
    assert number == {"type": "number", "minimum": 0.5, "maximum": 4.0}
    # The studio renders its controls from these specs.
    specs = client.get("/api/v1/runs/table").json()["sample_options"]
    assert specs == [
        {
            "name": "sharpness",
            "type": "float",
            "default": 1.0,
            "help": "how sharply the likeliest colours win",
            "min": 0.5,
            "max": 4.0,
            "choices": None,
        }
    ]
    assert client.post("/api/v1/runs/table/sample", json={"n": 2, "sharpness": 1.5}).status_code == 200
    assert table.seen[-1] == 1.5
    assert client.post("/api/v1/runs/table/sample", json={"n": 2, "sharpness": 5}).status_code == 422
    lacking = client.post("/api/v1/runs/table/sample", json={"n": 2, "temperature": 1})
    assert lacking.status_code == 400 and "sharpness" in lacking.json()["detail"]


def test_a_broken_plugin_is_named_in_the_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _install(tmp_path, "spriteforge_broken_plugin", "import no_such_module_here\n", "broken")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(SpriteforgeError, match="model plugin 'broken'.*spriteforge_broken_plugin.*no_such_module_here"):
        base.registered()
    monkeypatch.undo()
    assert "broken" not in base.registered()
