"""Values the store's columns cannot hold are bounded before they reach it: one sender's label or
a config name never makes every engine save (or every commit) fail."""

from __future__ import annotations

import base64

import msgspec
import pytest
from sqlalchemy import select

from correlator import wiring
from correlator.config import ConfigError, parse_config
from correlator.domain import MAX_NAME_LENGTH, MAX_SOURCE_LENGTH
from correlator.engine.core import EngineSettings
from correlator.engine_service import EngineService
from correlator.ingest.sources import parsers
from correlator.store.schema import incidents, notifications
from tests.engine_scenarios import T0, rules_from
from tests.engine_store import Clock, open_store, stored_row

ASSIGN_BY_LABEL = {"name": "team-label", "kind": "assign", "matchers": ['team!=""'], "team_label": "team",
                   "tier": 1}


async def test_a_team_label_longer_than_the_store_holds_is_cut_and_the_step_saves(db_url, tmp_path):
    store = open_store(db_url)
    body = msgspec.json.encode({"version": "4", "status": "firing", "alerts": [
        {"status": "firing", "labels": {"alertname": "DiskFull", "team": "t" * 300},
         "startsAt": "2026-11-23T03:00:00Z", "endsAt": "0001-01-01T00:00:00Z"}]})
    with store.begin() as connection:
        connection.execute(notifications.insert().values(stored_row("alertmanager", T0, body)))
    service = EngineService(store, rules_from(tmp_path, ASSIGN_BY_LABEL), EngineSettings(), parsers({}),
                            wiring.ingest_policy(parse_config({}, environ={})), clock=Clock())
    await service.start()
    try:
        await service.run_step()
        assert service.progress.watermark == 1
    finally:
        await service.stop()
    with store.connect() as connection:
        teams = connection.execute(select(incidents.c.team)).scalars().all()
    assert teams == ["t" * MAX_NAME_LENGTH]
    store.dispose()


def test_a_mapping_name_longer_than_a_stored_source_is_refused_at_start():
    name = "m" * (MAX_SOURCE_LENGTH + 1)
    with pytest.raises(ConfigError) as error:
        parse_config({"ingest": {"mappings": {name: {"alerts": "$.items"}}}}, environ={})
    assert f"ingest.mappings.{name}" in str(error.value)


async def test_an_incident_cursor_beyond_the_store_integers_is_a_400(client):
    cursor = base64.urlsafe_b64encode(f"{10**30}|INC-000001".encode()).decode().rstrip("=")
    response = await client.get("/api/v1/incidents", params={"cursor": cursor})
    assert response.status == 400
    assert (await response.json())["details"][0]["path"] == "cursor"
