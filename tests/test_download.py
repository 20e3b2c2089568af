"""Tests for spriteforge.data.download, against a local HTTP server only (no internet)."""

from __future__ import annotations

import hashlib
import random
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from spriteforge.data.download import cache_dir, download, sha256_file
from spriteforge.errors import SpriteforgeError

BODY = random.Random(0).randbytes(300_000)
DIGEST = hashlib.sha256(BODY).hexdigest()
HALF = len(BODY) // 2


@dataclass
class Server:
    """What the handler serves and how it misbehaves, plus a log of the requests it saw."""

    url: str
    body: bytes = BODY
    status: int = 200  # anything else is sent as an error
    honour_range: bool = True
    die_after: int | None = None  # send this many body bytes, then close the connection
    delay: float = 0.0  # seconds to stall before answering
    ranges: list[str | None] = field(default_factory=list)  # the Range header of each request, None if absent

    @property
    def requests(self) -> int:
        return len(self.ranges)


class _Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer  # with a `state: Server` attribute set by the fixture

    def do_GET(self) -> None:
        state: Server = self.server.state  # type: ignore[attr-defined]
        range_header = self.headers.get("Range")
        state.ranges.append(range_header)
        time.sleep(state.delay)
        if state.status != 200:
            self.send_error(state.status)
            return
        start = 0
        if range_header and state.honour_range:
            start = int(range_header.removeprefix("bytes=").removesuffix("-"))
            if start >= len(state.body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(state.body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(state.body) - 1}/{len(state.body)}")
        else:
            self.send_response(200)
        payload = state.body[start:]
        self.send_header("Content-Length", str(len(payload)))  # always the full length, even when dying early
        self.end_headers()
        self.wfile.write(payload if state.die_after is None else payload[: state.die_after])

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass


@pytest.fixture
def server() -> Iterator[Server]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.state = Server(url=f"http://127.0.0.1:{httpd.server_port}/sprites.zip")  # type: ignore[attr-defined]
    # A short poll interval so shutdown() at teardown returns at once instead of after 0.5 s.
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield httpd.state  # type: ignore[attr-defined]
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def _part(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def test_plain_download_with_checksum(server: Server, tmp_path: Path) -> None:
    dest = tmp_path / "sub" / "sprites.zip"
    assert download(server.url, dest, sha256=DIGEST, progress=False) == dest
    assert dest.read_bytes() == BODY
    assert not _part(dest).exists()
    assert server.ranges == [None]
    assert sha256_file(dest) == DIGEST


def test_progress_bar_does_not_break_download(server: Server, tmp_path: Path) -> None:
    dest = tmp_path / "sprites.zip"
    download(server.url, dest, sha256=DIGEST, progress=True)
    assert dest.read_bytes() == BODY


def test_existing_dest_makes_no_request(server: Server, tmp_path: Path) -> None:
    dest = tmp_path / "sprites.zip"
    dest.write_bytes(BODY)
    assert download(server.url, dest, sha256=DIGEST, progress=False) == dest
    assert download(server.url, dest, progress=False) == dest
    assert server.requests == 0


def test_existing_dest_with_wrong_checksum_is_replaced(server: Server, tmp_path: Path) -> None:
    dest = tmp_path / "sprites.zip"
    dest.write_bytes(b"stale")
    download(server.url, dest, sha256=DIGEST, progress=False)
    assert dest.read_bytes() == BODY
    assert server.requests == 1


def test_wrong_checksum_leaves_nothing(server: Server, tmp_path: Path) -> None:
    dest = tmp_path / "sprites.zip"
    wrong = "0" * 64
    with pytest.raises(SpriteforgeError) as info:
        download(server.url, dest, sha256=wrong, progress=False)
    message = str(info.value)
    assert server.url in message and wrong in message and DIGEST in message
    assert not dest.exists()
    assert not _part(dest).exists()


def test_resume_sends_range_and_appends(server: Server, tmp_path: Path) -> None:
    dest = tmp_path / "sprites.zip"
    _part(dest).write_bytes(BODY[:HALF])
    download(server.url, dest, sha256=DIGEST, progress=False)
    assert server.ranges == [f"bytes={HALF}-"]
    assert dest.read_bytes() == BODY
    assert not _part(dest).exists()


def test_server_ignoring_range_restarts(server: Server, tmp_path: Path) -> None:
    server.honour_range = False
    dest = tmp_path / "sprites.zip"
    _part(dest).write_bytes(BODY[:HALF])
    download(server.url, dest, sha256=DIGEST, progress=False)
    assert server.ranges == [f"bytes={HALF}-"]
    assert dest.read_bytes() == BODY


def test_complete_part_is_finished_without_refetching(server: Server, tmp_path: Path) -> None:
    # An earlier run got every byte but stopped before the rename: the server answers 416 to the Range.
    dest = tmp_path / "sprites.zip"
    _part(dest).write_bytes(BODY)
    download(server.url, dest, sha256=DIGEST, progress=False)
    assert server.ranges == [f"bytes={len(BODY)}-"]
    assert dest.read_bytes() == BODY


def test_server_dying_keeps_part_and_next_call_resumes(server: Server, tmp_path: Path) -> None:
    server.die_after = HALF
    dest = tmp_path / "sprites.zip"
    with pytest.raises(SpriteforgeError) as info:
        download(server.url, dest, sha256=DIGEST, progress=False)
    assert server.url in str(info.value) and str(HALF) in str(info.value)
    assert not dest.exists()
    assert _part(dest).read_bytes() == BODY[:HALF]

    server.die_after = None
    download(server.url, dest, sha256=DIGEST, progress=False)
    assert server.ranges == [None, f"bytes={HALF}-"]
    assert dest.read_bytes() == BODY
    assert not _part(dest).exists()


def test_connection_refused_says_offline(tmp_path: Path) -> None:
    with socket.socket() as sock:  # bind then close, so nothing listens on the port
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/sprites.zip"
    dest = tmp_path / "sprites.zip"
    with pytest.raises(SpriteforgeError) as info:
        download(url, dest, progress=False)
    message = str(info.value)
    assert url in message and "offline" in message and str(dest) in message and "SPRITEFORGE_CACHE" in message
    assert not dest.exists()


def test_timeout_is_a_fetch_failure(server: Server, tmp_path: Path) -> None:
    server.delay = 0.5
    dest = tmp_path / "sprites.zip"
    with pytest.raises(SpriteforgeError, match="timed out") as info:
        download(server.url, dest, progress=False, timeout=0.05)
    assert server.url in str(info.value) and "offline" in str(info.value)
    assert not dest.exists()


def test_http_error_names_status(server: Server, tmp_path: Path) -> None:
    server.status = 404
    dest = tmp_path / "sprites.zip"
    with pytest.raises(SpriteforgeError, match="404") as info:
        download(server.url, dest, progress=False)
    assert server.url in str(info.value)
    assert not dest.exists() and not _part(dest).exists()


def test_file_url(tmp_path: Path) -> None:
    source = tmp_path / "mirror" / "sprites.zip"
    source.parent.mkdir()
    source.write_bytes(BODY)
    dest = tmp_path / "cache" / "sprites.zip"
    _part(dest).parent.mkdir()
    _part(dest).write_bytes(b"junk")  # file:// cannot resume, so this must be overwritten, not appended to
    download(source.as_uri(), dest, sha256=DIGEST, progress=False)
    assert dest.read_bytes() == BODY


def test_missing_file_url_raises(tmp_path: Path) -> None:
    url = (tmp_path / "nope.zip").as_uri()
    with pytest.raises(SpriteforgeError, match="Could not fetch"):
        download(url, tmp_path / "out.zip", progress=False)


def test_cache_dir_respects_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SPRITEFORGE_CACHE", str(tmp_path / "cache"))
    assert cache_dir() == tmp_path / "cache"
    assert cache_dir().is_dir()


def test_cache_dir_defaults_to_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SPRITEFORGE_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_dir() == tmp_path / ".cache" / "spriteforge"
    assert cache_dir().is_dir()
