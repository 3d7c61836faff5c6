"""Shared fixtures: real stores (SQLite file, throwaway PostgreSQL database), app clients, captures."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import msgspec
import psycopg
import pytest
from hypothesis import settings

from correlator.app import make_app
from correlator.config import parse_config

CAPTURES = Path(__file__).parent / "testdata" / "captures"
POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"

# Property tests draw the same examples on every run and have no time limit per example: the
# suite runs on two workers beside real processes, and must not depend on the machine's speed.
settings.register_profile("suite", deadline=None, derandomize=True, database=None)
settings.load_profile("suite")


def capture(name: str) -> bytes:
    return (CAPTURES / name).read_bytes()


@pytest.fixture(scope="session")
def postgres_server() -> str:
    try:
        with psycopg.connect(POSTGRES_ADMIN, connect_timeout=5):
            pass
    except psycopg.OperationalError as error:
        message = f"PostgreSQL is unreachable at 127.0.0.1:5432 ({error}); run tests/install-system-deps.sh"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return POSTGRES_ADMIN


@pytest.fixture
def postgres_url(postgres_server):
    """A database of its own, dropped afterwards."""
    name = f"correlator_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("postgres_url")


def make_config(tmp_path: Path, url: str | None = None, **sections):
    document = {"store": {"data_dir": str(tmp_path / "data"), **({"url": url} if url else {})}}
    for section, values in sections.items():
        document.setdefault(section, {}).update(values)
    return parse_config(document, environ={})


@pytest.fixture
def app_factory(aiohttp_client, tmp_path):
    """`await app_factory(url=..., auth=..., ingest=...)` -> a test client on a real store."""
    async def factory(url: str | None = None, **sections):
        return await aiohttp_client(make_app(make_config(tmp_path, url, **sections)))
    return factory


@pytest.fixture
async def client(app_factory):
    return await app_factory()


async def post_json(client, path: str, body, **headers):
    data = body if isinstance(body, bytes) else msgspec.json.encode(body)
    return await client.post(path, data=data, headers={"Content-Type": "application/json", **headers})


async def stored_alerts(client, **query) -> list[dict]:
    response = await client.get("/api/v1/alerts", params={"limit": "1000", **query})
    assert response.status == 200, await response.text()
    return (await response.json())["alerts"]
