"""Fuzzing the HTTP API from its OpenAPI document with schemathesis, against a real daemon on 127.0.0.1:
no input gets a 5xx, and every answer has a status, content type and body the document declares.
Derandomized and bounded: the same cases each run, well under a minute. bench/fuzz.py runs far more."""

from pathlib import Path

import pytest
import schemathesis
import yaml
from schemathesis import checks

from tests.processes import Daemon

DOCUMENT = Path(__file__).parents[1] / "correlator" / "api" / "openapi.yaml"
TOKEN = "fuzz-token"
CASES_PER_OPERATION = 10
CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_schema_conformance]

schema = schemathesis.openapi.from_dict(yaml.safe_load(DOCUMENT.read_text()))
schema.config.generation.update(max_examples=CASES_PER_OPERATION, deterministic=True)


def daemon_config(tmp: Path) -> dict:
    return {"auth": {"default": {"bearer_tokens": [TOKEN]}},
            "ingest": {"mappings": {"zabbix": {"alerts": "$", "labels": "tags", "starts_at": "clock"}}}}


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz-api")
    running = Daemon(tmp, daemon_config(tmp), token=TOKEN).start()
    yield running
    assert running.stop() == 0, running.log()[-3000:]


@schema.parametrize()
def test_no_input_gets_a_server_error_and_answers_follow_the_document(case, daemon, request):
    if case.method == "POST" and case.path.startswith("/api/v1/incidents/{id}/"):
        request.applymarker(pytest.mark.xfail(strict=True, reason=(
            "operator actions do not reach the engine process yet (serve answers 503): they go "
            "through the notifications log, a change of its own")))
    case.call_and_validate(base_url=daemon.url, headers=daemon.auth_headers, checks=CHECKS, timeout=30)
