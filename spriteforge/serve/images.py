"""Images in and out of the HTTP API: PNG bytes, base64, zips, and uploads checked against the limits before decoding."""

from __future__ import annotations

import base64
import binascii
import io as bytes_io
import zipfile
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from spriteforge.errors import SpriteforgeError


@dataclass(frozen=True)
class Limits:
    """What one request may ask for; each is named in the error that enforces it."""

    max_sprites: int = 256  # n per sample request
    max_scale: int = 16  # nearest-neighbour upscale of returned images
    max_upload_bytes: int = 8 * 1024 * 1024  # one uploaded file or base64 image
    max_image_pixels: int = 4096 * 4096  # width x height of an uploaded image, read from its header
    max_steps: int = 1000  # sampler steps, interpolation frames
    max_convert_size: int = 256  # output pixels on the longer side of `convert`
    max_snap_side: int = 384  # image pixels on the longer side of a `snap` upload (its grid search is costly)

    @property
    def max_body_bytes(self) -> int:
        """One request body: one upload's worth of bytes, base64-encoded (4 characters per 3 bytes), and its fields."""
        return self.max_upload_bytes * 4 // 3 + 64 * 1024


class LimitError(SpriteforgeError):
    """An upload over one of the Limits (HTTP 413); the other limits are bounds in the request schema (422)."""

    def __init__(self, message: str, status: int = 413) -> None:
        super().__init__(message)
        self.status = status


def png_bytes(image: np.ndarray) -> bytes:
    """(H,W,4) or (H,W,3) uint8 -> PNG file bytes."""
    buffer = bytes_io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG")
    return buffer.getvalue()


def gif_bytes(frames: np.ndarray, duration_ms: int = 120) -> bytes:
    """(T,H,W,3|4) uint8 opaque frames -> a looping GIF."""
    images = [Image.fromarray(np.ascontiguousarray(frame[..., :3])) for frame in frames]
    buffer = bytes_io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=duration_ms, loop=0)
    return buffer.getvalue()


def to_base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def zip_of_pngs(images: np.ndarray, prefix: str = "sprite") -> bytes:
    """(N,H,W,4) uint8 -> a zip of N PNG files, prefix_0000.png ..."""
    return zip_of({f"{prefix}_{i:04d}.png": png_bytes(image) for i, image in enumerate(images)})


def zip_of(files: dict[str, bytes]) -> bytes:
    """{name: content} -> the bytes of a zip holding those files."""
    buffer = bytes_io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def decode_upload(data: bytes, limits: Limits, what: str) -> np.ndarray:
    """Uploaded image bytes -> (H,W,4) uint8 RGBA; the byte and pixel limits are checked before any decoding."""
    if len(data) > limits.max_upload_bytes:
        raise LimitError(
            f"{what}: {len(data)} bytes is over this server's upload limit of {limits.max_upload_bytes} bytes.", 413
        )
    try:
        with Image.open(bytes_io.BytesIO(data)) as image:
            width, height = image.size  # from the header: nothing is decoded yet
            if width * height > limits.max_image_pixels:
                raise LimitError(
                    f"{what}: {width}x{height} pixels is over this server's limit of {limits.max_image_pixels} "
                    "pixels per image; downscale it first.",
                    413,
                )
            image.seek(0)
            return np.asarray(image.convert("RGBA"), dtype=np.uint8).copy()
    except Image.DecompressionBombError as error:  # PIL's own guard fires on opening, before our size check
        raise LimitError(
            f"{what}: over this server's limit of {limits.max_image_pixels} pixels per image ({error}).", 413
        ) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        raise SpriteforgeError(f"{what}: not a readable image ({error}); send a PNG, GIF, BMP, WebP or JPEG.") from None


def decode_base64_image(text: str, limits: Limits, what: str) -> np.ndarray:
    """A base64 image (optionally a data: URL) -> (H,W,4) uint8 RGBA."""
    payload = text.split(",", 1)[1] if text.startswith("data:") else text
    if len(payload) * 3 // 4 > limits.max_upload_bytes:
        raise LimitError(f"{what}: over this server's upload limit of {limits.max_upload_bytes} bytes.", 413)
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise SpriteforgeError(f"{what}: not valid base64; send the PNG as base64 (a data: URL is fine).") from None
    return decode_upload(data, limits, what)
