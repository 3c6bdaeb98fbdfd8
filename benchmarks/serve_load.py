"""Load test of ``mmrnn serve`` on loopback: throughput and latency with dynamic batching on vs off.

    .venv/bin/python benchmarks/serve_load.py [--requests 256] [--clients 16 64] [--beam 3] [--threads 1]

For each mode (batching off = one request per model call, then on), a fresh server runs as a
subprocess (``mmrnn serve --tasks caption`` on a free 127.0.0.1 port, ``--threads`` torch
threads). After a short warm-up, each client count C sends ``--requests`` caption requests
(``POST /v1/caption``, the sample image, beam ``--beam``) from C concurrent clients (a minimal
asyncio HTTP/1.1 client, one keep-alive connection each), a fixed count, so the run is bounded. Printed per mode and C:
throughput (requests/s over the wall time of the burst), p50 / p99 latency (ms, from sending to
the full response), errors (non-200 or transport errors), mean requests per model call (from
``/healthz``) and the server's peak resident memory (VmHWM, MiB, since it started). Last, the
throughput ratio on/off per C, with the load average (1 minute) before and after the two modes.
The load generator shares the machine's cores with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from timing import Load, machine_line

REPO = Path(__file__).resolve().parent.parent
SAMPLE_IMAGE = REPO / "data" / "samples" / "shapes_test_1.png"


@dataclass
class Burst:
    clients: int
    requests: int
    wall_s: float
    latencies_ms: list[float]
    errors: int
    requests_per_call: float
    peak_rss_mib: float

    @property
    def throughput(self) -> float:
        return (self.requests - self.errors) / self.wall_s

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_mib(pid: int) -> float:
    """VmHWM of a process, MiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_server(port: int, batching: bool, args: argparse.Namespace) -> subprocess.Popen:
    command = [sys.executable, "-m", "apps.cli", "serve", "--tasks", "caption", "--port", str(port),
               "--threads", str(args.threads), "--log-level", "warning", "--max-batch-size", str(args.max_batch_size),
               "--max-wait-ms", str(args.max_wait_ms), "--max-connections", str(max(args.clients) + 16)]
    if not batching:
        command.append("--no-batching")
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    process = subprocess.Popen(command, cwd=REPO, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with status {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("server did not start within 60 s")


def caption_request(port: int, image: bytes, beam: int) -> bytes:
    """The bytes of one ``POST /v1/caption`` (multipart, keep-alive), built once and sent by every client."""
    boundary = "mmrnnloadboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"beam_size\"\r\n\r\n{beam}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + image + f"\r\n--{boundary}--\r\n".encode()
    head = (f"POST /v1/caption HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {len(body)}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n").encode()
    return head + body


async def burst(port: int, clients: int, requests: int, request: bytes) -> tuple[float, list[float], int]:
    """``requests`` requests from ``clients`` concurrent keep-alive connections; (wall s, latencies ms, errors).

    A minimal HTTP/1.1 client on asyncio streams (status line, Content-Length, body), so the load
    generator costs little CPU next to the server on a small machine.
    """
    latencies: list[float] = []
    errors = 0
    counter = iter(range(requests))

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for _ in counter:
                start = time.perf_counter()
                try:
                    writer.write(request)
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length:"))
                    await reader.readexactly(length)
                    ok = head.startswith(b"HTTP/1.1 200")
                except (OSError, asyncio.IncompleteReadError, StopIteration, ValueError):
                    ok = False
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                if ok:
                    latencies.append((time.perf_counter() - start) * 1000)
                else:
                    errors += 1
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return time.perf_counter() - start, latencies, errors


def run_mode(batching: bool, args: argparse.Namespace, image: bytes) -> list[Burst]:
    port = free_port()
    process = start_server(port, batching, args)
    base = f"http://127.0.0.1:{port}"
    results = []
    try:
        request = caption_request(port, image, args.beam)
        asyncio.run(burst(port, 4, 16, request))  # warm-up
        for clients in args.clients:
            before = httpx.get(f"{base}/healthz").json()["batches"]["caption"]
            wall, latencies, errors = asyncio.run(burst(port, clients, args.requests, request))
            after = httpx.get(f"{base}/healthz").json()["batches"]["caption"]
            calls = max(1, after["batches"] - before["batches"])
            results.append(Burst(clients, args.requests, wall, latencies, errors,
                                 (after["items"] - before["items"]) / calls, peak_rss_mib(process.pid)))
    finally:
        process.terminate()
        process.wait(20)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=256, help="requests per client count (default: %(default)s)")
    parser.add_argument("--clients", type=int, nargs="+", default=[16, 64], help="concurrent clients (default: 16 64)")
    parser.add_argument("--beam", type=int, default=3, help="beam size of every request (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1, help="server torch threads (default: %(default)s)")
    parser.add_argument("--max-batch-size", type=int, default=32, help="server batch cap (default: %(default)s)")
    parser.add_argument("--max-wait-ms", type=float, default=5.0, help="server wait window (default: %(default)s)")
    parser.add_argument("--image", type=Path, default=SAMPLE_IMAGE, help="image to caption (default: the sample)")
    args = parser.parse_args()
    image = args.image.read_bytes()
    print(f"mmrnn serve load test: {args.requests} caption requests per burst, beam {args.beam}, "
          f"server threads {args.threads}, max batch {args.max_batch_size}, wait {args.max_wait_ms} ms, "
          f"image {args.image.name} ({len(image)} bytes), {os.cpu_count()} CPUs")
    header = f"{'batching':<9}{'clients':>8}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'req/call':>10}{'peak RSS MiB':>14}"
    print(machine_line())
    print(header)
    load = Load()
    table: dict[bool, list[Burst]] = {}
    for batching in (False, True):
        table[batching] = run_mode(batching, args, image)
        for b in table[batching]:
            print(f"{'on' if batching else 'off':<9}{b.clients:>8}{b.throughput:>9.1f}{b.percentile(50):>9.1f}"
                  f"{b.percentile(99):>9.1f}{b.errors:>8}{b.requests_per_call:>10.1f}{b.peak_rss_mib:>14.1f}", flush=True)
    load.stop()
    for off, on in zip(table[False], table[True]):
        print(f"{on.clients} clients: throughput on/off = {on.throughput / off.throughput:.2f}x, "
              f"p50 latency on/off = {on.percentile(50) / off.percentile(50):.2f}x ({load})")


if __name__ == "__main__":
    main()
