"""The HTTP API through FastAPI's test client: every endpoint, every limit, bad input as 4xx JSON errors."""

from __future__ import annotations

import base64
import io as bytes_io
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from spriteforge.serve.app import create_app
from spriteforge.serve.images import Limits
from spriteforge.serve.library import RunLibrary, UnknownRun

RUN = "/api/v1/runs/kenney/vae"


@pytest.fixture(scope="module")
def runs(served: Path) -> Path:
    return served


@pytest.fixture(scope="module")
def client(runs: Path) -> TestClient:
    return TestClient(
        create_app(runs, Limits(max_sprites=32, max_upload_bytes=200_000, max_image_pixels=1_000_000)),
        base_url="http://localhost",
    )


def png(image: np.ndarray) -> bytes:
    buffer = bytes_io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def decode(data: bytes | str) -> np.ndarray:
    raw = base64.b64decode(data) if isinstance(data, str) else data
    return np.asarray(Image.open(bytes_io.BytesIO(raw)).convert("RGBA"))


def error_of(response, status: int, *mentions: str) -> str:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    for needle in mentions:
        assert needle in str(detail), f"{needle!r} not in {detail!r}"
    return detail


def sample_json(client: TestClient, **request) -> dict:
    response = client.post(f"{RUN}/sample", json={"format": "json", **request})
    assert response.status_code == 200, response.text
    return response.json()


# ---------------------------------------------------------------------- listing and the studio page


def test_list_runs_describes_model_palette_and_capabilities(client: TestClient) -> None:
    runs = client.get("/api/v1/runs").json()["runs"]
    assert [run["name"] for run in runs] == ["kenney/cyclegan", "kenney/discrete", "kenney/vae"]
    assert "translate" in runs[0]["capabilities"] and "sample" not in runs[0]["capabilities"]
    discrete = runs[1]
    assert discrete["conditional"] and discrete["labels"] == {
        "kind": "categorical",
        "names": ["1bit_pack_colored", "tiny_dungeon"],
        "column": "pack",
    }
    assert {"inpaint", "vary"} <= set(discrete["capabilities"]) and "guidance" in _option_names(discrete)
    run = runs[2]
    assert run["model"] == "vae" and run["size"] == [16, 16] and run["grid"] is True
    assert run["palette"][0].startswith("#") and len(run["palette"]) > 2
    assert {"sample", "encode", "decode", "reconstruct"} <= set(run["capabilities"])
    assert "temperature" in _option_names(run) and run["conditional"] is False
    temperature = next(spec for spec in run["sample_options"] if spec["name"] == "temperature")
    assert temperature["type"] == "float" and temperature["min"] == 0 and temperature["max"] == 100
    assert run["metrics"]["steps"] == 4


def test_sampling_a_run_that_cannot_sample_is_a_clear_400(client: TestClient) -> None:
    response = client.post("/api/v1/runs/kenney/cyclegan/sample", json={"n": 2})
    detail = error_of(response, 400, "kenney/cyclegan", "cannot sample", "translate")
    assert "spriteforge" not in detail and "/" + "tmp" not in detail  # no CLI command, no server path


def _option_names(run: dict) -> set[str]:
    """The names of a described run's sampling options (each a full spec: type, default, range, choices, help)."""
    return {spec["name"] for spec in run["sample_options"]}


def test_a_damaged_run_is_listed_with_its_error_and_hides_nothing(runs: Path, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "served"
    shutil.copytree(runs, root)
    shutil.copytree(runs / "kenney" / "vae", root / "broken")
    (root / "broken" / "weights.safetensors").write_bytes(b"garbage")
    listed = {
        run["name"]: run
        for run in TestClient(create_app(root), base_url="http://localhost").get("/api/v1/runs").json()["runs"]
    }
    assert len(listed) == 4
    assert "corrupt" in listed["broken"]["error"] and listed["kenney/vae"]["model"] == "vae"


def test_training_grid_and_palettes(client: TestClient) -> None:
    grid = client.get(f"{RUN}/grid")
    assert grid.status_code == 200 and grid.headers["content-type"] == "image/png"
    assert decode(grid.content).shape[0] > 16
    palettes = client.get("/api/v1/palettes").json()
    assert len(palettes["gameboy"]) == 5 and palettes["pico8"][0] == "#00000000"


def test_studio_page_and_openapi(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "spriteforge studio" in page.text
    assert client.get("/studio.js").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/v1/runs", "/api/v1/convert", "/api/v1/runs/{name}/sample"} <= set(paths)


# ---------------------------------------------------------------------- sampling


def test_sample_formats_are_palette_exact_and_seeded(client: TestClient, runs: Path) -> None:
    palette = {tuple(int(h[i : i + 2], 16) for i in (1, 3, 5, 7)) for h in client.get(RUN).json()["palette"]}
    result = sample_json(client, n=6, seed=3)
    assert result["seed"] == 3 and len(result["sprites"]) == 6 and result["palette_adherence"] == 1.0
    sprites = [decode(b64) for b64 in result["sprites"]]
    assert all(sprite.shape == (16, 16, 4) for sprite in sprites)
    assert {tuple(p) for sprite in sprites for p in sprite.reshape(-1, 4)} <= palette | {(0, 0, 0, 0)}
    assert sample_json(client, n=6, seed=3)["sprites"] == result["sprites"]  # same seed, same sprites
    grid = client.post(f"{RUN}/sample", json={"n": 6, "seed": 3, "scale": 2})
    assert grid.headers["content-type"] == "image/png" and decode(grid.content).shape[0] % 2 == 0
    sheet = decode(client.post(f"{RUN}/sample", json={"n": 6, "seed": 3, "format": "sheet", "scale": 1}).content)
    assert sheet.shape == (32, 48, 4) and np.array_equal(sheet[:16, :16], sprites[0])
    archive = zipfile.ZipFile(
        bytes_io.BytesIO(client.post(f"{RUN}/sample", json={"n": 6, "seed": 3, "format": "zip", "scale": 1}).content)
    )
    assert len(archive.namelist()) == 6 and np.array_equal(decode(archive.read("sprite_0005.png")), sprites[5])


def test_sample_without_seed_returns_the_seed_it_used(client: TestClient) -> None:
    first = sample_json(client, n=2)
    assert sample_json(client, n=2, seed=first["seed"])["sprites"] == first["sprites"]


def test_sample_in_another_palette(client: TestClient) -> None:
    gameboy = {
        tuple(int(h[i : i + 2], 16) for i in (1, 3, 5, 7)) for h in client.get("/api/v1/palettes").json()["gameboy"]
    }
    result = sample_json(client, n=4, seed=0, palette="gameboy")
    assert {tuple(p) for b64 in result["sprites"] for p in decode(b64).reshape(-1, 4)} <= gameboy


@pytest.mark.parametrize(
    "request_body, status, mentions",
    [
        ({"n": 33}, 422, ("n=33", "limit of 32")),
        ({"n": 2, "steps": 5000}, 422, ("steps=5000", "limit of 1000")),
        ({"n": 2, "scale": 64}, 422, ("scale=64", "limit of 16")),
        ({"n": 0}, 422, ("n",)),
        ({"n": 2, "labels": ["female"]}, 400, ("not conditional",)),
        ({"n": 2, "guidance": 3}, 400, ("guidance", "temperature")),
        ({"n": 2, "top_k": 0}, 422, ("top_k",)),
        ({"n": 2, "sampler": "euler"}, 422, ("sampler",)),
        ({"n": 2, "palette": "/etc/passwd"}, 400, ("not a named palette", "pico8")),
        ({"n": 2, "format": "tiff"}, 422, ("format",)),
    ],
)
def test_sample_bad_requests(client: TestClient, request_body: dict, status: int, mentions: tuple) -> None:
    error_of(client.post(f"{RUN}/sample", json=request_body), status, *mentions)


@pytest.mark.parametrize("temperature", ["NaN", "Infinity", "-Infinity", "1e308", "-1"])
def test_degenerate_sampling_options_are_refused_with_a_json_422(client: TestClient, temperature: str) -> None:
    # Raw JSON: Python's parser takes NaN and Infinity, and the 422 body must still be JSON.
    body = f'{{"n": 2, "temperature": {temperature}}}'
    response = client.post(f"{RUN}/sample", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith("temperature")  # the detail names the field, as text


@pytest.mark.parametrize("run", ["vae", "discrete"])
def test_a_tiny_temperature_samples_the_most_likely_colours(client: TestClient, run: str) -> None:
    # 1e-40 used to overflow the softmax into NaN (a 500); it is legal and behaves like temperature 0.
    body = {"n": 2, "seed": 0, "temperature": 1e-40, "format": "json"}
    tiny = client.post(f"/api/v1/runs/kenney/{run}/sample", json=body)
    assert tiny.status_code == 200, tiny.text
    if run == "vae":  # the decoder's argmax: identical sprites to temperature 0
        assert tiny.json()["sprites"] == sample_json(client, **{**body, "temperature": 0})["sprites"]


def test_openapi_shows_each_sampling_option_with_its_limits(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    for request in ("SampleRequest", "VaryRequest", "InpaintRequest"):
        fields = schemas[request]["properties"]
        assert {"temperature", "guidance", "sampler", "steps", "eta", "top_k"} <= set(fields)
    fields = schemas["SampleRequest"]["properties"]
    temperature = next(kind for kind in fields["temperature"]["anyOf"] if kind["type"] == "number")
    assert temperature["minimum"] == 0 and temperature["maximum"] == 100
    assert {"enum": ["ddim", "ddpm"], "type": "string"} in fields["sampler"]["anyOf"]
    assert "ddpm" in fields["sampler"]["description"]


# ---------------------------------------------------------------------- labels, variations, inpainting

DISCRETE = "/api/v1/runs/kenney/discrete"


def test_sample_by_label_with_guidance(client: TestClient) -> None:
    # The served model trained ~3 s, so its label moves the logits only slightly; the occupancy order ranks pixels by
    # "background or not" alone, so the drawn sprites show the label only when guidance scales that difference up.
    body = {"n": 4, "seed": 0, "labels": ["pack=tiny_dungeon"], "guidance": 50.0, "steps": 16, "format": "json"}
    result = client.post(f"{DISCRETE}/sample", json=body).json()
    assert len(result["sprites"]) == 4 and result["palette_adherence"] == 1.0
    other = client.post(f"{DISCRETE}/sample", json={**body, "labels": ["1bit_pack_colored"]}).json()
    assert other["sprites"] != result["sprites"]  # the label reaches the model
    error_of(client.post(f"{DISCRETE}/sample", json={**body, "labels": ["castle"]}), 400, "castle", "tiny_dungeon")


def test_vary_a_sprite(client: TestClient) -> None:
    sprite = client.post(
        f"{DISCRETE}/sample", json={"n": 1, "seed": 1, "labels": ["tiny_dungeon"], "format": "json"}
    ).json()["sprites"][0]
    result = client.post(
        f"{DISCRETE}/vary",
        json={
            "sprite": sprite,
            "n": 3,
            "seed": 0,
            "strength": 0.5,
            "steps": 3,
            "labels": ["tiny_dungeon"],
            "format": "json",
        },
    ).json()
    assert result["seed"] == 0 and len(result["sprites"]) == 3
    assert all(decode(b64).shape == (16, 16, 4) for b64 in result["sprites"])
    error_of(client.post(f"{RUN}/vary", json={"sprite": sprite}), 400, "cannot vary")
    error_of(client.post(f"{DISCRETE}/vary", json={"sprite": sprite, "strength": 1.5}), 422, "strength")


def test_inpaint_keeps_the_unmasked_pixels_exactly(client: TestClient) -> None:
    sprite = client.post(
        f"{DISCRETE}/sample", json={"n": 1, "seed": 2, "labels": ["tiny_dungeon"], "format": "json"}
    ).json()["sprites"][0]
    mask = np.zeros((16, 16, 4), np.uint8)
    mask[..., 3] = 255
    mask[:8, :, :3] = 255  # regenerate the top half
    body = {
        "sprite": sprite,
        "mask": base64.b64encode(png(mask)).decode(),
        "n": 3,
        "seed": 0,
        "labels": ["tiny_dungeon"],
        "format": "json",
    }
    result = client.post(f"{DISCRETE}/inpaint", json=body).json()
    original = decode(sprite)
    for b64 in result["sprites"]:
        assert np.array_equal(decode(b64)[8:], original[8:])
    small = base64.b64encode(png(mask[:8, :8])).decode()
    error_of(client.post(f"{DISCRETE}/inpaint", json={**body, "mask": small}), 400, "mask is 8x8")


def test_fuse_keeps_each_sprite_outside_the_seam(client: TestClient) -> None:
    runs = {run["name"]: run for run in client.get("/api/v1/runs").json()["runs"]}
    assert runs["kenney/discrete"]["fusion_modes"] == ["left-right", "top-bottom", "mask", "random"]
    assert runs["kenney/vae"]["fusion_modes"][-1] == "latent" and runs["kenney/cyclegan"]["fusion_modes"] == []
    first, second = client.post(f"{DISCRETE}/sample", json={"n": 2, "seed": 2, "format": "json"}).json()["sprites"]
    body = {"first": first, "second": second, "mode": "top-bottom", "n": 3, "seed": 0, "steps": 2, "format": "json"}
    result = client.post(f"{DISCRETE}/fuse", json=body).json()
    assert len(result["sprites"]) == 3 and result["seed"] == 0
    for b64 in result["sprites"]:  # rows 7 and 8 are the seam (1 pixel each side of the border)
        fused = decode(b64)
        assert np.array_equal(fused[:7], decode(first)[:7]) and np.array_equal(fused[9:], decode(second)[9:])
    error_of(client.post("/api/v1/runs/kenney/cyclegan/fuse", json=body), 400, "cannot fuse", "kenney/cyclegan")
    error_of(client.post(f"{DISCRETE}/fuse", json={**body, "mode": "latent"}), 400, "fuses with left-right")
    error_of(client.post(f"{DISCRETE}/fuse", json={**body, "mode": "sideways"}), 422, "mode")
    error_of(client.post(f"{DISCRETE}/fuse", json={**body, "n": 33}), 422, "n")


# ---------------------------------------------------------------------- run names stay inside the folder


@pytest.mark.parametrize("name", ["nope", "kenney", "%2e%2e/%2e%2e/etc", "..%2F..%2Fetc", "kenney/vae/..%2F..%2F.."])
def test_unknown_or_escaping_run_names_are_404(client: TestClient, name: str) -> None:
    error_of(client.post(f"/api/v1/runs/{name}/sample", json={"n": 1}), 404, "no run named")


def test_library_resolves_names_only_inside_the_root(runs: Path) -> None:
    library = RunLibrary(runs)
    assert library.path_of("kenney/vae") == (runs / "kenney" / "vae").resolve()
    for name in ("../served", str(runs / "kenney" / "vae"), "kenney/../kenney/vae/../../..", ""):
        with pytest.raises(UnknownRun):
            library.path_of(name)


def test_a_run_is_loaded_once_even_under_concurrent_requests(runs: Path) -> None:
    library = RunLibrary(runs)
    loaded = []
    threads = [threading.Thread(target=lambda: loaded.append(library.get("kenney/vae"))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(run) for run in loaded}) == 1


# ---------------------------------------------------------------------- reconstruct and interpolate


def test_reconstruct_returns_originals_then_reconstructions(client: TestClient) -> None:
    sprites = sample_json(client, n=3, seed=1)["sprites"]
    result = client.post(f"{RUN}/reconstruct", json={"sprites": sprites, "format": "json"}).json()
    assert result["count"] == 3 and len(result["sprites"]) == 6 and result["sprites"][:3] == sprites


def test_interpolate_gif_png_and_json(client: TestClient) -> None:
    first, second = sample_json(client, n=2, seed=2)["sprites"]
    body = {"first": first, "second": second, "steps": 5}
    as_json = client.post(f"{RUN}/interpolate", json={**body, "format": "json"}).json()
    assert len(as_json["sprites"]) == 5
    gif = Image.open(bytes_io.BytesIO(base64.b64decode(as_json["gif"])))
    assert gif.n_frames == 5
    strip = client.post(f"{RUN}/interpolate", json={**body, "format": "png", "scale": 1})
    assert decode(strip.content).shape == (18, 5 * 17 + 1, 4)
    assert client.post(f"{RUN}/interpolate", json={**body, "format": "gif"}).headers["content-type"] == "image/gif"


@pytest.mark.parametrize(
    "sprites, status, mentions",
    [
        (["not base64!"], 400, ("sprite 0", "base64")),
        ([base64.b64encode(b"plain text").decode()], 400, ("sprite 0", "not a readable image")),
        ([base64.b64encode(png(np.zeros((8, 8, 4), np.uint8))).decode()], 400, ("8x8", "16x16")),
        (["A" * 400_000], 413, ("upload limit",)),
    ],
)
def test_reconstruct_bad_sprites(client: TestClient, sprites: list, status: int, mentions: tuple) -> None:
    error_of(client.post(f"{RUN}/reconstruct", json={"sprites": sprites}), status, *mentions)


def test_too_many_sprites_and_too_many_frames(client: TestClient) -> None:
    sprite = sample_json(client, n=1, seed=0)["sprites"][0]
    error_of(client.post(f"{RUN}/reconstruct", json={"sprites": [sprite] * 33}), 422, "sprites:", "at most 32")
    error_of(
        client.post(f"{RUN}/interpolate", json={"first": sprite, "second": sprite, "steps": 2000}),
        422,
        "steps=2000",
        "limit of 1000",
    )


# ---------------------------------------------------------------------- convert


@pytest.fixture(scope="module")
def photo(test_data: Path) -> bytes:
    path = test_data / "photos" / "astronaut.png"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    image = Image.open(path).convert("RGB").resize((128, 128))
    buffer = bytes_io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_convert_an_uploaded_photo(client: TestClient, photo: bytes) -> None:
    fields = {"size": "24", "palette": "pico8", "dither": "bayer4", "scale": "2"}
    response = client.post("/api/v1/convert", files={"file": ("astronaut.png", photo)}, data=fields)
    image = decode(response.content)
    assert response.status_code == 200 and image.shape == (48, 48, 4)
    pico8 = {tuple(int(h[i : i + 2], 16) for i in (1, 3, 5, 7)) for h in client.get("/api/v1/palettes").json()["pico8"]}
    assert {tuple(p) for p in image.reshape(-1, 4)} <= pico8
    as_json = client.post(
        "/api/v1/convert", files={"file": ("a.png", photo)}, data={"size": "16", "format": "json"}
    ).json()
    assert as_json["width"] == 16 and decode(as_json["image"]).shape == (16, 16, 4)


def test_convert_with_a_cyclegan_run(client: TestClient, photo: bytes) -> None:
    palette = {
        tuple(int(h[i : i + 2], 16) for i in (1, 3, 5, 7))
        for h in client.get("/api/v1/runs/kenney/cyclegan").json()["palette"]
    }
    response = client.post(
        "/api/v1/convert", files={"file": ("a.png", photo)}, data={"size": "16", "model": "kenney/cyclegan"}
    )
    image = decode(response.content)
    assert response.status_code == 200 and image.shape == (16, 16, 4)
    assert {tuple(p) for p in image.reshape(-1, 4)} <= palette | {(0, 0, 0, 0)}
    error_of(
        client.post(
            "/api/v1/convert", files={"file": ("a.png", photo)}, data={"model": "kenney/cyclegan", "dither": "floyd"}
        ),
        400,
        "nothing to dither",
    )
    error_of(
        client.post("/api/v1/convert", files={"file": ("a.png", photo)}, data={"model": "../x"}), 404, "no run named"
    )
    error_of(
        client.post("/api/v1/convert", files={"file": ("a.png", photo)}, data={"model": "kenney/vae"}),
        400,
        "cannot translate",
    )


def _huge_header_png(width: int, height: int) -> bytes:
    """A tiny file whose PNG header claims width x height pixels (a decompression bomb's header)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00")) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    "upload, fields, status, mentions",
    [
        (b"not an image at all", {}, 400, ("not a readable image",)),
        (_huge_header_png(50_000, 50_000), {}, 413, ("2500000000 pixels", "limit of 1000000 pixels")),
        (_huge_header_png(2_000, 2_000), {}, 413, ("2000x2000", "limit of 1000000 pixels")),
        (b"\x00" * 300_000, {}, 413, ("upload limit",)),
        (None, {"size": "1000"}, 422, ("size='1000'", "limit of 256")),
        (None, {"palette": "../secret.hex"}, 400, ("not a named palette",)),
        (None, {"dither": "sparkle"}, 400, ("dither", "bayer4")),
        (None, {"palette": "auto:x"}, 400, ("auto:K",)),
    ],
)
def test_convert_bad_input(
    client: TestClient, photo: bytes, upload, fields: dict, status: int, mentions: tuple
) -> None:
    response = client.post("/api/v1/convert", files={"file": ("in.png", upload or photo)}, data=fields)
    error_of(response, status, *mentions)


def test_convert_a_one_pixel_image(client: TestClient) -> None:
    response = client.post(
        "/api/v1/convert", files={"file": ("dot.png", png(np.full((1, 1, 4), 200, np.uint8)))}, data={"size": "8"}
    )
    error_of(response, 400, "1x1")
