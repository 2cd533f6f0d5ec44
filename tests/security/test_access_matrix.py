"""Every route × every role and relation, against a table of expected responses.

The routes come from the URL configuration and the API's OpenAPI document,
so a new route fails `test_every_route_has_a_row` until access_matrix.txt has
a row for it; that file explains the codes. The targets are two consultations
of `citizen` in department A (matrix.py): an open one assigned to `operator`
and a signed one. Besides the codes, the test checks that no answer to an
actor outside PERSONAL_DATA_READERS contains the citizen's SNILS or passport
number, and that every 403 or 404 to a signed-in actor wrote an
access:denied journal entry.

Columns (matrix.ACTORS): `cit:own` is the target's citizen and `cit:other`
another citizen; `op:own` is the assigned operator; `*:dept` work in the
target's department (the demo supervisor, auditor and administrator see every
department); `*:other` work in department B only; `aud:granted` is an auditor
with the `consultations.view_collecteddata` and `view_attachment` permissions.
"""

import os
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission

from . import matrix
from .matrix import ACTORS, COLUMNS, MARKERS, SNILS_DIGITS, Request

OPEN_ID = "/consultations/{consultation_id}"
API = "/api/v1"
API_OPEN = f"{API}{OPEN_ID}"
PROTOCOL = {
    "question": "Какие документы нужны?",
    "documents": "Паспорт",
    "recommendations": "Подать заявление",
    "decision": "Разъяснено",
    "decision_reason": "Порядок назначения",
}
SIGNED = Request(target="signed")
REQUESTED = Request(target="requested")
DATA_REQUEST = {"documents": ["Справка о доходах"], "comment": "Нужна справка"}

# How to call each route; a route missing here is called with GET and no body.
REQUESTS = {
    f"POST {API}/auth/token": Request(json={"username": "citizen", "password": "demo"}),
    f"GET {API}/consultations": Request(query={"q": "{number}"}, lists=True),
    f"POST {API}/consultations": Request(
        json={"service": "GEN", "subject": "Тема", "description": "Вопрос"}
    ),
    f"POST {API_OPEN}/messages": Request(
        json={"text": "Ответ", "visibility": "public"}
    ),
    f"POST {API_OPEN}/attachments": Request(file=True),
    f"PUT {API_OPEN}/protocol": Request(json=PROTOCOL),
    f"POST {API_OPEN}/transitions": Request(json={"action": "submit", "comment": "Ок"}),
    f"POST {API_OPEN}/forward": Request(json={"department": "B", "reason": "Не наш"}),
    f"GET {API_OPEN}/protocol.pdf": SIGNED,
    f"GET {API}/journal/checkpoints/{{size}}/timestamp.tsr": Request(
        params={"size": 1}
    ),
    f"GET {API}/journal/proofs/inclusion": Request(query={"index": 0, "size": 1}),
    f"GET {API}/journal/proofs/consistency": Request(query={"old": 1, "new": 1}),
    f"GET {API_OPEN}/signatures": SIGNED,
    f"POST {API_OPEN}/acknowledge": SIGNED,
    f"GET {API_OPEN}/signatures/{{signature_id}}.p7s": SIGNED,
    f"GET {API_OPEN}/signatures/{{signature_id}}/document": SIGNED,
    f"POST {API_OPEN}/extend": Request(json={"days": 10, "reason": "Запрос в орган"}),
    f"PUT {API}/templates/{{code}}": Request(
        params={"code": "matrix"}, json={"title": "Шаблон", "body_ru": "Текст"}
    ),
    f"GET {API}/services/{{code}}/expectations": Request(params={"code": "SOC"}),
    f"PUT {API}/me/identifiers": Request(json={"phone": None}),
    f"PUT {API_OPEN}/data": Request(json={"values": {"snils": matrix.SNILS}}),
    f"POST {API}/lookup": Request(
        json={"field": "snils", "value": matrix.SNILS}, lists=True
    ),
    f"GET {API}/analytics/consultations": Request(query={"q": "{number}"}, lists=True),
    f"POST {API}/notifications/read": Request(json={}),
    f"PUT {API}/notifications/preferences": Request(json={"email": False}),
    f"POST {API}/notifications/webhooks": Request(
        json={"name": "CRM 2", "url": "https://crm.example.org/other"}
    ),
    f"POST {API}/notifications/dead-letters/replay": Request(json={"ids": []}),
    "POST /i18n/setlang/": Request(form={"language": "en"}),
    "POST /pki/tsa": Request(form={}),
    "POST /logout/": Request(form={}),
    "POST /notifications/read/": Request(form={}),
    "GET /analytics/consultations/": Request(query={"q": "{number}"}, lists=True),
    "GET /analytics/export.{file_format}": Request(params={"file_format": "csv"}),
    "GET /my/": Request(query={"q": "{number}"}, lists=True),
    "GET /queue/": Request(query={"q": "{number}"}, lists=True),
    f"POST {OPEN_ID}/messages/": Request(
        form={"text": "Ответ", "visibility": "public"}
    ),
    f"POST {OPEN_ID}/attachments/": Request(file=True),
    f"POST {OPEN_ID}/protocol/": Request(form=PROTOCOL),
    f"POST {OPEN_ID}/transitions/": Request(form={"action": "submit", "comment": "Ок"}),
    f"POST {OPEN_ID}/forward/": Request(form={"department": "B", "reason": "Не наш"}),
    f"POST {OPEN_ID}/extend/": Request(form={"days": 10, "reason": "Запрос в орган"}),
    f"POST {OPEN_ID}/data/": Request(form={"snils": matrix.SNILS}),
    f"POST {OPEN_ID}/acknowledge/": SIGNED,
    f"GET {OPEN_ID}/protocol.pdf": SIGNED,
    f"GET {API_OPEN}/data-request": REQUESTED,
    f"POST {API_OPEN}/data-request": Request(json=DATA_REQUEST),
    f"POST {API_OPEN}/data-request/answer": Request(
        target="requested", json={"values": {}}
    ),
    f"PUT {API_OPEN}/documents/{{document_id}}": Request(
        target="requested", json={"status": "accepted"}
    ),
    f"PUT {API}/me/prefill-consent": Request(json={"enabled": True}),
    f"POST {OPEN_ID}/data-request/": Request(
        form={**DATA_REQUEST, "documents": "Справка о доходах"}
    ),
    f"POST {OPEN_ID}/data-request/answer/": Request(target="requested", form={}),
    f"POST {OPEN_ID}/documents/{{document_id}}/": Request(
        target="requested", form={"status": "accepted"}
    ),
    f"POST {OPEN_ID}/documents/{{document_id}}/file/": Request(
        target="requested", file=True
    ),
    "POST /my/identifiers/prefill/": Request(form={"enabled": "on"}),
    "GET /login/oidc/{provider}/": Request(params={"provider": "citizen"}),
    "GET /login/oidc/{provider}/callback/": Request(params={"provider": "citizen"}),
    # No copy job exists in the matrix, so every signed-in actor gets 404.
    "GET /api/v1/copy-jobs/{token}": Request(params={"token": "0" * 32}),
    "GET /copy-jobs/{token}/": Request(params={"token": "0" * 32}),
    "GET /copy-jobs/{token}/file/": Request(params={"token": "0" * 32}),
    "GET /pki/ocsp/{encoded}": Request(params={"encoded": "AAAA"}),
}

REQUESTS.update(matrix.dispute_and_privacy_requests())
REQUESTS.update(matrix.admin_requests(matrix.url_routes()))

TABLE_PATH = Path(__file__).with_name("access_matrix.txt")


def parse_table(text: str) -> dict[str, dict[str, str]]:
    """Return {route: {column: code}} from the table text."""
    rows = {}
    for line in text.strip().splitlines():
        if line.startswith("#") and "anon" in line:
            assert line[1:].split() == COLUMNS, "the table's columns differ"
        if not line.strip() or line.startswith("#"):
            continue
        method, path, *codes = line.split()
        assert len(codes) == len(COLUMNS), f"{method} {path}: {len(codes)} codes"
        assert set(codes) <= set(matrix.CODES), f"{method} {path}: {codes}"
        rows[f"{method} {path}"] = dict(zip(COLUMNS, codes, strict=True))
    return rows


EXPECTED = parse_table(TABLE_PATH.read_text())


def test_every_route_has_a_row(db):
    operations, paths = matrix.discovered_routes()
    row_paths = {route.split(" ", 1)[1] for route in EXPECTED}

    missing = sorted(operations - set(EXPECTED)) + sorted(paths - row_paths)
    stale = sorted(
        route
        for route in EXPECTED
        if route not in operations and route.split(" ", 1)[1] not in paths
    )

    assert not missing, f"routes without a row in {TABLE_PATH.name}: {missing}"
    assert not stale, f"rows of {TABLE_PATH.name} without a route: {stale}"


@pytest.fixture
def setting(demo, pki_dir, master_key_file):
    """The accounts, targets and tokens shared by every row."""
    users = matrix.make_accounts(demo)
    users["auditor_pd"].user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_collecteddata", "view_attachment"],
            content_type__app_label="consultations",
        )
    )
    targets = matrix.make_targets(users)
    matrix.add_dispute(users, targets)
    matrix.add_retention_objects(users, targets)
    matrix.add_admin_objects(users, targets)
    return users, targets, matrix.tokens_for(users)


# ACCESS_MATRIX_RECORD=1 prints the observed row of every route, including
# routes without a row, instead of comparing; copy a row only after checking
# each of its codes by hand.
RECORD = bool(os.environ.get("ACCESS_MATRIX_RECORD"))


def _routes() -> list[str]:
    if not RECORD:
        return sorted(EXPECTED)
    operations, paths = matrix.discovered_routes()
    pages = {
        f"POST {path}" if f"POST {path}" in REQUESTS else f"GET {path}"
        for path in paths
    }
    return sorted(operations | pages)


def test_routes_answer_as_table(client, setting):
    users, targets, tokens = setting

    observed, leaks, silent, seen_by_readers = {}, [], [], set()
    for route in _routes():
        request = REQUESTS.get(route, Request())
        observed[route] = {}
        route_silent = []
        for actor in ACTORS:
            answer = matrix.call(client, route, request, actor, users, tokens, targets)
            observed[route][actor.column] = answer.code
            found = {marker for marker in MARKERS if marker in answer.text}
            if actor.column in PERSONAL_DATA_READERS:
                seen_by_readers |= found
            else:
                leaks += [f"{route} {actor.column}: {marker}" for marker in found]
            if answer.code in DENIED and actor.username and not answer.denials:
                route_silent.append(f"{route} {actor.column}")
        # A route that every actor gets 404 from with these parameters has no
        # such object, so its 404s are not denials.
        if set(observed[route].values()) & ANSWERED:
            silent += route_silent

    if RECORD:
        for route, codes in observed.items():
            print("ROW", route, " ".join(codes[column] for column in COLUMNS))
        return
    wrong = [
        f"{route} {column}: expected {EXPECTED[route][column]}, got {code}"
        for route, codes in observed.items()
        for column, code in codes.items()
        if EXPECTED[route][column] != code
    ]
    assert not wrong, "responses differ from the access matrix:\n" + "\n".join(wrong)
    assert not leaks, "personal data in responses:\n" + "\n".join(leaks)
    assert SNILS_DIGITS in seen_by_readers, "the leak check saw no personal data"
    assert not silent, "denials without an access:denied entry:\n" + "\n".join(silent)


DENIED = {matrix.HIDDEN, matrix.FORBIDDEN}
ANSWERED = {matrix.ALLOWED, matrix.NOT_LISTED}

# Columns whose responses may contain the personal data of the target.
PERSONAL_DATA_READERS = {"cit:own", "op:own", "op:dept", "rev:dept", "sup:dept"}
PERSONAL_DATA_READERS |= {"aud:granted"}
