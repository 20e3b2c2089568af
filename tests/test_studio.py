"""The studio in a real headless Chromium (Debian's package, driven by Playwright): gallery, generate, keep,
interpolate, download a sheet, convert a photo, errors in the page. Screenshots go to test-output/studio/ (or
$SPRITEFORGE_SCREENSHOTS). Skipped, with the reason, where Chromium or Playwright is missing.

SPRITEFORGE_STUDIO_RUNS=folder serves that folder instead of the tiny 4-step run (how the README screenshot is made).
"""

from __future__ import annotations

import io as bytes_io
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tests.conftest import REPO_ROOT
from tests.kenney_fixtures import served_runs

CHROMIUM = Path(os.environ.get("SPRITEFORGE_CHROMIUM", "/usr/bin/chromium"))
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def screenshots() -> Path:
    folder = Path(os.environ.get("SPRITEFORGE_SCREENSHOTS") or REPO_ROOT / "test-output" / "studio")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def server(test_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import uvicorn
    from spriteforge.serve.app import create_app

    given = os.environ.get("SPRITEFORGE_STUDIO_RUNS")
    runs = Path(given) if given else served_runs(tmp_path_factory.mktemp("served"), test_data)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    uv = uvicorn.Server(uvicorn.Config(create_app(runs), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uv.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    uv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def page(server: str, screenshots: Path):
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's chromium package (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        tab = context.new_page()
        tab.set_default_timeout(TIMEOUT_MS)
        tab.goto(server)
        yield tab
        browser.close()


def test_gallery_lists_the_runs_with_their_grids(page, screenshots: Path) -> None:
    page.wait_for_selector(".card h2")
    assert "vae" in page.inner_text("#run-cards")
    page.wait_for_function(
        "[...document.querySelectorAll('.card img')].every(img => img.complete && img.naturalWidth > 0)"
    )
    page.screenshot(path=str(screenshots / "gallery.png"), full_page=True)


def test_runs_that_cannot_sample_are_not_offered_for_generation(page) -> None:
    page.wait_for_selector(".card h2")
    unable = page.evaluate(
        "state.runs.filter(run => !run.error && !run.capabilities.includes('sample')).map(r => r.name)"
    )
    if not unable:
        pytest.skip("no run that cannot sample (a cyclegan or vqvae) in the served folder")
    offered = page.eval_on_selector_all("#run option", "options => options.map(option => option.value)")
    for name in unable:
        card = page.locator(".card").filter(has=page.locator(f"h2:text-is('{name}')"))
        assert name not in offered and card.locator("button").count() == 0
        assert "cannot generate" in card.inner_text()


def test_generate_keep_and_interpolate(page, screenshots: Path) -> None:
    # A run that can encode (so "Interpolate" applies): the tiny VAE, or the first such run of a given folder.
    name = page.evaluate("state.runs.find(run => !run.error && run.capabilities.includes('encode')).name")
    page.locator(".card").filter(has=page.locator(f"h2:text-is('{name}')")).locator("button").click()
    # The option controls are rendered from the run's specs (GET /api/v1/runs/{run}), not written in the page.
    specs = page.evaluate("state.run.sample_options")
    shown = page.eval_on_selector_all(
        "#sample-options [data-option]", "controls => controls.map(c => c.dataset.option)"
    )
    assert shown == [spec["name"] for spec in specs]
    for spec in specs:
        if spec["type"] in ("int", "float"):
            limits = page.eval_on_selector(f"#option-{spec['name']}", "input => [input.min, input.max]")
            assert limits == [f"{spec['min']:g}", f"{spec['max']:g}"]
    page.fill("#n", "16")
    page.fill("#seed", "0")
    page.click("#generate-button")
    page.wait_for_function("document.querySelectorAll('#sprites img').length === 16")
    width = page.eval_on_selector("#sprites img", "img => img.naturalWidth")
    assert width == page.evaluate("state.run.size[0]")
    assert "seed 0" in page.inner_text("#sample-info")
    assert page.eval_on_selector("#sprites img", "img => getComputedStyle(img).imageRendering") == "pixelated"
    page.click("#sprites img:nth-child(1)")
    page.click("#sprites img:nth-child(2)")
    page.click("#kept img:nth-child(1)")
    page.click("#kept img:nth-child(2)")
    page.click("#interpolate-button")
    page.wait_for_selector("#derived img[title=interpolation]")
    assert page.locator("#derived .sprites img").count() == 8
    page.screenshot(path=str(screenshots / "generate.png"), full_page=True)


def test_download_a_sprite_sheet(page, tmp_path: Path) -> None:
    with page.expect_download() as caught:
        page.click("#download-sheet")
    target = tmp_path / caught.value.suggested_filename
    caught.value.save_as(target)
    sheet = np.asarray(Image.open(target))
    size = page.evaluate("state.run.size[0]")
    assert target.name == "sheet.png" and sheet.shape == (4 * size, 4 * size, 4)


def test_download_an_aseprite_file(page, tmp_path: Path) -> None:
    from tests.aseprite_reader import read_aseprite

    with page.expect_download() as caught:
        page.click("#download-aseprite")
    target = tmp_path / caught.value.suggested_filename
    caught.value.save_as(target)
    document = read_aseprite(target)
    size = page.evaluate("state.run.size[0]")
    assert target.name == "sprites.aseprite" and (document.width, len(document.frames)) == (size, 16)


def test_labels_variations_inpainting_and_fusion(page, screenshots: Path) -> None:
    name = page.evaluate("(state.runs.find(run => run.conditional && run.capabilities.includes('inpaint')) || {}).name")
    if not name:
        pytest.skip("no conditional run that can inpaint in the served folder")
    page.select_option("#run", name)
    choices = page.eval_on_selector_all("#label-choices input", "inputs => inputs.map(input => input.value)")
    assert len(choices) >= 2
    page.check(f"#label-choices input[value='{choices[-1]}']")
    page.fill("#option-steps", "3")  # a rendered control's value goes into the request
    assert page.evaluate("sampleRequest('json').steps") == 3
    page.fill("#n", "8")
    page.click("#generate-button")
    page.wait_for_function(
        "document.querySelectorAll('#sprites img').length === 8 && !document.querySelector('#busy:not([hidden])')"
    )
    page.click("#sprites img:nth-child(1)")
    page.click("#kept img:nth-child(1)")
    page.click("#vary-button")
    page.wait_for_function("[...document.querySelectorAll('#derived h2')].some(h => h.textContent === 'Variations')")
    page.click("#inpaint-button")
    box = page.locator("#mask-canvas").bounding_box()
    page.mouse.move(box["x"] + 4, box["y"] + 4)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] - 4, box["y"] + box["height"] / 2, steps=12)
    page.mouse.up()
    assert page.evaluate("state.mask.reduce((a, b) => a + b, 0)") > 0
    page.click("#run-inpaint")
    page.wait_for_function("[...document.querySelectorAll('#derived h2')].some(h => h.textContent === 'Inpainted')")
    # Fusion: keep a second sprite, select both (the first is A), pick a mode, 8 fusions.
    assert page.locator("#fuse-button").is_disabled()
    page.click("#sprites img:nth-child(2)")
    page.click("#kept img:nth-child(2)")
    assert page.eval_on_selector_all("#fuse-mode option", "options => options.map(o => o.value)") == [
        "left-right",
        "top-bottom",
        "random",
    ]
    page.select_option("#fuse-mode", "top-bottom")
    page.click("#fuse-button")
    page.wait_for_function(
        "[...document.querySelectorAll('#derived h2')].some(h => h.textContent === 'Fusions (top-bottom)')"
    )
    assert page.locator("#derived > div:first-child .sprites img").count() == 8
    assert page.locator("#error").is_hidden()
    page.screenshot(path=str(screenshots / "labels_vary_inpaint.png"), full_page=True)


def test_errors_are_shown_in_the_page(page) -> None:
    shown = page.locator("#sprites img").count()
    page.fill("#n", "100000")
    page.click("#generate-button")
    page.wait_for_selector("#error:not([hidden])")
    assert "limit of 256" in page.inner_text("#error")
    assert shown > 0 and page.locator("#sprites img").count() == shown  # the previous result is still there
    page.fill("#n", "16")


def test_convert_a_photo_side_by_side(page, screenshots: Path, test_data: Path, tmp_path: Path) -> None:
    source = test_data / "photos" / "chelsea.png"
    if not source.is_file():
        pytest.skip(f"{source} not found")
    photo = tmp_path / "chelsea.png"
    shutil.copy(source, photo)
    page.click("button[data-view=convert]")
    page.set_input_files("#convert-file", str(photo))
    page.fill("#convert-size", "32")
    page.select_option("#convert-palette", "pico8")
    cyclegans = page.eval_on_selector_all(
        "#convert-model option", "options => options.map(o => o.value).filter(v => v)"
    )
    if cyclegans:  # the tiny served folder has one; a folder given by SPRITEFORGE_STUDIO_RUNS may not
        page.select_option("#convert-model", cyclegans[0])
    page.click("#convert-button")
    cards = 1 + 4 + len(cyclegans[:1])  # the original, four dithers, the CycleGAN
    page.wait_for_function(f"document.querySelectorAll('#convert-results .card img').length === {cards}")
    assert "dither floyd" in page.inner_text("#convert-results")
    assert all(f"CycleGAN {name}" in page.inner_text("#convert-results") for name in cyclegans[:1])
    first = page.eval_on_selector("#convert-results .card:not(.original) img", "img => img.src")
    picture = np.asarray(Image.open(bytes_io.BytesIO(__import__("base64").b64decode(first.split(",", 1)[1]))))
    assert picture.shape[1] == 32 * 8  # 32 pixels on the longer side, previewed at 8x
    page.screenshot(path=str(screenshots / "convert.png"), full_page=True)


def test_snap_shows_the_grid_and_offers_the_true_size_sprite(page, screenshots: Path, test_data: Path, tmp_path: Path):
    from spriteforge import io
    from spriteforge.convert.degrade import Degradation, degrade

    source = test_data / "kenney" / "tiles" / "tiny_dungeon" / "tiny_dungeon_r07c00.png"
    if not source.is_file():
        pytest.skip(f"{source} not found")
    fake = tmp_path / "fake.png"
    io.write_png(fake, degrade(io.read_rgba(source), Degradation(cell=4.5, shift=1.5, resample="bilinear")))
    page.click("button[data-view=convert]")
    page.set_input_files("#snap-file", str(fake))
    page.click("#snap-button")
    page.wait_for_selector("#snap-results a.button")
    assert "16x16 pixels" in page.inner_text("#snap-results") and "cell 4.50x4.50" in page.inner_text("#snap-results")
    height, width = io.read_rgba(fake).shape[:2]
    drawn_width, drawn_height = page.eval_on_selector("#snap-grid", "c => [c.width, c.height]")
    assert drawn_width % width == 0 and drawn_width // width == drawn_height // height  # the upload, enlarged
    link = page.eval_on_selector("#snap-results a.button", "a => a.href")
    sprite = np.asarray(Image.open(bytes_io.BytesIO(__import__("base64").b64decode(link.split(",", 1)[1]))))
    assert sprite.shape[:2] == (16, 16)  # the download is the true-size sprite
    page.screenshot(path=str(screenshots / "snap.png"), full_page=True)
