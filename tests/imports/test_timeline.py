"""The replay of portal events, on small hand-made appeals."""

import json
from datetime import datetime

import pytest

from protokol.imports.schema import InvalidAppeal, parse_appeal
from protokol.imports.services import appeal_deadline
from protokol.imports.timeline import build_timeline

CITY = "Администрация района"
AGENCY = "СПб ГКУ ЖА района"


def _at(day: int, hour: int = 12) -> str:
    return f"2021-03-{day:02d}T{hour:02d}:00:00+03:00"


def _petition(day, status_name, round_=1, **extra):
    return {
        "type": "petition",
        "at": _at(day),
        "actor_kind": "citizen",
        "round": round_,
        "text": f"Обращение, раунд {round_}",
        "status_name": status_name,
        **extra,
    }


def _status(day, name, code, actor_kind="moderator", hour=13):
    return {
        "type": "status",
        "at": _at(day, hour),
        "actor_kind": actor_kind,
        "status_name": name,
        "status_code": code,
    }


def _answer(day, kind="answer", **extra):
    return {
        "type": kind,
        "at": _at(day, 10),
        "actor_kind": "organisation",
        "organisation": AGENCY,
        "text": "Работы выполнены.",
        "status_name": "Принят",
        **extra,
    }


def _appeal(events, **fields):
    record = {
        "source_id": "spb-0123456789ab",
        "district": "Невский",
        "category": {"object_type": "Дом", "category": "Кровля", "reason": "Течь"},
        "created_at": _at(1),
        "final_status": "Рассмотрение",
        "final_status_at": _at(1),
        "organisations": {"answering": [AGENCY], "responsible": {"executor": AGENCY}},
        "events": events,
        **fields,
    }
    return parse_appeal(json.dumps(record, ensure_ascii=False))


def _steps(timeline):
    return [(t.action, t.from_status, t.to_status) for t in timeline.transitions]


def test_rejected_answer_disputed_then_reopened():
    appeal = _appeal(
        [
            _petition(1, "Не удовлетворён"),
            _status(1, "Модерация", 1, "system"),
            _status(2, "Рассмотрение", 3),
            _answer(5),
            _status(5, "Получен ответ", 4),
            _petition(6, "Рассмотрение", round_=2),
            _status(6, "Модерация", 1, "system"),
            _status(7, "Рассмотрение", 3),
        ]
    )

    timeline = build_timeline(appeal, citizen_name="Заявитель")

    assert _steps(timeline) == [
        ("portal_status", "initiated", "initiated"),
        ("take", "initiated", "drafting"),
        ("sign", "drafting", "signed"),
        ("dispute", "signed", "disputed"),
        ("portal_status", "disputed", "disputed"),
        ("reopen", "disputed", "drafting"),
    ]
    assert timeline.status == "drafting"
    assert timeline.transitions[3].actor_name == "Заявитель"
    assert timeline.transitions[3].by_citizen
    assert timeline.transitions[3].details["answer_rejected"] is True


def test_closure_archives_by_citizen():
    appeal = _appeal(
        [
            _petition(1, "Получен ответ"),
            _status(1, "Модерация", 1, "system"),
            _status(2, "Рассмотрение", 3),
            _answer(5),
            _status(5, "Получен ответ", 4),
            _status(
                8,
                "Завершено: Пользователь удовлетворен решением проблемы",
                4,
                "citizen",
            ),
        ]
    )

    timeline = build_timeline(appeal, citizen_name="Заявитель")

    assert _steps(timeline)[-1] == ("archive", "signed", "archived")
    assert timeline.transitions[-1].by_citizen
    assert timeline.status == "archived"


def test_answer_returned_for_rework():
    rework = {
        "type": "other",
        "at": _at(5, 14),
        "actor_kind": "system",
        "subtype": "returned_for_rework",
        "text": "Ваше сообщение возвращено на доработку.",
    }
    appeal = _appeal(
        [
            _petition(1, "Получен ответ"),
            _status(1, "Модерация", 1, "system"),
            _status(2, "Рассмотрение", 3),
            _status(5, "Получен ответ", 4),
            _status(5, "Рассмотрение", 3, hour=14),
            rework,
        ]
    )

    timeline = build_timeline(appeal, citizen_name="Заявитель")

    assert _steps(timeline)[-2:] == [
        ("return", "signed", "drafting"),
        ("portal_note", "drafting", "drafting"),
    ]
    assert timeline.transitions[-1].comment == rework["text"]


def test_forward_moves_department():
    forward = {
        "type": "forward",
        "at": _at(3),
        "actor_kind": "organisation",
        "from_organisation": {"coordinator": CITY},
        "to_organisation": {"coordinator": AGENCY, "controller": CITY},
        "old_deadline": "2021-03-20",
        "new_deadline": "2021-03-25",
        "text": "Передано по принадлежности.",
    }
    appeal = _appeal(
        [
            _petition(1, "Рассмотрение"),
            _status(1, "Модерация", 1, "system"),
            _status(2, "Рассмотрение", 3),
            forward,
        ]
    )

    timeline = build_timeline(appeal, citizen_name="Заявитель")
    step = timeline.transitions[-1]

    assert step.action == "forward"
    assert step.department_before == CITY
    assert step.department_after == AGENCY
    assert step.actor_name == CITY
    assert step.details["new_deadline"] == "2021-03-25"
    assert timeline.transitions[0].department_before == CITY
    assert timeline.department == AGENCY


def test_interim_answer_and_files_in_text():
    appeal = _appeal(
        [
            _petition(1, "Промежуточный ответ", attachment_names=["фото.jpg"]),
            _status(1, "Модерация", 1, "system"),
            _status(2, "Рассмотрение", 3),
            _answer(4, "interim_answer", final_answer_due="2021-04-30", photo_count=2),
            _status(4, "Промежуточный ответ", 7),
        ]
    )

    timeline = build_timeline(appeal, citizen_name="Заявитель")
    petition, interim = timeline.messages

    assert "Вложения (файлы не перенесены): фото.jpg" in petition.text
    assert interim.text.startswith("Промежуточный ответ. ")
    assert "до 30.04.2021" in interim.text
    assert "Фотографий: 2" in interim.text
    assert interim.organisation == AGENCY
    assert timeline.status == "drafting"


def test_follow_up_on_moderation_stays_disputed():
    appeal = _appeal(
        [
            _petition(1, "Получен ответ"),
            _status(1, "Модерация", 1, "system"),
            _status(2, "Рассмотрение", 3),
            _answer(5),
            _status(5, "Получен ответ", 4),
            _petition(6, "Модерация", round_=2, subtype="on_moderation"),
            _status(6, "Модерация", 1, "system"),
        ]
    )

    timeline = build_timeline(appeal, citizen_name="Заявитель")

    assert timeline.status == "disputed"
    assert timeline.transitions[-2].details["on_moderation"] is True


def test_deadline_date_ends_day_in_moscow():
    events = [_petition(1, "Рассмотрение"), _status(1, "Модерация", 1, "system")]

    by_date = appeal_deadline(_appeal(events, last_deadline_set="2021-03-25"))
    by_default = appeal_deadline(_appeal(events))

    assert by_date.isoformat() == "2021-03-25T23:59:59+03:00"
    assert by_default == datetime.fromisoformat(_at(31))


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"created_at": "2021-03-01T12:00:00"}, "created_at"),
        ({"events": []}, "events"),
        ({"source_id": "../etc"}, "source_id"),
        ({"events": [_status(1, "Модерация", 1)]}, "no petition"),
    ],
)
def test_invalid_appeal_rejected(change, problem):
    fields = {"events": [_petition(1, "Рассмотрение")], **change}

    with pytest.raises(InvalidAppeal, match=problem):
        _appeal(**fields)
