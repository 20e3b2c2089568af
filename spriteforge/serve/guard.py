"""What every request passes before the app sees it: the Host header (against DNS rebinding), the bearer token (on a
server other machines can reach), and the size of the body, counted while it streams in.

A plain ASGI middleware, not a FastAPI dependency: it must see the body's bytes as they arrive, so that a 400 MB
upload is refused after about the limit instead of after it has all been read.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Iterable
from typing import Any

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spriteforge.errors import SpriteforgeError

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARDS = ("0.0.0.0", "::", "")  # "listen everywhere": not a name a client can use
TOKEN_VARIABLE = "SPRITEFORGE_TOKEN"


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address, IPv6 with or without brackets) only ever reaches this machine."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host.lower().rstrip(".") == "localhost"


def check_exposure(host: str, token: str | None) -> None:
    """A server listening beyond this machine needs a token: anyone who can reach the port could use it otherwise."""
    if not is_loopback(host) and not token:
        raise SpriteforgeError(
            f"--host {host}: other machines can reach this address, so the API needs a token. Give one with "
            f"--token SECRET (or the environment variable {TOKEN_VARIABLE}); clients send it as the header "
            "'Authorization: Bearer SECRET'. Or serve on --host 127.0.0.1 (this machine only, no token)."
        )


def host_name(header: str) -> str:
    """The name in a Host header, without the port: 'localhost:8000' -> 'localhost', '[::1]:8000' -> '::1'."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    name = header.rsplit(":", 1)[0] if header.count(":") == 1 else header
    return name.rstrip(".")


class BodyTooLarge(HTTPException):
    """Raised from inside the app's read of the body, where FastAPI turns it into the 413 response."""


class Guard:
    """Host check, bearer token on /api/, and the body limit, around `app`. Refusals are JSON {"detail": ...}."""

    def __init__(
        self, app: ASGIApp, *, hosts: Iterable[str] = (), token: str | None = None, max_body_bytes: int
    ) -> None:
        self.app = app
        names = {host_name(host) for host in (*LOOPBACK_NAMES, *hosts)}
        self.hosts = frozenset(names - set(WILDCARDS))
        self.token = token.encode() if token else None
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope, Headers(scope=scope))
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, self._counted(receive), send)

    def _refusal(self, scope: Scope, headers: Headers) -> JSONResponse | None:
        host = headers.get("host", "")
        if host_name(host) not in self.hosts:
            return _error(
                400,
                f"Host header {host[:100]!r} is not a name of this server (a guard against DNS rebinding); "
                f"use one of {', '.join(sorted(self.hosts))}, or start the server with --allow-host NAME.",
            )
        if self.token is not None and scope["path"].startswith("/api/") and not self._authorised(headers):
            return _error(
                401,
                "this server needs its token: send the header 'Authorization: Bearer TOKEN' "
                "(the studio asks for it, or reads it from the address: http://HOST:PORT/#token=TOKEN).",
                {"WWW-Authenticate": "Bearer"},
            )
        length = headers.get("content-length")
        if length is not None and not (length.isascii() and length.strip().isdigit()):
            return _error(400, f"Content-Length {length[:40]!r} is not a number of bytes.")
        if length is not None and int(length) > self.max_body_bytes:
            return _error(413, self._too_large(int(length)))
        return None

    def _authorised(self, headers: Headers) -> bool:
        scheme, _, given = headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and secrets.compare_digest(given.strip().encode(), self.token or b"")

    def _too_large(self, length: int | None = None) -> str:
        size = "" if length is None else f" ({length} bytes)"
        return (
            f"the request body{size} is over this server's upload limit of {self.max_body_bytes} bytes per request "
            "(an upload, base64-encoded, and its fields; the server's --max-upload-mb)."
        )

    def _counted(self, receive: Receive) -> Receive:
        """`receive`, refusing the body as soon as more than the limit has arrived (chunked bodies have no length)."""
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge(413, self._too_large())
            return message

        return counted


def _error(status: int, detail: str, headers: dict[str, Any] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)
