"""The FastAPI app: the versioned HTTP API under /api/v1 and the studio's static page at /.

Handlers are plain functions, so FastAPI runs them in its thread pool: a long sampling request does not block
other requests (torch releases the GIL while it computes). Every input is checked against `Limits`, whose bounds
are written into the OpenAPI schema, and every bad request is a 4xx JSON error {"detail": "..."} (`ErrorBody`)
that names the value and the limit; `Guard` checks the Host header, the token and the body size before the app.

The request models' sampling-option fields are generated, per app, from the registered models' option specs (so a
model file or plugin adds its options to the API and its OpenAPI schema).
"""

# No `from __future__ import annotations`: the routes are annotated with request models built per app (its
# Limits and the registered models' sampling options), which FastAPI can only see as evaluated annotations.

import json
import math
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar

import numpy as np
from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.fields import FieldInfo
from starlette.convertors import Convertor, register_url_convertor
from starlette.routing import Match, Mount
from starlette.types import Scope

from spriteforge import __version__, io
from spriteforge.data.export import FrameTag, aseprite_bytes, sets_as_frames, sheet_atlas
from spriteforge.data.palette import Palette
from spriteforge.data.sets import MAX_SLOTS
from spriteforge.data.sprites import SpriteSet
from spriteforge.engine.fusion import MODES
from spriteforge.engine.trained import Run
from spriteforge.errors import SpriteforgeError
from spriteforge.models.base import registered
from spriteforge.models.options import OptionSpec, merged_specs
from spriteforge.serve.guard import Guard
from spriteforge.serve.images import (
    LimitError,
    Limits,
    decode_base64_image,
    decode_upload,
    gif_bytes,
    png_bytes,
    to_base64,
    zip_of,
    zip_of_pngs,
)
from spriteforge.serve.library import RunLibrary, UnknownRun, latest_grid

STATIC = Path(__file__).parent / "static"
# png: a preview grid; sheet: a transparent sprite sheet; zip: a PNG per sprite; aseprite: an indexed .aseprite file
# (a frame per sprite); atlas: a zip of sprites.png and its Aseprite JSON atlas (true size); json: base64 PNGs.
Format = Literal["png", "sheet", "zip", "aseprite", "atlas", "json"]
ASEPRITE_MEDIA_TYPE = "application/octet-stream"  # no registered type; Aseprite itself goes by the suffix
ACTIONS = ("sample", "vary", "inpaint", "fuse", "complete", "reconstruct", "interpolate", "grid")
MAX_SEED = 2**53 - 1  # the largest integer every JSON client holds exactly (JavaScript's Number.MAX_SAFE_INTEGER)


class RunName(Convertor[str]):
    """A run's name in a URL: a path whose last part is not an action, so that GET /runs/x/sample is a 405
    (Allow: POST) from the sample route, not GET /runs/{name} with name 'x/sample'. A run named after an action
    ("sample") works at the top of the served folder only."""

    regex = f"(?:[^/]+|.+/(?!(?:{'|'.join(ACTIONS)})(?:/|$))[^/]+)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("run", RunName())


class Studio(Mount):
    """The studio's static files at /, leaving /api/ to the API: there an unknown path is a JSON 404 and a wrong
    method the API route's 405, whose Allow header names the route's methods (not the static files' GET, HEAD)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and scope["path"].startswith("/api/"):
            return Match.NONE, {}
        return super().matches(scope)


class ErrorBody(BaseModel):
    """Every error the API returns: 400, 401, 404, 405, 413, 422."""

    detail: str = Field(..., description="What was wrong, naming the value and the limit or the fix.")


class Strict(BaseModel):
    """Requests: NaN and infinities are refused (they would reach the models as numbers)."""

    model_config = ConfigDict(allow_inf_nan=False)


class GenerationRequest(Strict):
    """What every generating request shares: count, seed, labels and the model's sampling options (fields added by
    `with_sampling_options`, one per option a registered model declares)."""

    n: int = Field(16, ge=1)
    seed: int | None = Field(
        None, ge=0, le=MAX_SEED, description="Same seed, same sprites; omitted: a random one, returned in json."
    )
    labels: list[str] = Field(
        default_factory=list, description='Label names, e.g. ["female", "earring"] or ["pack=tiny_dungeon"].'
    )
    format: Format = "png"
    scale: int = Field(4, ge=1)
    option_names: ClassVar[tuple[str, ...]] = ()  # the generated sampling-option fields

    def options(self) -> dict[str, Any]:
        """The sampling options given (the run's model checks them: one it lacks is a 400)."""
        given = {name: getattr(self, name) for name in self.option_names}
        return {key: value for key, value in given.items() if value is not None}

    def chosen_seed(self) -> int:
        """The seed to use: the given one, or a fresh random one (returned to the client in json)."""
        return self.seed if self.seed is not None else secrets.randbelow(2**31)


class SampleRequest(GenerationRequest):
    palette: str | None = Field(None, description="A named palette (GET /api/v1/palettes); omitted: the run's own.")
    remap: Literal["luminance", "nearest"] = "luminance"


class VaryRequest(GenerationRequest):
    sprite: str = Field(..., description="base64 PNG sprite at the run's size")
    strength: float = Field(0.5, gt=0, le=1, description="How much may change: 0 < strength <= 1")


class InpaintRequest(GenerationRequest):
    sprite: str = Field(..., description="base64 PNG sprite at the run's size")
    mask: str = Field(..., description="base64 PNG mask at the sprite's size: opaque white = regenerate")


class FuseRequest(GenerationRequest):
    n: int = Field(8, ge=1)
    first: str = Field(..., description="base64 PNG: sprite A, at the run's size")
    second: str = Field(..., description="base64 PNG: sprite B, at the run's size")
    mode: Literal[MODES] = Field(  # type: ignore[valid-type]
        "left-right", description="Which parts come from A: GET /api/v1/runs/{name} lists the run's fusion_modes"
    )
    mask: str | None = Field(None, description="mode mask: base64 PNG of the sprites' size, white = from A")
    seam: int = Field(1, ge=0, le=64, description="Half-width of the seam the model redraws; 0 = a plain cut")


class GivenSprite(Strict):
    slot: int = Field(..., ge=0, lt=MAX_SLOTS, description="Its slot in the set (0-based), e.g. 2 = front view")
    sprite: str = Field(..., description="base64 PNG sprite at the run's sprite size")


class CompleteRequest(GenerationRequest):
    given: list[GivenSprite] = Field(
        ..., min_length=1, max_length=MAX_SLOTS, description="The sprites of the set that are known, by slot"
    )


def with_sampling_options(base: type[GenerationRequest], caps: dict[str, float]) -> type[GenerationRequest]:
    """`base` plus one optional field per sampling option of the registered models, typed, ranged and described as
    the models declare it, with this server's `caps` (e.g. its step limit) lowering a maximum, so the OpenAPI schema
    shows the limit that is enforced; omitted or null: the model's default."""
    specs = merged_specs({name: cls.option_specs() for name, cls in registered().items()})
    fields: dict[str, Any] = {
        spec.name: _option_field(spec, caps.get(spec.name)) for spec in specs if spec.name not in base.model_fields
    }
    request = create_model(base.__name__, __base__=base, __module__=__name__, **fields)
    request.option_names = tuple(fields)
    return request


def _option_field(spec: OptionSpec, cap: float | None) -> tuple[Any, Any]:
    kind = Literal[spec.choices] if spec.choices else spec.python_type
    highest = spec.max if cap is None or spec.max is None else min(spec.max, cap)
    limits: dict[str, Any] = (
        {"ge": spec.min, "le": highest, "allow_inf_nan": False} if spec.type in ("int", "float") else {}
    )
    described = f"{spec.help}. Sampling option of: {', '.join(spec.models)}; omitted: the model's default."
    return kind | None, Field(None, description=described, **limits)


class SpritesRequest(Strict):
    sprites: list[str] = Field(..., min_length=1, description="Sprites as base64 PNGs (data: URLs are fine).")
    format: Format = "png"
    scale: int = Field(4, ge=1)


class InterpolateRequest(Strict):
    first: str = Field(..., description="base64 PNG sprite")
    second: str = Field(..., description="base64 PNG sprite")
    steps: int = Field(8, ge=2, description="Frames, both ends included")
    format: Literal["png", "gif", "json"] = "png"
    scale: int = Field(4, ge=1)


class SpritesResult(BaseModel):
    """format=json: the grid and each sprite as base64 PNGs."""

    grid: str = Field(..., description="base64 PNG: the sprites in a grid, upscaled by `scale`")
    sprites: list[str] = Field(..., description="base64 PNG of each sprite at its own size")
    width: int
    height: int
    seed: int | None = Field(None, description="The seed used (sample, vary, inpaint, complete)")
    palette_adherence: float | None = Field(None, description="Share of pixels in the palette (sample)")
    count: int | None = Field(None, description="How many originals come first (reconstruct)")


class InterpolationResult(BaseModel):
    """format=json: the animation and each frame as base64."""

    gif: str = Field(..., description="base64 GIF, looping")
    sprites: list[str] = Field(..., description="base64 PNG of each frame")


class ConvertResult(BaseModel):
    """format=json: the converted image as base64 PNG."""

    image: str
    width: int
    height: int
    colors: int


class SnapResult(BaseModel):
    """format=json: the true-size sprite (upscaled by `scale`) as base64 PNG, and the grid found."""

    image: str = Field(..., description="base64 PNG: the recovered sprite, upscaled by `scale`")
    width: int = Field(..., description="Sprite pixels across")
    height: int = Field(..., description="Sprite pixels down")
    colors: int = Field(..., description="Palette colours (transparent not counted)")
    cell: list[float] = Field(..., description="[x, y] image pixels per sprite pixel")
    offset: list[float] = Field(..., description="[x, y] of the first grid line, in image pixels")
    confidence: float = Field(..., description="0..1: how clearly the grid stands out (1 where it was given)")
    lines_x: list[float] = Field(..., description="x of every vertical grid line, in image pixels")
    lines_y: list[float] = Field(..., description="y of every horizontal grid line, in image pixels")


Model = TypeVar("Model", bound=BaseModel)


def bounded(model: type[Model], **bounds: FieldInfo) -> type[Model]:
    """`model` with further constraints on some fields (this server's Limits), so that the schema states them."""
    fields: dict[str, Any] = {
        name: (Annotated[model.model_fields[name].annotation, bound], model.model_fields[name])
        for name, bound in bounds.items()
    }
    return create_model(model.__name__, __base__=model, __doc__=model.__doc__, **fields)


class RequestModels:
    """The request bodies of one app, bounded by its Limits."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        count, scale = Field(le=limits.max_sprites), Field(le=limits.max_scale)
        steps = Field(le=limits.max_steps)
        # the sampling option's own range, lowered to this server's limit
        caps: dict[str, float] = {"steps": limits.max_steps}
        self.sample = bounded(with_sampling_options(SampleRequest, caps), n=count, scale=scale)
        self.vary = bounded(with_sampling_options(VaryRequest, caps), n=count, scale=scale)
        self.inpaint = bounded(with_sampling_options(InpaintRequest, caps), n=count, scale=scale)
        self.fuse = bounded(with_sampling_options(FuseRequest, caps), n=count, scale=scale)
        self.complete = bounded(with_sampling_options(CompleteRequest, caps), n=count, scale=scale)
        self.sprites = bounded(SpritesRequest, sprites=Field(max_length=limits.max_sprites), scale=scale)
        self.interpolate = bounded(InterpolateRequest, steps=steps, scale=scale)


def _binary(*media_types: str) -> dict[str, Any]:
    return {media_type: {"schema": {"type": "string", "format": "binary"}} for media_type in media_types}


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Bad input, or a Host header that is not this server's"},
    401: {"model": ErrorBody, "description": "No token, or the wrong one (servers started with --token)"},
    404: {"model": ErrorBody, "description": "No such run in the served folder"},
    413: {"model": ErrorBody, "description": "Over the upload limit (bytes or pixels)"},
    422: {"model": ErrorBody, "description": "A value out of its range or of the wrong type"},
    500: {"model": ErrorBody, "description": "A fault of the server (a bug): the body names its kind only"},
}


def _images(model: type[BaseModel], *media_types: str) -> dict[int | str, dict[str, Any]]:
    """The responses of a route whose `format` picks an image type or JSON (`model`)."""
    ok = {
        "model": model,
        "description": "The image (format png, sheet, gif), a zip (zip, atlas), an .aseprite file, or JSON (json)",
    }
    return {200: {**ok, "content": _binary(*media_types)}, **ERRORS}


def create_app(
    runs: str | Path,
    limits: Limits = Limits(),
    device: str = "cpu",
    *,
    hosts: Iterable[str] = (),
    token: str | None = None,
) -> FastAPI:
    """The app serving the runs under `runs` (see RunLibrary) with these limits.

    Requests must name this server in their Host header: a loopback name, or one of `hosts` (the address it
    listens on, and names given with --allow-host). With a `token`, every /api/ request must carry it as
    'Authorization: Bearer TOKEN'.
    """
    library = RunLibrary(runs, device)
    app = FastAPI(
        title="spriteforge",
        version=__version__,
        description="Palette-exact pixel-art models over HTTP.",
        redirect_slashes=False,  # /api/v1/runs/ is no run, not a redirect
    )
    app.state.library, app.state.limits = library, limits
    _add_error_handlers(app)
    _add_run_routes(app, library, RequestModels(limits))
    _add_convert_routes(app, library, limits)
    _add_snap_route(app, limits)
    app.router.routes.append(Studio("/", app=StaticFiles(directory=STATIC, html=True), name="studio"))
    app.add_middleware(Guard, hosts=hosts, token=token, max_body_bytes=limits.max_body_bytes)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(SpriteforgeError)
    def bad_input(request: Request, error: SpriteforgeError) -> JSONResponse:
        status = 404 if isinstance(error, UnknownRun) else getattr(error, "status", 400)
        return JSONResponse({"detail": str(error)}, status_code=status)

    @app.exception_handler(ValueError)
    def bad_value(request: Request, error: ValueError) -> JSONResponse:
        """A model's own check of a value (its message says which): bad input, not a server fault."""
        return JSONResponse({"detail": str(error) or type(error).__name__}, status_code=400)

    @app.exception_handler(RequestValidationError)
    def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": validation_detail(error)}, status_code=422)

    @app.exception_handler(Exception)
    def fault(request: Request, error: Exception) -> JSONResponse:
        """A server fault (a bug, not bad input): still the API's JSON error body, never a plain-text page. The
        exception is logged by the server; the client learns its kind only, not paths or internals."""
        return JSONResponse({"detail": f"internal error ({type(error).__name__}); see the server's log"}, 500)


def validation_detail(error: RequestValidationError) -> str:
    """FastAPI's validation errors as one sentence per field, e.g. "n: Input should be ... (got 0)".

    Written as text, not echoed as JSON: a NaN or an infinity given by the client cannot break the response.
    """
    parts = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"] if part != "body") or "body"
        given = problem.get("input")
        if problem["type"] == "less_than_equal":  # the limits, this server's (n, scale, ...) or the value's own
            parts.append(f"{where}={_short(given)} is over the limit of {problem['ctx']['le']}")
            continue
        shown = "" if problem["type"] == "missing" else f" (got {_short(given)})"
        parts.append(f"{where}: {problem['msg']}{shown}")
    return "; ".join(parts)


def _short(value: Any) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _add_run_routes(app: FastAPI, library: RunLibrary, models: RequestModels) -> None:
    # The action routes come before GET /runs/{name}, and run names never end in an action (RunName): a wrong
    # method on an action is a 405 that names the right one.
    _add_generation_routes(app, library, models)
    _add_sprite_routes(app, library, models)

    @app.get(
        "/api/v1/runs/{name:run}/grid",
        summary="The last sample grid written during training (PNG)",
        response_class=FileResponse,
        responses={200: {"content": _binary("image/png"), "description": "The grid"}, **ERRORS},
    )
    def training_grid(name: str) -> FileResponse:
        grid = latest_grid(library.path_of(name))
        if grid is None:
            raise UnknownRun(f"run {name!r} has no training sample grid (train.sample_every was 0).")
        return FileResponse(grid, media_type="image/png")

    @app.get(
        "/api/v1/runs", summary="List the runs: model, data, palette, labels, metrics, capabilities", responses=ERRORS
    )
    def list_runs() -> dict[str, Any]:
        described = []
        for name in library.names():
            try:
                described.append(library.describe(name))
            except SpriteforgeError as error:  # one damaged run must not hide the others
                described.append({"name": name, "error": str(error)})
        return {"runs": described}

    @app.get(
        "/api/v1/runs/{name:run}",
        summary="One run: model, data, palette, labels, metrics, capabilities",
        responses=ERRORS,
    )
    def describe_run(name: str) -> dict[str, Any]:
        return library.describe(name)

    @app.get(
        "/api/v1/palettes", summary="The named palettes, as hex colours (index 0 is transparent)", responses=ERRORS
    )
    def palettes() -> dict[str, list[str]]:
        return {
            name: [f"#{r:02x}{g:02x}{b:02x}{a:02x}" for r, g, b, a in Palette.named(name).colors.tolist()]
            for name in Palette.names()
        }


def _add_generation_routes(app: FastAPI, library: RunLibrary, models: RequestModels) -> None:
    limits = models.limits
    sprites_out = _images(SpritesResult, "image/png", "application/zip", ASEPRITE_MEDIA_TYPE)

    @app.post(
        "/api/v1/runs/{name:run}/sample",
        summary="New sprites (grid, sheet, zip of PNGs, or JSON with base64)",
        responses=sprites_out,
    )
    # The request class is built per app (its Limits): FastAPI reads it from the annotation at run time.
    def sample(name: str, request: models.sample) -> Response:  # type: ignore[name-defined]
        seed = request.chosen_seed()
        run = library.get(name)
        _require(run, name, "sample")
        sprites, adherence = run.generate(request.n, seed=seed, labels=request.labels, **request.options())
        if request.palette is not None:
            sprites = sprites.with_palette(_named_palette(request.palette), request.remap)
        extra = {"seed": seed, "palette_adherence": float(np.mean(adherence))}
        return _render(sprites, request.format, request.scale, extra)

    @app.post(
        "/api/v1/runs/{name:run}/vary", summary="Variations of one sprite (models that can vary)", responses=sprites_out
    )
    # The request class is built per app (its Limits): FastAPI reads it from the annotation at run time.
    def vary(name: str, request: models.vary) -> Response:  # type: ignore[name-defined]
        seed = request.chosen_seed()
        run = library.get(name)
        sprite = _sprites_for(run, [request.sprite], limits).to_rgba()[0]
        options = {"seed": seed, "labels": request.labels, **request.options()}
        return _render(
            run.vary(sprite, request.strength, request.n, **options), request.format, request.scale, {"seed": seed}
        )

    @app.post(
        "/api/v1/runs/{name:run}/inpaint",
        summary="Regenerate the masked pixels of a sprite, keep the rest exactly",
        responses=sprites_out,
    )
    # The request class is built per app (its Limits): FastAPI reads it from the annotation at run time.
    def inpaint(name: str, request: models.inpaint) -> Response:  # type: ignore[name-defined]
        seed = request.chosen_seed()
        run = library.get(name)
        sprite = _sprites_for(run, [request.sprite], limits).to_rgba()[0]
        mask = io.mask_of(decode_base64_image(request.mask, limits, "mask"))
        options = {"seed": seed, "labels": request.labels, **request.options()}
        return _render(run.inpaint(sprite, mask, request.n, **options), request.format, request.scale, {"seed": seed})

    @app.post(
        "/api/v1/runs/{name:run}/fuse",
        summary="Fusions of two sprites: parts of A and of B, joined by the model (modes: the run's fusion_modes)",
        responses=sprites_out,
    )
    # The request class is built per app (its Limits): FastAPI reads it from the annotation at run time.
    def fuse(name: str, request: models.fuse) -> Response:  # type: ignore[name-defined]
        seed = request.chosen_seed()
        run = library.get(name)
        if not run.fusion_modes():
            uses = ", ".join(run.model.uses()) or "nothing"
            raise SpriteforgeError(f"run {name!r} (a {run.config.model!r} run) cannot fuse sprites; it can {uses}.")
        first, second = _sprites_for(run, [request.first, request.second], limits).to_rgba()
        mask = None if request.mask is None else io.mask_of(decode_base64_image(request.mask, limits, "mask"))
        options = {"seed": seed, "labels": request.labels, **request.options()}
        fused = run.fuse(first, second, request.n, mode=request.mode, mask=mask, seam=request.seam, **options)
        return _render(fused, request.format, request.scale, {"seed": seed})

    @app.post(
        "/api/v1/runs/{name:run}/complete",
        summary="Complete a set (views, frames) from some of its sprites: runs trained on sheets; given slots kept",
        responses=sprites_out,
    )
    # The request class is built per app (its Limits): FastAPI reads it from the annotation at run time.
    def complete(name: str, request: models.complete) -> Response:  # type: ignore[name-defined]
        seed = request.chosen_seed()
        run = library.get(name)
        given: dict[int, np.ndarray] = {}
        for number, item in enumerate(request.given):
            if item.slot in given:
                raise SpriteforgeError(f"given[{number}]: slot {item.slot} is given twice; give each slot once.")
            given[item.slot] = decode_base64_image(item.sprite, limits, f"given[{number}]")
        options = {"seed": seed, "labels": request.labels, **request.options()}
        return _render(run.complete(given, request.n, **options), request.format, request.scale, {"seed": seed})


def _add_sprite_routes(app: FastAPI, library: RunLibrary, models: RequestModels) -> None:
    limits = models.limits

    @app.post(
        "/api/v1/runs/{name:run}/reconstruct",
        summary="Encode and decode sprites: originals, then reconstructions",
        responses=_images(SpritesResult, "image/png", "application/zip"),
    )
    # The request class is built per app (its Limits): FastAPI reads it from the annotation at run time.
    def reconstruct(name: str, request: models.sprites) -> Response:  # type: ignore[name-defined]
        run = library.get(name)
        originals = _sprites_for(run, request.sprites, limits)
        rebuilt = run.reconstruct(originals)
        both = SpriteSet(np.concatenate([originals.indices, rebuilt.indices]), run.palette)
        return _render(both, request.format, request.scale, {"count": len(originals)})

    @app.post(
        "/api/v1/runs/{name:run}/interpolate",
        summary="Sprites along the latent line between two sprites",
        responses=_images(InterpolationResult, "image/png", "image/gif"),
    )
    # The request class is built per app (its Limits): FastAPI reads it from the annotation at run time.
    def interpolate(name: str, request: models.interpolate) -> Response:  # type: ignore[name-defined]
        run = library.get(name)
        ends = _sprites_for(run, [request.first, request.second], limits)
        path = run.interpolate(ends.subset([0]), ends.subset([1]), request.steps)
        frames = io.upscale(io.composite(path.to_rgba()), request.scale)
        if request.format == "gif":
            return Response(gif_bytes(frames), media_type="image/gif")
        if request.format == "png":
            return Response(
                png_bytes(io.make_grid(path.to_rgba(), columns=len(path), scale=request.scale)), media_type="image/png"
            )
        return JSONResponse({"gif": to_base64(gif_bytes(frames)), "sprites": _each_base64(path)})


def _require(run: Run, name: str, capability: str) -> None:
    """Refuse a request the run's model cannot serve, in the API's words (no server paths, no CLI commands)."""
    if capability not in run.model.capabilities():
        uses = ", ".join(run.model.uses()) or "nothing"
        raise SpriteforgeError(f"run {name!r} (a {run.config.model!r} run) cannot {capability}; it can {uses}.")


def _add_convert_routes(app: FastAPI, library: RunLibrary, limits: Limits) -> None:
    from spriteforge.convert.pixelize import PixelizeConfig, convertible, pixelizer
    from spriteforge.convert.translate import run_converter

    @app.post(
        "/api/v1/convert",
        summary="Turn an uploaded image into pixel art on an exact grid, in a palette",
        responses=_images(ConvertResult, "image/png"),
    )
    def convert(
        file: UploadFile = File(..., description="The image to convert"),
        size: int = Form(32, ge=1, le=limits.max_convert_size, description="Output pixels on the longer side"),
        palette: str | None = Form(None, description="auto:K or a named palette (default auto:16, or a run's own)"),
        dither: str = Form("none"),
        downscale: str = Form("area"),
        outline: bool = Form(False),
        model: str | None = Form(
            None, description="A cyclegan run (GET /api/v1/runs) instead of the classical pixelizer"
        ),
        scale: int = Form(1, ge=1, le=limits.max_scale),
        format: Literal["png", "json"] = Form("png"),
    ) -> Response:
        if palette is not None and not palette.startswith("auto:"):
            _named_palette(palette)  # only named palettes: a server never reads paths its clients send
        if model:
            if dither != "none":
                raise SpriteforgeError(f"dither {dither!r}: a cyclegan run outputs palette indices; nothing to dither.")
            converter = run_converter(library.get(model), size, palette)
        else:
            options = PixelizeConfig(
                size=size, palette=palette or "auto:16", dither=dither, downscale=downscale, outline=outline
            )
            converter = pixelizer(options)
        name = file.filename or "upload"
        sprite = converter(convertible(decode_upload(file.file.read(limits.max_upload_bytes + 1), limits, name), name))
        picture = io.upscale(sprite.to_rgba()[0], scale)
        if format == "png":
            return Response(png_bytes(picture), media_type="image/png")
        return JSONResponse(
            {
                "image": to_base64(png_bytes(picture)),
                "width": sprite.size[1],
                "height": sprite.size[0],
                "colors": len(sprite.palette),
            }
        )


def _add_snap_route(app: FastAPI, limits: Limits) -> None:
    from spriteforge.convert.pixelize import convertible
    from spriteforge.convert.snap import SnapConfig, parse_cell, parse_offset, snap

    @app.post(
        "/api/v1/snap",
        summary="Recover the true pixels of fake pixel art (an upscaled, off-grid, blurred or JPEG'd sprite)",
        responses=_images(SnapResult, "image/png"),
    )
    def snap_upload(
        file: UploadFile = File(..., description="The image that looks like pixel art"),
        palette: str = Form("auto", description="auto, auto:K or a named palette (GET /api/v1/palettes)"),
        cell: str | None = Form(None, description="W or WxH image pixels per sprite pixel; omitted: detected"),
        offset: str | None = Form(None, description="X,Y of the first grid line in image pixels; omitted: detected"),
        max_colors: int = Form(0, ge=0, le=256, description="With palette auto: at most this many entries; 0: no cap"),
        alpha_threshold: int = Form(128, ge=1, le=255, description="Cells with median alpha below it: transparent"),
        scale: int = Form(1, ge=1, le=limits.max_scale),
        format: Literal["png", "json"] = Form("png"),
    ) -> Response:
        if palette != "auto" and not palette.startswith("auto:"):
            _named_palette(palette)  # only named palettes: a server never reads paths its clients send
        config = SnapConfig(
            palette=palette,
            cell=parse_cell(cell),
            offset=parse_offset(offset),
            max_colors=max_colors or None,
            alpha_threshold=alpha_threshold,
        )
        name = file.filename or "upload"
        image = convertible(decode_upload(file.file.read(limits.max_upload_bytes + 1), limits, name), name)
        if max(image.shape[:2]) > limits.max_snap_side:
            raise LimitError(
                f"{name}: {image.shape[1]}x{image.shape[0]} pixels is over this server's snap limit of "
                f"{limits.max_snap_side} pixels on the longer side; crop it, or run `spriteforge snap` locally."
            )
        result = snap(image, config)
        picture = png_bytes(io.upscale(result.sprite.to_rgba()[0], scale))
        if format == "png":
            return Response(picture, media_type="image/png")
        grid = result.grid
        return JSONResponse(
            {
                "image": to_base64(picture),
                "width": grid.shape[1],
                "height": grid.shape[0],
                "colors": len(result.sprite.palette) - 1,
                "cell": list(grid.cell),
                "offset": list(grid.offset),
                "confidence": grid.confidence,
                "lines_x": grid.lines(1).tolist(),
                "lines_y": grid.lines(0).tolist(),
            }
        )


def _named_palette(name: str) -> Palette:
    if name not in Palette.names():
        raise SpriteforgeError(f"palette {name!r}: not a named palette; choose one of {', '.join(Palette.names())}.")
    return Palette.named(name)


def _sprites_for(run: Any, encoded: list[str], limits: Limits) -> SpriteSet:
    """base64 PNG sprites -> a SpriteSet in the run's palette, each checked to be the run's size."""
    height, width = run.model.spec.height, run.model.spec.width
    images = []
    for i, text in enumerate(encoded):
        image = decode_base64_image(text, limits, f"sprite {i}")
        if image.shape[:2] != (height, width):
            raise SpriteforgeError(
                f"sprite {i} is {image.shape[1]}x{image.shape[0]}, but this run makes {width}x{height} sprites."
            )
        images.append(image)
    rgba = np.stack(images)
    return SpriteSet(run.palette.index(rgba).astype(np.int64), run.palette)


def _each_base64(sprites: SpriteSet) -> list[str]:
    return [to_base64(png_bytes(image)) for image in sprites.to_rgba()]


def _attachment(filename: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{filename}"'}


def _render(sprites: SpriteSet, fmt: str, scale: int, extra: dict[str, Any]) -> Response:
    """A SpriteSet as the response format asked for."""
    rgba = sprites.to_rgba()
    columns = 1 if sprites.slots > 1 else None  # a set per row
    if fmt == "png":
        return Response(png_bytes(io.make_grid(rgba, columns=columns, scale=scale)), media_type="image/png")
    if fmt == "sheet":
        return Response(png_bytes(io.upscale(io.make_sheet(rgba), scale)), media_type="image/png")
    if fmt == "zip":
        return Response(zip_of_pngs(io.upscale(rgba, scale)), media_type="application/zip")
    # Game files: a frame per sprite; the sprites of completed sets are frames too, with a tag per set.
    frames, tags = (
        sets_as_frames(sprites) if sprites.slots > 1 else (sprites, [FrameTag("sprites", 0, len(sprites) - 1)])
    )
    if fmt == "aseprite":
        return Response(
            aseprite_bytes(frames, tags), media_type=ASEPRITE_MEDIA_TYPE, headers=_attachment("sprites.aseprite")
        )
    if fmt == "atlas":
        sheet, atlas = sheet_atlas(frames, "sprites.png", tags)
        files = {"sprites.png": png_bytes(sheet), "sprites.json": json.dumps(atlas, indent=1).encode()}
        return Response(zip_of(files), media_type="application/zip", headers=_attachment("sprites_atlas.zip"))
    grid = to_base64(png_bytes(io.make_grid(rgba, columns=columns, scale=scale)))
    return JSONResponse(
        {"grid": grid, "sprites": _each_base64(sprites), "width": sprites.size[1], "height": sprites.size[0], **extra}
    )
