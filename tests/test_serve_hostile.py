"""The HTTP API against a hostile client: every bad request is a 4xx with a JSON detail (never a 500 or a dropped
connection), the Host header and the token are checked, the body limit holds while the body streams in, no
absolute path leaks, and the OpenAPI schema describes what the API really does (schemathesis, in-process).
"""

from __future__ import annotations

import asyncio
import io as bytes_io
import json
import struct
import sys
import zlib
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from schemathesis.config import SchemathesisConfig
from spriteforge import cli
from spriteforge.engine.trained import Run
from spriteforge.serve.app import create_app
from spriteforge.serve.guard import check_exposure, host_name, is_loopback
from spriteforge.serve.images import Limits

LIMITS = Limits(max_sprites=8, max_upload_bytes=100_000, max_image_pixels=100_000)
RUN = "/api/v1/runs/kenney/vae"
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)


@pytest.fixture(scope="module")
def client(served: Path) -> TestClient:
    return TestClient(create_app(served, LIMITS), base_url="http://localhost")


def refused(response, status: int, *mentions: str) -> str:
    """The response is `status` with a JSON {"detail": str} that mentions each of `mentions`."""
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail
    for needle in mentions:
        assert needle in detail, f"{needle!r} not in {detail!r}"
    return detail


def a_4xx_with_detail(response) -> None:
    assert 200 <= response.status_code < 300 or 400 <= response.status_code < 500, response.text
    if response.status_code >= 400:
        assert isinstance(response.json()["detail"], str)


# ---------------------------------------------------------------------- bad values: 4xx, never 500


@pytest.mark.parametrize(
    "body, mentions",
    [
        ('{"n": 2, "seed": 18446744073709551616}', ("seed=18446744073709551616", "limit of 9007199254740991")),
        ('{"n": 2, "seed": -1}', ("seed", "greater than or equal to 0")),
        ('{"n": NaN}', ("n", "nan")),
        ('{"n": 2, "temperature": NaN}', ("temperature", "nan")),
        ('{"n": 2, "scale": Infinity}', ("scale", "inf")),
        ('{"n": 2, "guidance": -Infinity}', ("guidance",)),
        ('{"n": 2, "scale": 1e400}', ("scale",)),
        ('{"n": "many"}', ("n", "'many'")),
        ('{"n": 2, "labels": "female"}', ("labels",)),
        ("[1, 2]", ("body",)),
    ],
)
def test_bad_numbers_and_types_are_422_with_a_readable_detail(client: TestClient, body: str, mentions: tuple) -> None:
    response = client.post(f"{RUN}/sample", content=body, headers={"content-type": "application/json"})
    refused(response, 422, *mentions)


def test_nan_strength_is_422(client: TestClient) -> None:
    body = '{"sprite": "x", "strength": NaN}'
    response = client.post(f"{RUN}/vary", content=body, headers={"content-type": "application/json"})
    refused(response, 422, "strength", "nan")


def test_the_largest_seed_samples(client: TestClient) -> None:
    assert client.post(f"{RUN}/sample", json={"n": 1, "seed": 2**53 - 1}).status_code == 200


def test_a_models_value_error_is_400_with_its_message(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuses(*args, **kwargs):
        raise ValueError("steps=3 is too few for this sampler")

    monkeypatch.setattr(Run, "generate", refuses)
    refused(client.post(f"{RUN}/sample", json={"n": 1}), 400, "steps=3 is too few")


def test_a_server_fault_is_a_json_500_that_hides_its_internals(served: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def breaks(*args, **kwargs):
        raise RuntimeError("/secret/path/weights.bin exploded")

    monkeypatch.setattr(Run, "generate", breaks)
    client = TestClient(create_app(served, LIMITS), base_url="http://localhost", raise_server_exceptions=False)
    response = client.post(f"{RUN}/sample", json={"n": 1})
    assert response.status_code == 500 and response.headers["content-type"] == "application/json"
    assert response.json() == {"detail": "internal error (RuntimeError); see the server's log"}


@pytest.mark.parametrize("name", ["%00", "kenney%00/vae", "a" * 300, "kenney/" + "b" * 256, "x/" * 3000, "%ff%fe"])
def test_odd_run_names_are_404(client: TestClient, name: str) -> None:
    refused(client.get(f"/api/v1/runs/{name}"), 404)
    refused(client.post(f"/api/v1/runs/{name}/sample", json={"n": 1}), 404)


def test_a_symlink_loop_in_the_runs_folder(served: Path, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "runs"
    shutil.copytree(served, root)
    (root / "loop").symlink_to(root / "loop")
    (root / "a").symlink_to(root / "b")
    (root / "b").symlink_to(root / "a")
    client = TestClient(create_app(root), base_url="http://localhost")
    listed = client.get("/api/v1/runs")
    assert listed.status_code == 200 and "kenney/vae" in [run["name"] for run in listed.json()["runs"]]
    for name in ("loop", "a", "a/b", "loop/loop"):
        refused(client.get(f"/api/v1/runs/{name}"), 404, "no run named")
        refused(client.get(f"/api/v1/runs/{name}/grid"), 404, "no run named")


# ---------------------------------------------------------------------- what the API exposes


def test_runs_show_no_absolute_paths(served: Path, test_data: Path, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "runs"
    shutil.copytree(served, root)
    shutil.copytree(served / "kenney" / "vae", root / "broken")
    (root / "broken" / "weights.safetensors").write_bytes(b"garbage")
    client = TestClient(create_app(root), base_url="http://localhost")
    listing = client.get("/api/v1/runs").text
    for secret in (str(test_data), str(root), str(served), str(tmp_path)):
        assert secret not in listing
    runs = {run["name"]: run for run in json.loads(listing)["runs"]}
    assert runs["kenney/vae"]["data"] == "1bit_pack_colored"
    assert "broken/weights.safetensors" in runs["broken"]["error"]
    assert str(root) not in client.get(RUN).text


# ---------------------------------------------------------------------- Host header (DNS rebinding) and the token


@pytest.mark.parametrize("host", ["localhost", "localhost:8000", "127.0.0.1:8000", "[::1]:8000", "LOCALHOST"])
def test_loopback_host_names_are_accepted(served: Path, host: str) -> None:
    client = TestClient(create_app(served, LIMITS))
    assert client.get("/api/v1/palettes", headers={"host": host}).status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.evil.example", "", "0.0.0.0:8000"])
def test_other_host_names_are_400(served: Path, host: str) -> None:
    client = TestClient(create_app(served, LIMITS))
    refused(client.get("/api/v1/runs", headers={"host": host}), 400, "Host header", "DNS rebinding")
    refused(client.get("/", headers={"host": host}), 400, "Host header")


def test_the_host_the_server_was_started_on_is_accepted(served: Path) -> None:
    client = TestClient(create_app(served, LIMITS, hosts=["0.0.0.0", "studio.lan"], token="t"))
    assert client.get("/", headers={"host": "studio.lan:8000"}).status_code == 200
    refused(client.get("/", headers={"host": "0.0.0.0"}), 400, "Host header")  # "everywhere" is no name


def test_a_token_is_needed_for_every_api_request(served: Path) -> None:
    client = TestClient(create_app(served, LIMITS, token="s3cret"), base_url="http://localhost")
    for headers in (
        {},
        {"authorization": "Bearer wrong"},
        {"authorization": "s3cret"},
        {"authorization": "Basic s3cret"},
    ):
        response = client.get("/api/v1/runs", headers=headers)
        refused(response, 401, "Authorization: Bearer")
        assert response.headers["www-authenticate"] == "Bearer"
    refused(client.post(f"{RUN}/sample", json={"n": 1}), 401)
    good = {"authorization": "Bearer s3cret"}
    assert client.get("/api/v1/runs", headers=good).status_code == 200
    assert client.post(f"{RUN}/sample", json={"n": 1}, headers=good).headers["content-type"] == "image/png"
    assert client.get("/").status_code == 200  # the page itself holds nothing: it asks for the token


def test_loopback_needs_no_token_and_other_addresses_do() -> None:
    assert all(is_loopback(host) for host in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(host) for host in ("0.0.0.0", "::", "192.168.1.5", "example.com"))
    assert host_name("[::1]:8000") == "::1" and host_name("Example.COM.:80") == "example.com"
    check_exposure("127.0.0.1", None)
    check_exposure("0.0.0.0", "s3cret")


def test_serve_off_loopback_without_a_token_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    monkeypatch.delenv("SPRITEFORGE_TOKEN", raising=False)
    monkeypatch.setattr(sys, "argv", ["spriteforge", "serve", "--runs", str(tmp_path), "--host", "0.0.0.0"])
    with pytest.raises(SystemExit) as caught:
        cli.main()
    err = " ".join(capsys.readouterr().err.split())
    assert caught.value.code == 2 and "Traceback" not in err
    assert "--host 0.0.0.0" in err and "--token" in err and "SPRITEFORGE_TOKEN" in err


# ---------------------------------------------------------------------- the body limit, while the body streams in


def _stream(
    app, path: str, chunks: int, chunk: bytes, headers: list[tuple[bytes, bytes]], start: bytes = b""
) -> tuple[int, int, dict]:
    """Send `start`, then `chunks` x `chunk`, to the ASGI app one chunk at a time: (status, chunks read, JSON body)."""
    read = 0
    sent: list[dict] = []

    async def receive() -> dict:
        nonlocal read
        read += 1
        return {"type": "http.request", "body": start if read == 1 else chunk, "more_body": read <= chunks}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 8000),
    }
    asyncio.run(app(scope, receive, send))
    body = b"".join(message.get("body", b"") for message in sent if message["type"] == "http.response.body")
    return sent[0]["status"], read, json.loads(body)


def test_a_big_upload_is_refused_after_about_the_limit(served: Path) -> None:
    app = create_app(served, LIMITS)
    chunk = b"\0" * 65536  # 400 MB in 6,400 chunks, if it were all read
    multipart = [(b"content-type", b"multipart/form-data; boundary=x")]
    part = b'--x\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n\r\n'
    status, read, body = _stream(app, "/api/v1/convert", 6400, chunk, multipart, start=part)
    assert status == 413 and "upload limit" in body["detail"]
    assert read * len(chunk) <= LIMITS.max_body_bytes + 2 * len(chunk)
    status, read, body = _stream(app, f"{RUN}/sample", 6400, chunk, [(b"content-type", b"application/json")], b"[")
    assert status == 413 and read * len(chunk) <= LIMITS.max_body_bytes + 2 * len(chunk)


def test_a_declared_length_over_the_limit_is_refused_before_reading(served: Path) -> None:
    length = [(b"content-length", str(400 * 2**20).encode()), (b"content-type", b"application/json")]
    status, read, body = _stream(create_app(served, LIMITS), f"{RUN}/sample", 6400, b"\0" * 65536, length)
    assert status == 413 and read == 0 and str(400 * 2**20) in body["detail"]  # not one chunk read


# ---------------------------------------------------------------------- random requests (Hypothesis)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
sample_fields = st.sampled_from(["n", "seed", "labels", "temperature", "steps", "format", "scale", "palette", "remap"])


@given(body=st.dictionaries(sample_fields, json_values, max_size=5) | json_values)
@FUZZ
def test_random_json_bodies(client: TestClient, body) -> None:
    text = json.dumps(body, allow_nan=True)  # NaN and Infinity included, as a hostile client may send them
    a_4xx_with_detail(client.post(f"{RUN}/sample", content=text, headers={"content-type": "application/json"}))


@given(name=st.text(min_size=1, max_size=300))
@FUZZ
def test_odd_run_names(client: TestClient, name: str) -> None:
    a_4xx_with_detail(client.get(f"/api/v1/runs/{quote(name, safe='')}"))
    a_4xx_with_detail(client.post(f"/api/v1/runs/{quote(name, safe='/')}/reconstruct", json={"sprites": ["x"]}))


def _png(width: int = 16, height: int = 16) -> bytes:
    buffer = bytes_io.BytesIO()
    Image.fromarray(np.full((height, width, 4), 180, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _header_claiming(width: int, height: int) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", 13)
        + b"IHDR"
        + header
        + struct.pack(">I", zlib.crc32(b"IHDR" + header))
    )


uploads = st.one_of(
    st.binary(max_size=2000),
    st.integers(0, len(_png()) - 1).map(lambda cut: _png()[:cut]),  # truncated PNGs
    st.tuples(st.integers(0, 2**31 - 1), st.integers(0, 2**31 - 1)).map(lambda size: _header_claiming(*size)),
    st.just(b""),
    st.binary(min_size=1, max_size=50).map(lambda noise: _png()[:40] + noise + _png()[40:]),
)
form_values = st.one_of(st.text(max_size=12), st.integers(-5, 10**6).map(str), st.sampled_from(["nan", "inf", ""]))


@given(upload=uploads, fields=st.dictionaries(st.sampled_from(["size", "scale", "palette", "format"]), form_values))
@FUZZ
def test_hostile_uploads(client: TestClient, upload: bytes, fields: dict) -> None:
    a_4xx_with_detail(client.post("/api/v1/convert", files={"file": ("in.png", upload)}, data=fields))


@given(upload=uploads)
@FUZZ
def test_hostile_base64_sprites(client: TestClient, upload: bytes) -> None:
    import base64

    sprite = base64.b64encode(upload).decode()
    a_4xx_with_detail(client.post(f"{RUN}/reconstruct", json={"sprites": [sprite], "format": "json"}))


# ---------------------------------------------------------------------- the OpenAPI schema describes the API

# 400 answers a schema-valid value whose content is refused: bytes that are no image, a label the run lacks.
CONFIG = SchemathesisConfig.from_dict(
    {"checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "400", "401", "404", "413"]}}}
)
# The schema does not depend on the runs served (an empty folder will do); the requests go to the fixture's app.
schema = schemathesis.openapi.from_asgi(
    "/openapi.json", create_app(Path(__file__).parent, LIMITS, hosts=["testserver"]), config=CONFIG
)


@pytest.fixture(scope="module")
def fuzzed_app(served: Path):
    app = create_app(served, LIMITS, hosts=["testserver"])
    assert app.openapi() == schema.raw_schema
    return app


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_the_api_matches_its_schema(case: schemathesis.Case, fuzzed_app) -> None:
    case.call_and_validate(app=fuzzed_app)


def test_the_schema_states_media_types_errors_and_limits(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    sample = spec["paths"]["/api/v1/runs/{name}/sample"]["post"]
    assert set(sample["responses"]["200"]["content"]) == {
        "image/png",
        "application/zip",
        "application/json",
        "application/octet-stream",
    }  # .aseprite
    for code in ("400", "401", "404", "413", "422"):
        body = sample["responses"][code]["content"]["application/json"]["schema"]
        assert body == {"$ref": "#/components/schemas/ErrorBody"}
    request = spec["components"]["schemas"]["SampleRequest"]["properties"]
    assert request["n"]["maximum"] == LIMITS.max_sprites and request["scale"]["maximum"] == LIMITS.max_scale
    grid = spec["paths"]["/api/v1/runs/{name}/grid"]["get"]["responses"]["200"]["content"]
    assert set(grid) == {"image/png"}
    interpolate = spec["paths"]["/api/v1/runs/{name}/interpolate"]["post"]["responses"]["200"]["content"]
    assert {"image/png", "image/gif"} <= set(interpolate)


@pytest.mark.parametrize(
    "method, path, allow",
    [
        ("GET", f"{RUN}/sample", "POST"),
        ("PUT", f"{RUN}/vary", "POST"),
        ("DELETE", RUN, "GET"),
        ("POST", "/api/v1/runs", "GET"),
        ("POST", "/api/v1/palettes", "GET"),
        ("GET", "/api/v1/convert", "POST"),
    ],
)
def test_a_wrong_method_is_405_naming_the_right_one(client: TestClient, method: str, path: str, allow: str) -> None:
    response = client.request(method, path)
    refused(response, 405)
    assert response.headers["allow"] == allow


def test_unknown_api_paths_are_json_404(client: TestClient) -> None:
    refused(client.get("/api/v2/runs"), 404)
    refused(client.get("/api/v1/runs/"), 404)
