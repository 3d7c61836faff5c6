#!/usr/bin/env python3
"""The edge under abuse: what unauthenticated floods of large bodies and large bodies being parsed
cost a running `correlator serve` (token auth on, fresh SQLite store).

  1. memory: the daemon's peak RSS (VmHWM) before and after N concurrent unauthenticated posts of
     M MiB each (all must be answered 401; the bodies are never read);
  2. compressed: the peak RSS before and after N concurrent authenticated gzip posts of about 1 MiB
     that inflate to 1 GiB (gzip bombs: each must be refused, 413 or 503);
  3. latency: /healthz latency while idle (the reference) and while authenticated posts with one
     large label value are parsed, as p50/max and the ratio between them.
Figures, not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import zlib
from pathlib import Path

import aiohttp

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from tests.processes import free_port, wait_for  # noqa: E402

TOKEN = "bench-edge-token"


def memory_mib(pid: int) -> dict[str, float]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {name: int(fields[name].split()[0]) / 1024 for name in ("VmRSS", "VmHWM")}


async def post_concurrently(url: str, count: int, body: bytes, headers: dict[str, str]) -> dict[int, int]:
    """`count` posts of `body` at once; how many got each status (0: the connection was closed while
    the body was still being sent)."""
    answers: dict[int, int] = {}

    async def post(session: aiohttp.ClientSession) -> None:
        try:
            async with session.post(f"{url}/api/v2/alerts", data=body, headers=headers) as response:
                status = response.status
        except aiohttp.ClientError:
            status = 0
        answers[status] = answers.get(status, 0) + 1

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session:
        await asyncio.gather(*(post(session) for _ in range(count)))
    return answers


async def flood(url: str, count: int, size_mib: int) -> dict[int, int]:
    body = b'[{"labels": {"alertname": "' + b"x" * (size_mib * 2**20) + b'"}}]'
    return await post_concurrently(url, count, body, {"Content-Type": "application/json"})


def gzip_bomb(inflated_mib: int) -> bytes:
    """A gzip body of `inflated_mib` MiB of spaces, built a MiB at a time."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: the gzip container
    chunk = b" " * 2**20
    return b"".join([compressor.compress(chunk) for _ in range(inflated_mib)] + [compressor.flush()])


async def bombs(url: str, count: int, body: bytes) -> dict[int, int]:
    return await post_concurrently(url, count, body, {"Content-Type": "application/json", "Content-Encoding": "gzip",
                                                      "Authorization": f"Bearer {TOKEN}"})


async def health_latencies(session: aiohttp.ClientSession, url: str, until) -> list[float]:
    samples: list[float] = []
    while not until() or not samples:
        started = time.perf_counter()
        async with session.get(f"{url}/healthz") as response:
            await response.read()
        samples.append(time.perf_counter() - started)
        await asyncio.sleep(0.01)
    return samples


async def latency_under_parsing(url: str, posts: int, size_mib: int) -> tuple[list[float], list[float], list[int]]:
    body = json.dumps([{"labels": {"alertname": "Big", "blob": "y" * (size_mib * 2**20)}}]).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session:
        deadline = time.monotonic() + 3
        idle = await health_latencies(session, url, lambda: time.monotonic() > deadline)
        statuses: list[int] = []

        async def big_posts() -> None:
            for _ in range(posts):
                async with session.post(f"{url}/api/v2/alerts", data=body, headers=headers) as response:
                    statuses.append(response.status)
        task = asyncio.ensure_future(big_posts())
        busy = await health_latencies(session, url, task.done)
        await task
    return idle, busy, statuses


def describe(samples: list[float]) -> str:
    return f"p50 {statistics.median(samples) * 1000:7.1f} ms, max {max(samples) * 1000:7.1f} ms (n={len(samples)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--flood-posts", type=int, default=40)
    parser.add_argument("--flood-mib", type=int, default=60)
    parser.add_argument("--bomb-posts", type=int, default=40)
    parser.add_argument("--parse-posts", type=int, default=3)
    parser.add_argument("--parse-mib", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-edge-") as workdir:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        config = Path(workdir) / "correlator.yaml"
        # The label values parsed are far over the default ingest.limits: raised, so they are stored as before.
        config.write_text(json.dumps({"server": {"port": port}, "store": {"data_dir": f"{workdir}/data"},
                                      "auth": {"default": {"bearer_tokens": [TOKEN]}},
                                      "ingest": {"limits": {"max_label_value_length": args.parse_mib * 2**20}}}))
        log = (Path(workdir) / "correlator.log").open("wb")
        daemon = subprocess.Popen([sys.executable, "-m", "correlator", "serve", "--config", str(config)],
                                  stdout=log, stderr=log)
        try:
            wait_for(lambda: urllib.request.urlopen(f"{url}/readyz", timeout=2).status == 200, timeout=60,
                     what="correlator to become ready")
            before = memory_mib(daemon.pid)
            started = time.perf_counter()
            answers = asyncio.run(flood(url, args.flood_posts, args.flood_mib))
            seconds = time.perf_counter() - started
            after = memory_mib(daemon.pid)
            print(f"unauthenticated flood: {args.flood_posts} x {args.flood_mib} MiB in {seconds:.1f} s, "
                  f"answers {answers}")
            print(f"  peak RSS {before['VmHWM']:.0f} MiB before, {after['VmHWM']:.0f} MiB after "
                  f"(+{after['VmHWM'] - before['VmHWM']:.0f} MiB; "
                  f"{args.flood_posts * args.flood_mib} MiB were posted)")
            body = gzip_bomb(1024)
            before = memory_mib(daemon.pid)
            answers = asyncio.run(bombs(url, args.bomb_posts, body))
            after = memory_mib(daemon.pid)
            print(f"gzip bombs: {args.bomb_posts} x {len(body) / 2**20:.1f} MiB inflating to 1 GiB, answers {answers}")
            print(f"  peak RSS {before['VmHWM']:.0f} MiB before, {after['VmHWM']:.0f} MiB after "
                  f"(+{after['VmHWM'] - before['VmHWM']:.0f} MiB)")
            idle, busy, statuses = asyncio.run(latency_under_parsing(url, args.parse_posts, args.parse_mib))
            print(f"/healthz idle (reference):                          {describe(idle)}")
            print(f"/healthz while {args.parse_posts} x {args.parse_mib} MiB label values are parsed: "
                  f"{describe(busy)}; posts answered {statuses}")
            print(f"  ratio busy/idle: p50 x{statistics.median(busy) / statistics.median(idle):.1f}, "
                  f"max x{max(busy) / max(idle):.1f}")
        finally:
            daemon.terminate()
            daemon.wait(timeout=60)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
