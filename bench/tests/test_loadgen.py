"""The load generator against a real HTTP server (aiohttp's, on a loopback port)."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from bench.loadgen import Client, StopFlow, percentile, run_closed, run_open


async def _server(delay: float = 0.0) -> tuple[web.AppRunner, str]:
    async def ok(request: web.Request) -> web.Response:
        if delay:
            await asyncio.sleep(delay)
        return web.json_response({"ok": True}, status=201)

    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=503, text="down")

    app = web.Application()
    app.router.add_post("/ok", ok)
    app.router.add_get("/broken", broken)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


def test_percentile_is_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([7.0], 99) == 7.0


def test_closed_loop_records_every_call_and_its_status() -> None:
    async def scenario() -> None:
        runner, url = await _server()
        attempts = {"left": 40}

        async def flow(client: Client) -> None:
            if attempts["left"] <= 0:
                raise StopFlow()
            attempts["left"] -= 1
            status, body = await client.call("POST", "/ok", json_body={"n": 1}, tag="ok")
            assert status == 201
            assert body == {"ok": True}
            await client.call("GET", "/broken", tag="broken")

        try:
            result = await run_closed(url, flow, clients=4)
        finally:
            await runner.cleanup()
        assert result.statuses("ok") == {201: 40}
        assert result.statuses("broken") == {503: 40}
        assert result.server_errors() == 40
        assert result.failures
        assert "503" in result.failures[0]
        assert result.as_dict()["by_tag"]["ok"]["requests"] == 40

    asyncio.run(scenario())


def test_a_refused_connection_is_status_zero_not_an_exception() -> None:
    async def flow(client: Client) -> None:
        await client.call("GET", "/", tag="x")
        raise StopFlow()

    result = asyncio.run(run_closed("http://127.0.0.1:9", flow, clients=2))
    assert result.statuses("x") == {0: 2}
    assert result.server_errors() == 2


def test_open_loop_counts_latency_from_when_a_request_was_due() -> None:
    """A generator that falls behind (its loop blocked for 0.3 s) must not hide the delay:
    requests that were due meanwhile count it, though the server answers at once."""

    async def scenario() -> None:
        runner, url = await _server()
        blocked = {"done": False}

        async def flow(client: Client) -> None:
            if not blocked["done"]:
                blocked["done"] = True
                time.sleep(0.3)  # the whole event loop stalls, as under CPU starvation
            await client.call("POST", "/ok", tag="ok")

        try:
            result = await run_open(url, flow, rate=50, duration=1.0)
        finally:
            await runner.cleanup()
        latencies = sorted(sample.latency for sample in result.select("ok")[1:])
        assert latencies[-1] >= 0.2  # measured from the send instead, all would be ~1 ms
        assert latencies[0] < 0.1

    asyncio.run(scenario())


def test_open_loop_keeps_its_rate() -> None:
    async def scenario() -> None:
        runner, url = await _server(delay=0.05)

        async def flow(client: Client) -> None:
            await client.call("POST", "/ok", tag="ok")

        started = time.perf_counter()
        try:
            result = await run_open(url, flow, rate=40, duration=1.0)
        finally:
            await runner.cleanup()
        assert len(result.select("ok")) == 40
        assert time.perf_counter() - started < 2.0  # requests overlap: not 40 x 50 ms
        assert result.latency_ms("ok")["p50"] >= 50.0
        assert result.dropped == 0

    asyncio.run(scenario())
