"""Generated requests against every API operation on a live server.

schemathesis reads /api/v1/openapi.json from a uvicorn child on loopback and
generates valid and invalid requests for each operation, sent with a citizen's
and an administrator's token. No response may be a 5xx, and every response
with a documented status must match its schema.
"""

import json
import os
import urllib.request

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from uvicorn_process import prepare_data_dir, serve

# Examples per operation, generation mode and account: with 75 operations,
# 2 modes and 2 accounts, 7 give up to 2,100 requests. The long run sets
# PROTOKOL_FUZZ_EXAMPLES=34 for about 10,000.
EXAMPLES = int(os.environ.get("PROTOKOL_FUZZ_EXAMPLES", "7"))
CHECKS = [not_a_server_error, response_schema_conformance]
ACCOUNTS = ["citizen", "admin"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("fuzz-server")
    prepare_data_dir(data_dir)
    with serve(data_dir) as running:
        yield running


def token_for(base_url: str, username: str) -> str:
    body = json.dumps({"username": username, "password": "demo"}).encode()
    request = urllib.request.Request(
        f"{base_url}/api/v1/auth/token",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["token"]


def operations(schema):
    for result in schema.get_all_operations():
        yield result.ok()


@pytest.mark.parametrize("username", ACCOUNTS)
def test_api_handles_generated_requests(server, username):
    schema = schemathesis.openapi.from_url(f"{server.url}/api/v1/openapi.json")
    headers = {"Authorization": f"Bearer {token_for(server.url, username)}"}
    failures = []

    for operation in operations(schema):
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _exercise(operation, mode, server.url, headers)
            except Unsatisfiable:
                # An operation without parameters or body has no invalid input.
                assert mode == GenerationMode.NEGATIVE, operation.label
            except AssertionError as exc:
                failures.append(f"{operation.label} ({mode.value}): {exc}")

    assert not failures, "\n\n".join(failures) + "\n\n" + server.log()[-3000:]


def _exercise(operation, mode, base_url: str, headers: dict) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        response = case.call(base_url=base_url, headers=headers, timeout=60)
        case.validate_response(response, checks=CHECKS, headers=headers)

    run()
