"""Versions over the API: a reply based on an old version gets 409."""

from protokol.consultations.models import Message

from .client import ERROR_KEYS, write_counts


def test_version_in_detail_and_list(api, consultation):
    operator = api("operator")

    detail = operator.get(f"/consultations/{consultation.pk}").json()
    listed = operator.get("/consultations").json()["items"]

    assert detail["version"] == 1
    assert [item["version"] for item in listed] == [1]


def test_second_reply_on_old_version_is_409(api, consultation):
    path = f"/consultations/{consultation.pk}"
    first, second = api("operator"), api("supervisor")
    version = first.get(path).json()["version"]
    assert second.get(path).json()["version"] == version

    ok = first.post(
        f"{path}/messages", {"text": "Первый ответ", "base_version": version}
    )
    counts = write_counts()
    late = second.post(
        f"{path}/messages", {"text": "Второй ответ", "base_version": version}
    )

    assert ok.status_code == 201
    assert ok.json()["consultation_version"] == version + 1
    assert late.status_code == 409
    body = late.json()
    assert set(body) == ERROR_KEYS | {"current_version", "current_status"}
    assert body["error"] == "stale_version"
    assert body["field"] == "base_version"
    assert body["current_version"] == version + 1
    assert body["current_status"] == "initiated"
    assert write_counts() == counts
    assert list(Message.objects.values_list("text", flat=True)) == ["Первый ответ"]


def test_stale_transition_forward_and_protocol_are_409(api, consultation):
    path = f"/consultations/{consultation.pk}"
    operator = api("operator")
    assert operator.post(f"{path}/transitions", {"action": "take"}).status_code == 200
    counts = write_counts()

    responses = [
        operator.post(f"{path}/transitions", {"action": "withdraw", "base_version": 1}),
        operator.post(
            f"{path}/forward",
            {"department": "B", "reason": "Не наш", "base_version": 1},
        ),
        operator.put(
            f"{path}/protocol",
            {
                "question": "Вопрос",
                "recommendations": "Рекомендации",
                "decision": "Решение",
                "decision_reason": "Основание",
                "base_version": 1,
            },
        ),
    ]

    assert [r.status_code for r in responses] == [409, 409, 409]
    assert {r.json()["current_version"] for r in responses} == {2}
    assert {r.json()["current_status"] for r in responses} == {"drafting"}
    assert write_counts() == counts


def test_writes_without_base_version_still_work(api, consultation):
    path = f"/consultations/{consultation.pk}"
    operator = api("operator")

    taken = operator.post(f"{path}/transitions", {"action": "take"})
    replied = operator.post(f"{path}/messages", {"text": "Ответ"})

    assert taken.status_code == 200
    assert taken.json()["version"] == 2
    assert replied.json()["consultation_version"] == 3


def test_base_version_below_one_is_422(api, consultation):
    response = api("operator").post(
        f"/consultations/{consultation.pk}/messages",
        {"text": "Ответ", "base_version": 0},
    )

    assert response.status_code == 422
    assert response.json()["field"] == "base_version"
    assert not Message.objects.exists()


def test_base_version_must_be_an_integer(api, consultation):
    response = api("operator").post(
        f"/consultations/{consultation.pk}/messages",
        {"text": "Ответ", "base_version": "1"},
    )

    assert response.status_code == 422
    assert response.json()["field"] == "base_version"
    assert not Message.objects.exists()
