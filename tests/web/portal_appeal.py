"""A small appeal of the city portal, imported through protokol.imports.services.

The appeal goes through moderation, a category change, a forward, a deadline
change, an answer and a closure with a public controller's review, so every
kind of imported step is in its timeline. `disputed=True` adds a follow-up
petition after the closure, which the importer records as a dispute.
"""

import json

from protokol.consultations.models import Consultation
from protokol.imports.services import import_appeals

SOURCE_ID = "spb-0000000000a1"
CLOSED_STATUS = "Завершено: Пользователь удовлетворен решением проблемы"
OLD_CATEGORY = {
    "object_type": "Улица",
    "category": "Благоустройство",
    "reason": "Мусор на газонах вдоль проезжей части",
}
NEW_CATEGORY = {
    "object_type": "Двор",
    "category": "Благоустройство",
    "reason": "Мусор на внутридворовой территории",
}
FIRST_ORGANISATION = "СПб ГКУ ЖА Пушкинского района"
SECOND_ORGANISATION = "Администрация Пушкинского района"
ANSWER = "Мусор вывезен, территория убрана."
REVIEW = "Молодцы!"


def _event(kind: str, at: str, **fields) -> dict:
    return {"type": kind, "at": f"2021-04-{at}+03:00", **fields}


def appeal_record(*, disputed: bool = False) -> dict:
    """Return the appeal as a dict in the format of protokol.imports.schema."""
    events = [
        _event(
            "petition",
            "14T21:35:26",
            actor_kind="citizen",
            round=1,
            text="Мусор на газоне.",
            status_name="Рассмотрение",
        ),
        _event(
            "status",
            "14T21:35:26",
            actor_kind="system",
            status_name="Модерация",
            status_code=1,
        ),
        _event(
            "category_change",
            "15T17:01:45",
            actor_kind="system",
            old_category=OLD_CATEGORY,
            new_category=NEW_CATEGORY,
        ),
        _event(
            "status",
            "15T17:01:55",
            actor_kind="moderator",
            status_name="Рассмотрение",
            status_code=3,
        ),
        _event(
            "forward",
            "16T15:03:47",
            actor_kind="organisation",
            from_organisation={"coordinator": FIRST_ORGANISATION},
            to_organisation={"coordinator": SECOND_ORGANISATION},
            old_deadline="2021-04-22",
            new_deadline="2021-04-26",
            text="Сообщение передано по принадлежности вопроса.",
        ),
        _event(
            "deadline_change",
            "17T10:00:00",
            actor_kind="system",
            old_deadline="2021-04-26T23:59:59+03:00",
            new_deadline="2021-04-28T23:59:59+03:00",
        ),
        _event(
            "answer",
            "20T12:00:00",
            actor_kind="organisation",
            organisation=SECOND_ORGANISATION,
            text=ANSWER,
        ),
        _event(
            "status",
            "20T12:00:01",
            actor_kind="system",
            status_name="Получен ответ",
            status_code=5,
        ),
        _event(
            "status",
            "22T09:00:00",
            actor_kind="citizen",
            status_name=CLOSED_STATUS,
            status_code=7,
        ),
        _event(
            "other",
            "22T09:05:00",
            actor_kind="citizen",
            subtype="public_controller_review",
            text=REVIEW,
            status_name="Принято",
            is_resolved=True,
        ),
    ]
    if disputed:
        events.append(
            _event(
                "petition",
                "23T08:00:00",
                actor_kind="citizen",
                round=2,
                text="Мусор снова на газоне.",
                status_name="Модерация",
                subtype="on_moderation",
            )
        )
    return {
        "source_id": SOURCE_ID,
        "district": "Пушкинский",
        "category": NEW_CATEGORY,
        "initial_category": OLD_CATEGORY,
        "created_at": "2021-04-14T21:35:26+03:00",
        "final_status": CLOSED_STATUS,
        "final_status_at": "2021-04-22T09:00:00+03:00",
        "closed": True,
        "organisations": {
            "answering": [SECOND_ORGANISATION],
            "responsible": {"coordinator": SECOND_ORGANISATION},
        },
        "events": events,
    }


def import_portal_appeal(tmp_path, *, disputed: bool = False) -> Consultation:
    """Import the appeal from a one-line JSONL file and return its consultation."""
    path = tmp_path / "appeal.jsonl"
    record = appeal_record(disputed=disputed)
    path.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    report = import_appeals(path)
    assert report.imported == 1, report.problems
    return Consultation.objects.get(external_ref=SOURCE_ID)
