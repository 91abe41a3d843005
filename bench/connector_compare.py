"""The outbox's connector client against the Agents SDK's (issue 13, point 2).

Usage, from the repository root: ``.venv/bin/python -m bench.connector_compare [--count N]
[--runs R]`` (the fake connector alone: ``python -m bench.connector_compare serve``).

A tiny fake Bot Connector runs in its own process on 127.0.0.1 (a low-level aiohttp server:
it reads the body and answers 200 with ``{"id": <the raw request path>}``, or 429 with
``Retry-After: 7`` for a conversation id containing ``throttled``), so that the driver
process holds only the clients and its CPU time is theirs. It is not
bench/fake_connector.py: that one enforces Teams' rate limits, and these checks need the
raw path as it arrived.

For N card activities (the product's decision card, about 6.6 KB of JSON, in the
outbox's ``card_activity`` shape) it measures sends per second, p50/p99 latency and the
driver's CPU per send, sequentially and with 16 concurrent senders, for:

- ``product``: ``bot.teams.connector.ConnectorClient`` (token provider None), the outbox's
  client: one keep-alive session of its own; it honours the proxy variables, looked up once
  per service URL host (until issue 15 the session had ``trust_env=True``, with which
  aiohttp looks up ``~/.netrc`` and the proxy variables in the thread pool on every
  request, two thread hops a send);
- ``product-no-env``: the same client given a plain session, ``trust_env=False`` (no
  proxy at all);
- ``sdk-reuse``: the SDK's ``ConnectorClient(endpoint, token)`` built once and reused;
- ``sdk-per-send``: what the SDK's adapter does per proactive send
  (``ChannelServiceAdapter.continue_conversation``): two tokens fetched (a constant
  string here), a new ``TeamsConnectorClient`` and a new ``UserTokenClient`` (a
  ``ClientSession`` each), one send, both closed.

The outbox holds activities as JSON, so both SDK variants pay ``Activity.model_validate``
per send (its cost alone is printed too). Medians of ``--runs`` runs (runs interleaved),
after a warm-up of 50 sends per client. Then the correctness checks: a 429 with
Retry-After, a conversation id of 200 characters, one with ':' and ';' (what each client
reports, what arrived on the wire).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web
from microsoft_agents.activity import Activity
from microsoft_agents.hosting.core.connector.client.connector_client import (
    ConnectorClient as SdkConnectorClient,
)
from microsoft_agents.hosting.core.connector.client.user_token_client import UserTokenClient
from microsoft_agents.hosting.core.connector.teams.teams_connector_client import (
    TeamsConnectorClient,
)

from bot.outbox.service import card_activity
from bot.teams.connector import ConnectorClient
from cards.render import render
from tests.cards.contexts import decision_context

KINDS = ("product", "product-no-env", "sdk-reuse", "sdk-per-send")
CONCURRENCIES = (1, 16)
# personal conversation ids of 100 characters, under the SDK's cut at 150
CONVERSATIONS = [
    f"a:1{i:03d}" + "xK9mN1pQ3sT5vX7zA9cE1gI3kM5oQ7sU9wY1aB3dE5gH7jK" * 2 for i in range(50)
]
TOKEN = "fake-token"  # noqa: S105 - the fake connector checks nothing
OAUTH_ENDPOINT = "https://api.botframework.com"


# -- the fake connector (its own process) ------------------------------------------------


async def _answer(request: web.BaseRequest) -> web.StreamResponse:
    await request.read()
    raw = request.raw_path
    if "throttled" in raw:
        body = {"error": {"code": "Throttled", "message": "Too many requests"}}
        return web.json_response(body, status=429, headers={"Retry-After": "7"})
    return web.json_response({"id": raw})


async def _serve() -> None:
    runner = web.ServerRunner(web.Server(_answer), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(runner.addresses[0][1], flush=True)
    await asyncio.Event().wait()


# -- the clients ---------------------------------------------------------------------------

Send = Callable[[str, dict[str, Any]], Awaitable[str | None]]


async def _token() -> str:
    return TOKEN


def _make_sender(kind: str, service_url: str) -> tuple[Send, Callable[[], Awaitable[None]]]:
    """(send(conversation_id, activity) -> the id answered, close)."""
    if kind in ("product", "product-no-env"):
        session = aiohttp.ClientSession() if kind == "product-no-env" else None
        product = ConnectorClient(token_provider=None, session=session, trust_env=kind == "product")

        async def close_product() -> None:
            await product.close()
            if session is not None:
                await session.close()

        async def send_product(conversation: str, activity: dict[str, Any]) -> str | None:
            result = await product.send_activity(service_url, conversation, activity)
            if not result.ok:
                raise RuntimeError(f"send failed: {result}")
            return result.activity_id

        return send_product, close_product

    if kind == "sdk-reuse":
        sdk = SdkConnectorClient(service_url, TOKEN)

        async def send_reuse(conversation: str, activity: dict[str, Any]) -> str | None:
            answer = await sdk.conversations.send_to_conversation(
                conversation, Activity.model_validate(activity)
            )
            return answer.id

        return send_reuse, sdk.close

    async def send_per_send(conversation: str, activity: dict[str, Any]) -> str | None:
        connector = TeamsConnectorClient(endpoint=service_url, token=await _token())
        user_tokens = UserTokenClient(OAUTH_ENDPOINT, await _token(), app_id="bench-app")
        try:
            answer = await connector.conversations.send_to_conversation(
                conversation, Activity.model_validate(activity)
            )
        finally:
            await connector.close()
            await user_tokens.close()
        return answer.id

    async def nothing() -> None:
        return None

    return send_per_send, nothing


async def _measure(
    kind: str, concurrency: int, count: int, service_url: str, activity: dict[str, Any]
) -> dict[str, float]:
    send, close = _make_sender(kind, service_url)
    try:
        for i in range(50):
            await send(CONVERSATIONS[i % len(CONVERSATIONS)], activity)
        latencies: list[float] = []
        next_index = 0

        async def worker() -> None:
            nonlocal next_index
            while next_index < count:
                i = next_index
                next_index += 1
                start = time.perf_counter()
                await send(CONVERSATIONS[i % len(CONVERSATIONS)], activity)
                latencies.append(time.perf_counter() - start)

        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        await close()
    latencies.sort()
    return {
        "per_s": count / wall,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "cpu_us": cpu / count * 1e6,
    }


# -- correctness ------------------------------------------------------------------------


async def _checks(service_url: str, activity: dict[str, Any]) -> list[str]:
    long_id = "19:" + "a1B2c3D4e5" * 19 + "@thread.tacv2"  # 206 characters
    odd_id = "19:abc123@thread.tacv2;messageid=1733380000000"
    lines = [
        f"long id: {len(long_id)} characters; odd id: {odd_id}",
        f"model_validate alone: {_validate_cost(activity):.0f} µs per activity",
    ]
    product = ConnectorClient(token_provider=None)
    sdk = SdkConnectorClient(service_url, TOKEN)
    try:
        result = await product.send_activity(service_url, "a:1throttled", activity)
        lines.append(
            f"429, product: SendResult(ok={result.ok}, status={result.status}, "
            f"retry_after={result.retry_after}, error_code={result.error_code!r})"
        )
        try:
            await sdk.conversations.send_to_conversation(
                "a:1throttled", Activity.model_validate(activity)
            )
            lines.append("429, sdk: no exception")
        except aiohttp.ClientResponseError as exc:
            retry = exc.headers.get("Retry-After") if exc.headers else None
            lines.append(
                f"429, sdk: raises {type(exc).__name__}(status={exc.status}, "
                f"message={exc.message[:60]!r}); Retry-After only as the raw header "
                f"exc.headers[...] = {retry!r}"
            )
        for name, conversation in (("long id", long_id), ("':' ';' id", odd_id)):
            got = await product.send_activity(service_url, conversation, activity)
            answer = await sdk.conversations.send_to_conversation(
                conversation, Activity.model_validate(activity)
            )
            for who, path in (("product", got.activity_id), ("sdk", answer.id)):
                segment = (path or "").split("/v3/conversations/")[-1].rsplit("/activities", 1)[0]
                lines.append(f"{name}, {who}: {len(segment)} characters on the wire: {segment}")
    finally:
        await product.close()
        await sdk.close()
    return lines


def _validate_cost(activity: dict[str, Any]) -> float:
    start = time.perf_counter()
    for _ in range(500):
        Activity.model_validate(activity)
    return (time.perf_counter() - start) / 500 * 1e6


# -- driver -------------------------------------------------------------------------------


async def _main(service_url: str, count: int, runs: int) -> None:
    card = render("decision_card", **decision_context())
    activity = card_activity(card, summary="Ärende 12: väntar på beslut")
    size = len(json.dumps(activity, ensure_ascii=False).encode())
    print(f"activity {size} bytes, {count} sends per run, {runs} runs, {service_url}")
    for line in await _checks(service_url, activity):
        print(line)
    results: dict[tuple[str, int], list[dict[str, float]]] = {}
    for run in range(runs):
        for kind in KINDS:
            for concurrency in CONCURRENCIES:
                figures = await _measure(kind, concurrency, count, service_url, activity)
                results.setdefault((kind, concurrency), []).append(figures)
                print(f"run {run + 1} {kind:14} c={concurrency:2}: {_fmt(figures)}", flush=True)
    print("\n| client | senders | sends/s | p50 ms | p99 ms | client CPU µs/send |")
    print("|---|---:|---:|---:|---:|---:|")
    for (kind, concurrency), all_runs in results.items():
        med = {k: statistics.median(f[k] for f in all_runs) for k in all_runs[0]}
        print(
            f"| {kind} | {concurrency} | {med['per_s']:.0f} | {med['p50_ms']:.2f} | "
            f"{med['p99_ms']:.2f} | {med['cpu_us']:.0f} |"
        )


def _fmt(f: dict[str, float]) -> str:
    return (
        f"{f['per_s']:7.0f}/s p50 {f['p50_ms']:6.2f} ms p99 {f['p99_ms']:6.2f} ms "
        f"cpu {f['cpu_us']:5.0f} µs/send"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("mode", nargs="?", choices=["serve"])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.mode == "serve":
        asyncio.run(_serve())
        return
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.connector_compare", "serve"], stdout=subprocess.PIPE
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        asyncio.run(_main(f"http://127.0.0.1:{port}/emea/", args.count, args.runs))
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
