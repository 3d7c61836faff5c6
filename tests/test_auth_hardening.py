"""The edge under attack: empty secrets, unauthenticated floods of large bodies, bodies that take
long to parse. Credentials are checked from the headers before any body is read, bodies in memory
stay within a budget, and large bodies are parsed off the event loop."""

from __future__ import annotations

import asyncio
import gzip
import sqlite3
import threading
from datetime import timedelta

import msgspec
import pytest
from aiohttp import web

from correlator.app import BODIES, WRITER
from correlator.config import AuthConfig, ConfigError, Credential, parse_config
from correlator.ingest.alertmanager import parse_postable_alerts
from correlator.ingest.auth import Authenticator
from correlator.ingest.bodies import BodyBudget
from correlator.ingest.normalize import IngestPolicy
from correlator.ingest.receivers import PARSE_ON_LOOP_MAX_BYTES, Receiver
from correlator.metrics import Metrics
from correlator.store import database
from correlator.store.writer import GroupCommitWriter
from tests.conftest import post_json, stored_alerts

V2 = "/api/v2/alerts"
TOKEN = {"default": {"bearer_tokens": ["t0ken"]}}
BEARER = {"Authorization": "Bearer t0ken"}


@pytest.mark.parametrize("auth, key", [
    ({"bearer_tokens": [""]}, "auth.default.bearer_tokens[0]"),
    ({"bearer_tokens": ["good", "  "]}, "auth.default.bearer_tokens[1]"),
    ({"basic_auth": [{"username": "am", "password": ""}]}, "auth.default.basic_auth[0].password"),
    ({"hmac": {"secret": " "}}, "auth.default.hmac.secret"),
])
def test_an_empty_credential_is_refused_at_start_naming_the_field(auth, key):
    with pytest.raises(ConfigError) as raised:
        parse_config({"auth": {"default": auth}}, environ={})
    assert raised.value.key == key and "empty" in str(raised.value)


def test_an_empty_environment_variable_is_not_a_credential(monkeypatch):
    monkeypatch.setenv("AM_TOKEN", "")
    with pytest.raises(ConfigError) as raised:
        parse_config({"auth": {"alertmanager": {"bearer_tokens": [{"env": "AM_TOKEN"}]}}}, environ={})
    assert raised.value.key == "auth.alertmanager.bearer_tokens[0]"
    assert "environment variable AM_TOKEN is empty" in str(raised.value)


def test_an_empty_secret_file_is_not_a_credential(tmp_path):
    secret = tmp_path / "hmac"
    secret.write_text("\n")
    with pytest.raises(ConfigError) as raised:
        parse_config({"auth": {"default": {"hmac": {"secret": {"file": str(secret)}}}}}, environ={})
    assert raised.value.key == "auth.default.hmac.secret" and f"secret file {secret} is empty" in str(raised.value)


def test_an_empty_override_from_the_environment_is_not_a_credential():
    with pytest.raises(ConfigError) as raised:
        parse_config({}, environ={"CORRELATOR_AUTH_DEFAULT_HMAC_SECRET": ""})
    assert raised.value.key == "auth.default.hmac.secret"


def test_an_empty_bearer_header_is_refused_even_against_an_empty_token():
    authenticator = Authenticator(AuthConfig(bearer_tokens=[Credential("")]))
    assert authenticator.check_headers({"Authorization": "Bearer "}) is not None
    assert authenticator.check_headers({"Authorization": "Bearer"}) is not None


async def test_an_empty_bearer_header_gets_401(app_factory):
    client = await app_factory(auth=TOKEN)
    response = await post_json(client, V2, [{"labels": {"alertname": "X"}}], Authorization="Bearer ")
    assert response.status == 401


def request_head(path: str, length: int, **headers) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json",
             f"Content-Length: {length}", "Expect: 100-continue", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def first_answer(client, head: bytes) -> bytes:
    """Send only the headers of a request and return the status line the server answers with."""
    reader, writer = await asyncio.open_connection("127.0.0.1", client.server.port)
    try:
        writer.write(head)
        await writer.drain()
        return await asyncio.wait_for(reader.readline(), timeout=10)
    finally:
        writer.close()


async def test_a_client_expecting_100_continue_is_refused_before_it_sends_the_body(app_factory):
    client = await app_factory(auth=TOKEN)
    sixty_megabytes = 60 * 2**20
    assert await first_answer(client, request_head(V2, sixty_megabytes)) == b"HTTP/1.1 401 Unauthorized\r\n"
    too_big = request_head(V2, 65 * 2**20, Authorization="Bearer t0ken")
    assert await first_answer(client, too_big) == b"HTTP/1.1 413 Request Entity Too Large\r\n"
    allowed = request_head(V2, sixty_megabytes, Authorization="Bearer t0ken")
    assert await first_answer(client, allowed) == b"HTTP/1.1 100 Continue\r\n"


async def test_unauthenticated_large_posts_are_refused_without_reading_their_bodies(app_factory):
    client = await app_factory(auth=TOKEN)
    body = b'[{"labels": {"alertname": "' + b"x" * (8 * 2**20) + b'"}}]'
    answers = await asyncio.gather(*(post_json(client, V2, body) for _ in range(8)))
    assert [response.status for response in answers] == [401] * 8
    assert client.app[BODIES].peak == 0
    assert (await post_json(client, V2, [{"labels": {"alertname": "X"}}], **BEARER)).status == 200


async def test_a_missing_signature_is_refused_without_reading_the_body(app_factory):
    client = await app_factory(auth={"default": {"hmac": {"secret": "s3cret"}}})
    response = await post_json(client, V2, [{"labels": {"alertname": "X" * 2**20}}])
    assert response.status == 401
    assert client.app[BODIES].peak == 0


async def test_a_compressed_body_holds_the_whole_limit_of_the_memory_budget(app_factory, tmp_path):
    """100 bytes of gzip inflate to the limit: the budget counts what the body may become."""
    client = await app_factory(url=f"sqlite:///{tmp_path / 'store.db'}",
                               server={"max_body_size": "4KiB", "max_body_memory": "6KiB"})
    bodies = client.app[BODIES]

    def zipped(name: str) -> bytes:
        return gzip.compress(msgspec.json.encode([{"labels": {"alertname": name * 3000}}]))

    async def post_zipped(name: str):
        return await client.post(V2, data=zipped(name), headers={"Content-Type": "application/json",
                                                                  "Content-Encoding": "gzip"})

    assert len(zipped("A")) < 100
    blocker = sqlite3.connect(tmp_path / "store.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # commits stall: the first body stays in memory
    try:
        first = asyncio.ensure_future(post_zipped("A"))
        for _ in range(500):
            if client.app[WRITER].pending_alerts:
                break
            await asyncio.sleep(0.01)
        assert bodies.in_flight == 4096
        refused = await post_zipped("B")
        assert refused.status == 503 and "server.max_body_memory" in (await refused.json())["error"]
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert (await first).status == 200 and bodies.in_flight == 0


async def test_bodies_over_the_memory_budget_get_503_with_retry_after(app_factory, tmp_path):
    client = await app_factory(url=f"sqlite:///{tmp_path / 'store.db'}",
                               server={"max_body_size": "4KiB", "max_body_memory": "4KiB"})
    bodies = client.app[BODIES]
    blocker = sqlite3.connect(tmp_path / "store.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # commits stall: the first body stays in memory
    try:
        first = asyncio.ensure_future(post_json(client, V2, [{"labels": {"alertname": "A" * 3000}}]))
        for _ in range(500):
            if client.app[WRITER].pending_alerts:
                break
            await asyncio.sleep(0.01)
        assert bodies.in_flight > 3000
        refused = await post_json(client, V2, [{"labels": {"alertname": "B" * 1500}}])
        assert refused.status == 503 and refused.headers["Retry-After"] == "1"
        assert "server.max_body_memory" in (await refused.json())["error"]
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert (await first).status == 200
    assert bodies.in_flight == 0
    assert [alert["labels"]["alertname"][0] for alert in await stored_alerts(client)] == ["A"]


def test_the_body_budget_cannot_be_smaller_than_one_body():
    with pytest.raises(ConfigError) as raised:
        parse_config({"server": {"max_body_size": "64MiB", "max_body_memory": "32MiB"}}, environ={})
    assert raised.value.key == "server.max_body_memory"


@pytest.fixture
def writer(tmp_path):
    store = database.create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    database.upgrade(store)
    writer = GroupCommitWriter(store)
    writer.start()
    yield writer
    writer.close()
    store.dispose()


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def test_a_large_body_is_parsed_in_a_worker_thread_while_health_answers(aiohttp_client, writer):
    health_answered, parsing = threading.Event(), threading.Event()
    parsed_in: list[threading.Thread] = []

    def parse(body, received_at, policy):
        parsed_in.append(threading.current_thread())
        parsing.set()
        # On the event loop this would block /healthz, so the event would never be set.
        assert health_answered.wait(timeout=10), "/healthz did not answer while the body was parsed"
        return parse_postable_alerts(body, received_at, policy)

    policy = IngestPolicy(resolve_timeout=timedelta(minutes=5))
    receiver = Receiver("prometheus", "prometheus", parse, Authenticator(AuthConfig()), writer, policy,
                        Metrics(), BodyBudget(2**26, 2**28))
    app = web.Application(client_max_size=2**26)
    app.router.add_post(V2, receiver.handle)
    app.router.add_get("/healthz", healthz)
    client = await aiohttp_client(app)
    alerts = [{"labels": {"alertname": "Big", "instance": f"host-{i}"}} for i in range(5000)]
    body = msgspec.json.encode(alerts)
    assert len(body) > PARSE_ON_LOOP_MAX_BYTES
    posted = asyncio.ensure_future(post_json(client, V2, body))
    for _ in range(1000):
        if parsing.is_set():
            break
        await asyncio.sleep(0.01)
    assert (await client.get("/healthz")).status == 200
    health_answered.set()
    assert (await posted).status == 200
    assert parsed_in[0] is not threading.main_thread()
