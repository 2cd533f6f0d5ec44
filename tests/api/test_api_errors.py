"""Every API error is JSON {error, message, field} and leaves no rows behind."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from consultations.factories import PROTOCOL, consultation_in, upload
from protokol.consultations.models import Status

from .client import ERROR_KEYS, write_counts

NEW = {
    "service": "GEN",
    "subject": "Пособие на ребёнка",
    "description": "Какие документы нужны?",
}


def assert_error(response, status: int, code: str, field) -> dict:
    body = response.json()
    extra_keys = set()
    if code == "action_not_allowed":
        extra_keys = {"allowed_actions", "current_status"}
    assert response.status_code == status, body
    assert response["Content-Type"].startswith("application/json")
    assert set(body) == ERROR_KEYS | extra_keys
    assert body["error"] == code
    assert body["field"] == field
    assert isinstance(body["message"], str)
    assert body["message"] != ""
    return body


@pytest.fixture
def counts_unchanged(demo):
    """Check after the test that no failed request left rows behind."""
    holder = {}

    def snapshot():
        holder["before"] = write_counts()

    yield snapshot
    assert write_counts() == holder["before"]


# -- 422 on creating a consultation


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"subject": ""}, "subject"),
        ({"subject": "   "}, "subject"),
        ({"subject": "x" * 301}, "subject"),
        ({"subject": "Вопрос\x07"}, "subject"),
        ({"description": "x" * 20_001}, "description"),
        ({"service": "NOPE"}, "service"),
        ({"subject": 5}, "subject"),
        ({"description": ["a"]}, "description"),
        ({"service": None}, "service"),
        ({"priority": "high"}, "priority"),
    ],
)
def test_create_invalid_input_rejected(api, counts_unchanged, change, field):
    client = api("citizen")
    counts_unchanged()

    response = client.post("/consultations", {**NEW, **change})

    assert_error(response, 422, "validation_failed", field)


INVISIBLE = (
    "subject contains only invisible characters, such as zero-width spaces; "
    "type visible text."
)


@pytest.mark.parametrize("subject", ["\u200b", " \ufeff\u200d ", "\u3164", "\u00ad"])
def test_create_invisible_subject_rejected(
    api, english_pages, counts_unchanged, subject
):
    client = api("citizen")
    counts_unchanged()

    response = client.post("/consultations", {**NEW, "subject": subject})

    error = assert_error(response, 422, "validation_failed", "subject")
    assert error["message"] == INVISIBLE


def test_create_subject_with_joiner_allowed(api):
    subject = "Семья 👨\u200d👩\u200d👧: пособие"

    response = api("citizen").post("/consultations", {**NEW, "subject": subject})

    assert response.status_code == 201, response.content
    assert response.json()["subject"] == subject


@pytest.mark.parametrize("missing", ["service", "subject", "description"])
def test_create_missing_field_rejected(api, counts_unchanged, missing):
    client = api("citizen")
    counts_unchanged()
    body = {name: value for name, value in NEW.items() if name != missing}

    response = client.post("/consultations", body)

    assert_error(response, 422, "validation_failed", missing)


def test_create_description_at_limit_allowed(api):
    response = api("citizen").post(
        "/consultations", {**NEW, "description": "x" * 20_000}
    )

    assert response.status_code == 201


@pytest.mark.parametrize(
    ("body", "position"),
    [
        (b"{bad", "line 1, column 2"),
        (b'{"subject": "x",\n}', "line 2, column 1"),
    ],
)
def test_create_malformed_json_rejected(
    api, english_pages, counts_unchanged, body, position
):
    client = api("citizen")
    counts_unchanged()

    response = client.post_raw("/consultations", body, "application/json")

    error = assert_error(response, 400, "bad_request", "body")
    assert error["message"] == (
        f"The request body is not valid JSON ({position}); send a JSON object "
        "with the fields of this request."
    )


def test_create_body_not_utf8_rejected(api, english_pages, counts_unchanged):
    client = api("citizen")
    counts_unchanged()

    response = client.post_raw(
        "/consultations", '{"subject": "Тема"}'.encode("cp1251"), "application/json"
    )

    error = assert_error(response, 400, "bad_request", "body")
    assert error["message"] == (
        "The request body is not JSON in UTF-8; send a JSON object with the "
        "fields of this request."
    )


NOT_AN_OBJECT = (
    "The request body must be a JSON object with the fields of this request, "
    "not a list, string, number or null."
)


@pytest.mark.parametrize(
    "body", [b"[]", b'[{"subject": "x"}]', b'"text"', b"5", b"null"]
)
def test_body_not_object_rejected(api, english_pages, counts_unchanged, body):
    client = api("citizen")
    counts_unchanged()

    response = client.post_raw("/consultations", body, "application/json")

    error = assert_error(response, 422, "validation_failed", "body")
    assert error["message"] == NOT_AN_OBJECT


def test_empty_body_rejected(api, english_pages, counts_unchanged):
    client = api("citizen")
    counts_unchanged()

    response = client.post_raw("/consultations", b"", "application/json")

    error = assert_error(response, 422, "validation_failed", "body")
    assert error["message"] == (
        "The request body is empty; send a JSON object with the fields of this request."
    )


def test_body_over_memory_limit_rejected(
    api, english_pages, settings, counts_unchanged
):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    client = api("citizen")
    counts_unchanged()
    body = {**NEW, "description": "x" * 1000}

    response = client.post("/consultations", body)

    error = assert_error(response, 413, "payload_too_large", "body")
    assert error["message"] == (
        "The request body is 1150 bytes, more than the 1000 bytes accepted; "
        "shorten the text fields."
    )


def test_upload_as_raw_body_too_large_rejected(
    api, consultation, settings, counts_unchanged, small_uploads
):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    client = api("citizen")
    counts_unchanged()

    response = client.post_raw(
        f"/consultations/{consultation.pk}/attachments",
        b"\\u0000" * 20_000,
        "application/octet-stream",
    )

    assert_error(response, 413, "payload_too_large", "file")


def test_wrong_method_is_json_405(api, counts_unchanged):
    client = api("citizen")
    counts_unchanged()

    response = client.client.delete("/api/v1/consultations", **client.headers)

    assert_error(response, 405, "method_not_allowed", None)
    assert response["Allow"] == "GET, POST"
    assert "GET, POST" in response.json()["message"]


def test_create_by_staff_forbidden(api, counts_unchanged):
    client = api("operator")
    counts_unchanged()

    response = client.post("/consultations", NEW)

    assert_error(response, 403, "forbidden", None)


# -- 422 on lists


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": -5}, "limit"),
        ({"limit": "abc"}, "limit"),
        ({"offset": -1}, "offset"),
        ({"offset": "x"}, "offset"),
        ({"offset": 2**63}, "offset"),
        ({"offset": 10**20}, "offset"),
        ({"status": "lost"}, "status"),
        ({"service": "NOPE"}, "service"),
        ({"department": "nowhere"}, "department"),
    ],
)
def test_list_invalid_params_rejected(api, counts_unchanged, params, field):
    client = api("citizen")
    counts_unchanged()

    response = client.get("/consultations", **params)

    assert_error(response, 422, "validation_failed", field)


# -- 403 and 409 on transitions


def test_transition_wrong_role_forbidden(api, consultation, counts_unchanged):
    client = api("operator")
    counts_unchanged()

    response = client.post(
        f"/consultations/{consultation.pk}/transitions", {"action": "approve"}
    )

    assert_error(response, 403, "forbidden", "action")


def test_transition_wrong_status_conflict(api, consultation, counts_unchanged):
    client = api("operator")
    counts_unchanged()

    response = client.post(
        f"/consultations/{consultation.pk}/transitions", {"action": "submit"}
    )

    body = assert_error(response, 409, "action_not_allowed", "action")
    assert body["allowed_actions"] == ["request_data", "take"]
    assert body["current_status"] == "initiated"


def test_transition_in_final_status_lists_none(api, demo, counts_unchanged):
    consultation = consultation_in(demo, Status.WITHDRAWN)
    client = api("operator")
    counts_unchanged()

    response = client.post(
        f"/consultations/{consultation.pk}/transitions", {"action": "take"}
    )

    body = assert_error(response, 409, "action_not_allowed", "action")
    assert body["allowed_actions"] == []
    assert body["current_status"] == "withdrawn"


def test_submit_without_draft_conflict(api, consultation, counts_unchanged):
    client = api("operator")
    client.post(f"/consultations/{consultation.pk}/transitions", {"action": "take"})
    counts_unchanged()

    response = client.post(
        f"/consultations/{consultation.pk}/transitions", {"action": "submit"}
    )

    assert_error(response, 409, "conflict", "protocol")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "request_data"}, "comment"),
        ({"action": "request_data", "comment": "  "}, "comment"),
        ({"action": "erase"}, "action"),
        ({"action": 1}, "action"),
        ({}, "action"),
        ({"action": "take", "force": True}, "force"),
    ],
)
def test_transition_invalid_body_rejected(
    api, consultation, counts_unchanged, body, field
):
    client = api("operator")
    counts_unchanged()

    response = client.post(f"/consultations/{consultation.pk}/transitions", body)

    assert_error(response, 422, "validation_failed", field)


# -- messages and protocol


def test_internal_message_by_citizen_forbidden(api, consultation, counts_unchanged):
    client = api("citizen")
    counts_unchanged()

    response = client.post(
        f"/consultations/{consultation.pk}/messages",
        {"text": "Тайна", "visibility": "internal"},
    )

    assert_error(response, 403, "forbidden", "visibility")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": ""}, "text"),
        ({"text": "x" * 20_001}, "text"),
        ({"text": 42}, "text"),
        ({"text": "Текст", "visibility": "everyone"}, "visibility"),
        ({"text": "Текст", "to": "operator"}, "to"),
    ],
)
def test_message_invalid_body_rejected(
    api, consultation, counts_unchanged, body, field
):
    client = api("citizen")
    counts_unchanged()

    response = client.post(f"/consultations/{consultation.pk}/messages", body)

    assert_error(response, 422, "validation_failed", field)


@pytest.mark.parametrize("status", [Status.SIGNED, Status.ARCHIVED, Status.DISPUTED])
def test_message_after_signing_conflict(api, demo, counts_unchanged, status):
    consultation = consultation_in(demo, status)
    client = api("citizen")
    counts_unchanged()

    response = client.post(
        f"/consultations/{consultation.pk}/messages", {"text": "Ещё вопрос"}
    )

    assert_error(response, 409, "conflict", "status")


@pytest.mark.parametrize("status", [Status.SIGNED, Status.ARCHIVED, Status.DISPUTED])
def test_protocol_after_signing_conflict(api, demo, counts_unchanged, status):
    consultation = consultation_in(demo, status)
    client = api("operator")
    counts_unchanged()

    response = client.put(f"/consultations/{consultation.pk}/protocol", PROTOCOL)

    assert_error(response, 409, "conflict", "status")


@pytest.mark.parametrize("status", [Status.SIGNED, Status.ARCHIVED, Status.DISPUTED])
def test_upload_after_signing_conflict(api, demo, counts_unchanged, status):
    consultation = consultation_in(demo, status)
    client = api("citizen")
    counts_unchanged()

    response = client.upload(f"/consultations/{consultation.pk}/attachments", upload())

    assert_error(response, 409, "conflict", "status")


def test_protocol_by_auditor_forbidden(api, consultation, counts_unchanged):
    client = api("auditor")
    counts_unchanged()

    response = client.put(f"/consultations/{consultation.pk}/protocol", PROTOCOL)

    assert_error(response, 403, "forbidden", None)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"question": ""}, "question"),
        ({"decision": None}, "decision"),
        ({"decision": "Выплата \u202e00001\u202c руб. назначена"}, "decision"),
        ({"recommendations": "См. \u2067раздел\u2069"}, "recommendations"),
        ({"version": 7}, "version"),
    ],
)
def test_protocol_invalid_body_rejected(
    api, consultation, counts_unchanged, change, field
):
    client = api("operator")
    counts_unchanged()

    response = client.put(
        f"/consultations/{consultation.pk}/protocol", {**PROTOCOL, **change}
    )

    assert_error(response, 422, "validation_failed", field)


def test_forward_same_department_rejected(api, consultation, counts_unchanged):
    client = api("operator")
    counts_unchanged()

    response = client.post(
        f"/consultations/{consultation.pk}/forward",
        {"department": "A", "reason": "Тот же отдел"},
    )

    assert_error(response, 422, "validation_failed", "department")


# -- uploads


@pytest.fixture
def small_uploads(settings, monkeypatch):
    """Limit uploads to 1,000 bytes."""
    monkeypatch.setattr(settings.CONFIG, "max_upload_bytes", 1000)


def test_upload_too_large_rejected(api, consultation, counts_unchanged, small_uploads):
    client = api("citizen")
    counts_unchanged()

    response = client.upload(
        f"/consultations/{consultation.pk}/attachments", upload(content=b"x" * 1001)
    )

    assert_error(response, 413, "payload_too_large", "file")


def test_upload_body_too_large_rejected_early(
    api, consultation, counts_unchanged, small_uploads
):
    client = api("citizen")
    counts_unchanged()

    response = client.upload(
        f"/consultations/{consultation.pk}/attachments",
        upload(content=b"x" * (70 * 1024)),
    )

    assert_error(response, 413, "payload_too_large", "file")


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("setup.exe", "application/x-msdownload"),
        ("page.html", "text/html"),
        ("script.js", "application/javascript"),
    ],
)
def test_upload_unlisted_type_rejected(
    api, consultation, counts_unchanged, name, content_type
):
    client = api("citizen")
    counts_unchanged()

    response = client.upload(
        f"/consultations/{consultation.pk}/attachments",
        SimpleUploadedFile(name, b"MZ\x90\x00", content_type=content_type),
    )

    assert_error(response, 415, "unsupported_media_type", "file")


def test_upload_without_file_rejected(api, consultation, counts_unchanged):
    client = api("citizen")
    counts_unchanged()

    response = client.post_raw(
        f"/consultations/{consultation.pk}/attachments",
        b'--b\r\nContent-Disposition: form-data; name="x"\r\n\r\n1\r\n--b--\r\n',
        "multipart/form-data; boundary=b",
    )

    assert_error(response, 422, "validation_failed", "file")


def test_upload_empty_file_rejected(api, consultation, counts_unchanged):
    client = api("citizen")
    counts_unchanged()

    response = client.upload(
        f"/consultations/{consultation.pk}/attachments", upload(content=b"")
    )

    assert_error(response, 422, "validation_failed", "file")


# -- 404


@pytest.mark.parametrize(
    "path",
    [
        "/consultations/424242",
        "/consultations/424242/protocol",
        "/consultations/424242/journal",
        "/consultations/424242/attachments/1",
    ],
)
def test_missing_consultation_not_found(api, path):
    response = api("supervisor").get(path)

    assert_error(response, 404, "not_found", "consultation_id")


def test_non_numeric_id_rejected(api):
    response = api("supervisor").get("/consultations/abc")

    assert_error(response, 422, "validation_failed", "consultation_id")


@pytest.mark.parametrize("typed", ["{}.0", "+{}", "%20{}", "{}%20", "0{}_0", "{}e0"])
@pytest.mark.parametrize("suffix", ["", "/protocol.pdf", "/signatures", "/journal"])
def test_non_decimal_id_rejected(api, consultation, typed, suffix):
    path = "/consultations/" + typed.format(consultation.pk) + suffix

    response = api("supervisor").get(path)

    assert_error(response, 422, "validation_failed", "consultation_id")


def test_integer_path_parameters_strict(api, english_pages):
    from protokol.api.api import api as protokol_api

    admin = api("admin")
    schema = protokol_api.get_openapi_schema()
    checked = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            parameters = [
                parameter["name"]
                for parameter in operation.get("parameters", [])
                if parameter["in"] == "path"
                and parameter["schema"].get("type") == "integer"
            ]
            for name in parameters:
                url = path.replace("{" + name + "}", "1.0")
                for other in parameters:
                    url = url.replace("{" + other + "}", "1")
                response = admin.client.generic(
                    method.upper(),
                    url,
                    "{}",
                    content_type="application/json",
                    **admin.headers,
                )
                checked.append((method, path, name))
                assert response.status_code == 422, (method, url, response.content)
                body = response.json()
                assert body["field"] == name, (method, url, body)
                assert body["message"] == f"{name} must be an integer.", body

    # 38 integer path parameters when this was written; new ones add to it.
    assert len(checked) >= 38


def test_unknown_api_path_json_not_found(api):
    response = api("supervisor").get("/no-such-endpoint")

    assert_error(response, 404, "not_found", None)


def test_boolean_parse_error_translated(api):
    response = api("citizen").get("/notifications", unread_only="maybe")

    body = assert_error(response, 422, "validation_failed", "unread_only")
    assert body["message"] == "Поле «unread_only» должно быть true или false."


@pytest.mark.parametrize(
    ("path", "body", "field", "message"),
    [
        ("/notifications/read", {"ids": 17}, "ids", "ids must be a list."),
        (
            "/consultations/1/data",
            {"values": []},
            "values",
            "values must be an object.",
        ),
    ],
)
def test_container_type_errors_named(api, english_pages, path, body, field, message):
    client = api("citizen")
    send = client.post if path.endswith("read") else client.put

    response = send(path, body)

    error = assert_error(response, 422, "validation_failed", field)
    assert error["message"] == message
