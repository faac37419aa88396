"""Mutation fuzz of a real `msgemu serve`: N mutated requests per provider, counts per status.

    python benchmarks/fuzz.py                    # 100,000 requests per provider
    python benchmarks/fuzz.py --requests 5000 --providers alphasms,smsc

Each request starts from the provider's representative send (benchmarks/requests.py) and gets
1-3 mutations: bytes flipped, cut or duplicated; a hostile JSON token spliced in (1e999, NaN,
a lone surrogate, a 5,000-digit integer, 10,000-deep nesting); a header changed (bogus or
lying Content-Encoding, another Content-Type, auth removed); another method; a path or query
mutated. The server runs in its own process; a 5xx or a dropped connection is a failure
(exit status 1) and its request is printed. At the end the journal is checked: the emulator
journaled as many requests as it answered.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import json
import random
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import Server  # noqa: E402
from requests import SENDS  # noqa: E402

HOSTILE_TOKENS = [
    b"1e999", b"-1e999", b"NaN", b"Infinity", b'"\\ud800"', b'"\\udfff x"', b"9" * 5000, b"[" * 10_000 + b"]" * 10_000,
    b"{" * 600, b"null", b"true", b'""', b"[]", b"{}", b"-0", b"1e-999", b'"\\u0000"', b"\xff\xfe", b"\xc0\xaf",
    b'"' + "é".encode() * 300 + b'"', b"%00", b"%ED%A0%80", b"&&&==&", b"\r\n\r\n",
]
HEADER_MUTATIONS = [
    ("Content-Encoding", "bogus"), ("Content-Encoding", "gzip"), ("Content-Encoding", "deflate"), ("Content-Encoding", "br"),
    ("Content-Type", "text/plain"), ("Content-Type", "application/x-www-form-urlencoded"), ("Content-Type", "application/json"),
    ("Content-Type", "multipart/form-data; boundary=x"), ("Content-Type", "application/json; charset=koi8-r"),
    ("Authorization", "Basic %%%"), ("Authorization", "Bearer " + "a" * 3000), ("api-key", "\u00e9t\u00e9"), ("Accept", "*/*"),
]
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def mutate(rng: random.Random, seed: dict, n: int) -> tuple[str, str, dict[str, str], bytes]:
    method = seed["method"]
    path = seed["path"]
    headers = dict(seed["headers"])
    body = bytearray(seed["body"].replace("{n}", str(n)).encode())
    for _ in range(rng.randint(1, 3)):
        kind = rng.randrange(8)
        if kind == 0 and body:  # flip bytes
            for _ in range(rng.randint(1, 4)):
                body[rng.randrange(len(body))] = rng.randrange(256)
        elif kind == 1 and body:  # cut
            cut = rng.randrange(len(body))
            body = body[:cut] if rng.random() < 0.5 else body[cut:]
        elif kind == 2:  # splice a hostile token over a random span
            token = rng.choice(HOSTILE_TOKENS)
            at = rng.randrange(len(body) + 1)
            body[at:at + rng.randint(0, 8)] = token
        elif kind == 3:  # replace a JSON value / form value with a hostile token
            text = bytes(body)
            for sep in (b": ", b":", b"="):
                positions = [i for i in range(len(text)) if text.startswith(sep, i)]
                if positions:
                    at = rng.choice(positions) + len(sep)
                    end = min([p for p in (text.find(b",", at), text.find(b"}", at), text.find(b"&", at)) if p > 0] or [len(text)])
                    body = bytearray(text[:at] + rng.choice(HOSTILE_TOKENS) + text[end:])
                    break
        elif kind == 4:
            name, value = rng.choice(HEADER_MUTATIONS)
            headers[name] = value
        elif kind == 5:
            headers.pop(rng.choice(list(headers) or ["x"]), None)
        elif kind == 6:
            method = rng.choice(METHODS)
        else:  # path / query
            choice = rng.randrange(4)
            if choice == 0:
                path = path + rng.choice(["/", "/x", "%00", "/../", "?a=%ED%A0%80", "?" + "a=1&" * 200, "?fmt=2&mes=%FF"])
            elif choice == 1:
                path = path.rsplit("/", 1)[0] + "/" + rng.choice(["send", "status", "balance", "..", "%2e%2e", "x" * 300])
            elif choice == 2:
                path = path + "?" + bytes(body[:200]).decode("latin-1").replace("#", "%23").replace(" ", "+")
            else:
                path = path.upper()
    return method, path, headers, bytes(body)


def _valid_json(response: aiohttp.ClientResponse, text: bytes) -> bool:
    """A JSON answer must be strict JSON (no NaN/Infinity echoed back from the input)."""
    if response.content_type != "application/json" or not text:
        return True
    try:
        json.loads(text.decode(response.charset or "utf-8"), parse_constant=_no_constant)
        return True
    except ValueError:
        return False


def _no_constant(name: str):
    raise ValueError(name)


async def fuzz_provider(base: str, provider: str, total: int, concurrency: int, seed: int) -> dict:
    rng = random.Random(f"{seed}-{provider}")
    seed_request = SENDS[provider]
    statuses: collections.Counter[int] = collections.Counter()
    failures: list[str] = []
    queue: asyncio.Queue = asyncio.Queue(maxsize=concurrency * 4)
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=60)

    async def producer() -> None:
        for n in range(total):
            await queue.put(mutate(rng, seed_request, n))
        for _ in range(concurrency):
            await queue.put(None)

    async def worker(http: aiohttp.ClientSession) -> None:
        while (item := await queue.get()) is not None:
            method, path, headers, body = item
            try:
                async with http.request(method, base + path, headers=headers, data=body, skip_auto_headers=["Content-Type"]) as response:
                    text = await response.read()
                    statuses[response.status] += 1
                    if response.status >= 500 or b"Traceback" in text or not _valid_json(response, text):
                        failures.append(f"{response.status} {method} {path[:120]} {headers} {body[:200]!r} -> {text[:200]!r}")
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
                if isinstance(exc, (aiohttp.InvalidURL, ValueError)) and not isinstance(exc, aiohttp.ClientResponseError):
                    statuses[0] += 1  # the client library itself refused to send it (invalid URL/header)
                    continue
                statuses[-1] += 1
                failures.append(f"dropped: {exc!r} {method} {path[:120]} {body[:200]!r}")

    started = time.monotonic()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        await asyncio.gather(producer(), *(worker(http) for _ in range(concurrency)))
    return {"statuses": statuses, "failures": failures, "seconds": time.monotonic() - started}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=100_000, help="mutated requests per provider")
    parser.add_argument("--providers", default=",".join(SENDS))
    parser.add_argument("--concurrency", type=int, default=48)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    server = Server("--clock", "manual", "--callback-loopback-only", "--retention", "20000")
    failed = 0
    try:
        server.call("PATCH", "/_emulator/accounts/alphasms", {"balance": 10**9})
        for provider in args.providers.split(","):
            before = server.call("GET", "/_emulator/health")["retention"]
            result = asyncio.run(fuzz_provider(server.base, provider, args.requests, args.concurrency, args.seed))
            after = server.call("GET", "/_emulator/health")["retention"]
            statuses = result["statuses"]
            answered = sum(c for s, c in statuses.items() if s > 0)
            fivexx = sum(c for s, c in statuses.items() if s >= 500)
            journaled = (after["evicted"]["requests"] + after["kept"]["requests"]) - (before["evicted"]["requests"] + before["kept"]["requests"])
            counts = ", ".join(f"{'dropped' if s == -1 else 'not sendable' if s == 0 else s}: {c:,}" for s, c in sorted(statuses.items()))
            print(f"{provider:9} {args.requests:,} mutated requests in {result['seconds']:.0f} s "
                  f"({args.requests / result['seconds']:,.0f}/s): {counts}; 5xx: {fivexx}; "
                  f"journaled {journaled:,} of {answered:,} answered provider requests")
            for line in result["failures"][:5]:
                print("   ", line)
            failed += len(result["failures"])
        if server.proc.poll() is not None:
            print("the server died")
            failed += 1
    finally:
        server.stop()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
