"""Soak the HTTP server (not in CI): a real uvicorn on 127.0.0.1 only, hit by schemathesis with many examples per
operation, by many concurrent sample requests, and by one oversized streamed upload. Bounded in count and time; it
stops by itself and prints the counts that docs/reliability.md reports.

    flock /tmp/spriteforge-cpu.lock .venv/bin/python benchmarks/soak_server.py \\
        --data ../shared/data/kenney/tiles/1bit_pack_colored --examples 300 --requests 1000
"""

from __future__ import annotations

import argparse
import collections
import json
import select
import socket
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
import schemathesis
import spriteforge
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig
from spriteforge.serve.app import create_app
from spriteforge.serve.images import Limits

HOST = "127.0.0.1"  # never anything else: the soak talks to this machine only
# 400: the content of a schema-valid value is refused (bytes that are no image, a label the run lacks, ...)
CONFIG = SchemathesisConfig.from_dict(
    {"checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "400", "401", "404", "413"]}}}
)
TINY_VAE = ["vae.channels=[8,16]", "vae.latent_dim=4", "train.max_steps=4", "train.progress=false", "data.count=48"]


def serve(runs: Path, limits: Limits) -> tuple[uvicorn.Server, str]:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(runs, limits), host=HOST, port=port, log_level="error"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise SystemExit("the server did not start")
        time.sleep(0.05)
    return server, f"http://{HOST}:{port}"


def fuzz(base: str, examples: int, seconds: float) -> dict[str, int]:
    """schemathesis, positive and negative cases, over every operation, with all its default checks."""
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json", config=CONFIG)
    counts: collections.Counter[str] = collections.Counter()
    failures: set[str] = set()
    stop = time.monotonic() + seconds
    for result in schema.get_all_operations():
        operation = result.ok()
        cases = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)
        )

        @given(case=cases)
        @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: schemathesis.Case) -> None:
            if time.monotonic() > stop:
                return
            counts["requests"] += 1
            try:
                response = case.call_and_validate(base_url=base, timeout=60)
                counts["5xx"] += response.status_code >= 500
            except requests.RequestException:
                counts["errors"] += 1
            except Exception as error:  # noqa: BLE001 (a check's failure: counted and named, not fatal)
                counts["failures"] += 1
                failures.add(f"{case.operation.label}: {str(error).splitlines()[2:4]}")

        check()
    for failure in sorted(failures):
        print("  failure:", failure)
    return {
        "requests": counts["requests"],
        "failures": counts["failures"],
        "5xx": counts["5xx"],
        "errors": counts["errors"],
    }


def concurrent_samples(base: str, run: str, count: int, workers: int) -> dict[str, int]:
    """`count` sample requests, `workers` at a time."""

    def one(seed: int) -> int:
        body = {"n": 4, "seed": seed, "format": "png", "scale": 1}
        return requests.post(f"{base}/api/v1/runs/{run}/sample", json=body, timeout=300).status_code

    statuses: collections.Counter[int] = collections.Counter()
    errors = 0
    with ThreadPoolExecutor(workers) as pool:
        for future in [pool.submit(one, seed) for seed in range(count)]:
            try:
                statuses[future.result()] += 1
            except requests.RequestException:
                errors += 1
    return {
        "requests": count,
        "200": statuses[200],
        "4xx": sum(n for s, n in statuses.items() if 400 <= s < 500),
        "5xx": sum(n for s, n in statuses.items() if s >= 500),
        "errors": errors,
    }


def oversized_upload(base: str, megabytes: int) -> dict[str, int | str]:
    """Stream a chunked upload of `megabytes` MB (no Content-Length) to /api/v1/convert, one MB at a time, and stop
    as soon as the server answers: how much was sent by then."""
    host, port = base.removeprefix("http://").split(":")
    part = b'--x\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n\r\n'
    chunks = [part, *[b"\0" * (1 << 20)] * megabytes]
    sent = 0
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(
            f"POST /api/v1/convert HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n"
            "Content-Type: multipart/form-data; boundary=x\r\n\r\n".encode()
        )
        try:
            for chunk in chunks:
                if select.select([connection], [], [], 0)[0]:  # an answer has come: stop sending
                    break
                connection.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                sent += len(chunk)
        except OSError:  # the server answered and closed: the rest was never read
            pass
        answer = connection.recv(4096).decode(errors="replace")
    return {"body_mb": megabytes, "sent_mb_before_refusal": round(sent / (1 << 20)), "status": answer.split("\r\n")[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="Folder of sprites to train the tiny run on.")
    parser.add_argument("--examples", type=int, default=300, help="schemathesis examples per operation.")
    parser.add_argument("--requests", type=int, default=1000, help="Concurrent sample requests.")
    parser.add_argument("--workers", type=int, default=64, help="Sample requests in flight at once.")
    parser.add_argument("--upload-mb", type=int, default=400, help="Size of the oversized streamed upload.")
    parser.add_argument("--fuzz-seconds", type=float, default=180, help="Stop fuzzing after this long.")
    parser.add_argument("--out", type=Path, help="Write the counts as JSON here too.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        runs = Path(folder)
        spriteforge.train("vae", args.data, runs / "vae", overrides=TINY_VAE, logger="none")
        server, base = serve(runs, Limits(max_sprites=64, max_upload_bytes=1 << 20))
        started = time.monotonic()
        results = {
            "schemathesis": fuzz(base, args.examples, args.fuzz_seconds),
            "concurrent_samples": concurrent_samples(base, "vae", args.requests, args.workers),
            "oversized_upload": oversized_upload(base, args.upload_mb),
            "seconds": round(time.monotonic() - started),
        }
        server.should_exit = True
    print(json.dumps(results, indent=2))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
