"""Fetch dataset files into the cache: atomically (via a ``.part`` file), resumably (HTTP Range) and verified (sha256).

Dataset files are large and the usual failure is a machine without network access, not a bug, so every failure is a
`SpriteforgeError` that says what was kept for resuming and how to get the file some other way.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path

from spriteforge.errors import SpriteforgeError
from spriteforge.progress import progress_bar

_CHUNK = 1 << 20  # 1 MiB: few syscalls, yet the progress bar still moves often.


def cache_dir() -> Path:
    """``~/.cache/spriteforge``, or ``$SPRITEFORGE_CACHE`` when set. Created if missing."""
    root = Path(os.environ.get("SPRITEFORGE_CACHE") or Path.home() / ".cache" / "spriteforge").expanduser()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SpriteforgeError(
            f"Cannot create the cache directory {root}: {exc}. Set SPRITEFORGE_CACHE to a writable directory."
        ) from exc
    return root


def sha256_file(path: Path) -> str:
    """Hex sha256 of the file at `path`, read in chunks so large files need little memory."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def download(url: str, dest: Path, *, sha256: str | None = None, progress: bool = True, timeout: float = 30.0) -> Path:
    """Fetch `url` to `dest`, atomically and resumably; return `dest`.

    An existing `dest` that passes the checksum (or any existing `dest` when `sha256` is None) is returned without
    touching the network. Otherwise the bytes go to ``<dest>.part``, which a later call resumes with a Range request;
    only a complete, verified file is renamed to `dest`, so `dest` is never half-written. `file://` URLs work too
    (they cannot resume, so they always start over).
    """
    dest = Path(dest)
    if dest.exists() and (sha256 is None or sha256_file(dest) == sha256.lower()):
        return dest
    part = dest.with_name(dest.name + ".part")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        _fetch(url, part, progress=progress, timeout=timeout)
    # ConnectionError/TimeoutError can come from the body reads, which urllib does not wrap in URLError.
    except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError) as exc:
        raise SpriteforgeError(_fetch_failed_message(url, dest, part, exc)) from exc
    except OSError as exc:  # anything else is local: disk full, no permission
        raise SpriteforgeError(
            f"Cannot write {part} while downloading {url}: {exc}. Free some disk space or fix the permissions, "
            "or set SPRITEFORGE_CACHE to another directory."
        ) from exc

    if sha256 is not None:
        actual = sha256_file(part)
        if actual != sha256.lower():
            part.unlink()  # resuming from corrupt bytes could never succeed
            raise SpriteforgeError(
                f"Checksum mismatch for {url}: expected sha256 {sha256.lower()}, got {actual}. The partial file was "
                f"deleted; re-run to download it again. If it keeps failing, the server holds a different file than "
                f"expected: download the right one by hand and place it at {dest}."
            )
    os.replace(part, dest)
    return dest


def _fetch(url: str, part: Path, *, progress: bool, timeout: float) -> None:
    """Download `url` into `part`, continuing after the bytes `part` already holds when the server allows it."""
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()  # the error body is never read; close its socket now rather than at garbage collection
        if exc.code != 416 or not offset:
            raise
        if exc.headers.get("Content-Range") == f"bytes */{offset}":
            return  # the .part is already complete: an earlier run stopped between its last byte and the rename
        part.unlink()  # the .part is longer than the remote file, so it is stale: start over
        return _fetch(url, part, progress=progress, timeout=timeout)

    with response:
        # 206 means the server honoured the Range; 200 (or None, for file://) means the body is the whole file.
        resumed = response.getcode() == 206
        start = offset if resumed else 0
        length = response.headers.get("Content-Length")
        total = start + int(length) if length is not None else None
        bar = progress_bar(part.stem, total, enabled=progress, completed=start, transfer=True, transient=False)
        with open(part, "ab" if resumed else "wb") as out, bar as advance:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                advance(len(chunk))
            received = out.tell()
    # http.client returns b"" instead of raising when the connection closes before Content-Length bytes arrived.
    if total is not None and received < total:
        raise ConnectionError(f"the connection closed after {received} of {total} bytes")


def _fetch_failed_message(url: str, dest: Path, part: Path, exc: Exception) -> str:
    """Explain a failed fetch: why, what was kept for resuming, and the ways around it."""
    if isinstance(exc, urllib.error.HTTPError):
        reason = f"the server answered HTTP {exc.code} {exc.reason}"
    else:
        cause = getattr(exc, "reason", exc)  # URLError wraps the socket error that says what went wrong
        detail = getattr(cause, "strerror", None) or str(cause) or type(cause).__name__
        reason = f"{detail}; this machine may be offline"
    kept = part.stat().st_size if part.exists() else 0
    kept_text = f"Kept {kept} bytes in {part}; the next attempt resumes from there" if kept else "Nothing was kept"
    return (
        f"Could not fetch {url}: {reason}. {kept_text}. Fix: re-run when online, or "
        f"download the file by hand and place it at {dest}, or set SPRITEFORGE_CACHE to a directory that already "
        f"holds it."
    )
