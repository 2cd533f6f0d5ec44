"""Pages of appeals imported from the city portal, and the queue's columns."""

import html
import re

import pytest

from protokol.consultations import services
from protokol.consultations.models import Status
from protokol.web.consultation_views import _progress_steps

from .portal_appeal import (
    ANSWER,
    CLOSED_STATUS,
    REVIEW,
    SECOND_ORGANISATION,
    import_portal_appeal,
)


def page_text(client, consultation) -> str:
    """Return the consultation page's HTML with entities decoded."""
    response = client.get(f"/consultations/{consultation.pk}/")
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def timeline_text(page: str) -> str:
    start = page.index('id="timeline"')
    return page[start : page.index("</section>", start)]


def steps_by_state(steps: list[dict]) -> dict[str, list[str]]:
    states: dict[str, list[str]] = {}
    for step in steps:
        states.setdefault(step["state"], []).append(step["status"])
    return states


@pytest.fixture
def archived_appeal(demo, tmp_path):
    return import_portal_appeal(tmp_path)


@pytest.fixture
def disputed_appeal(demo, tmp_path):
    return import_portal_appeal(tmp_path, disputed=True)


def test_imported_timeline_shows_portal_statuses(login_as, archived_appeal):
    timeline = timeline_text(page_text(login_as("supervisor"), archived_appeal))

    assert "Модерация" in timeline
    assert "Рассмотрение" in timeline
    assert "Получен ответ" in timeline
    assert CLOSED_STATUS in timeline


def test_imported_timeline_shows_category_change(login_as, archived_appeal):
    timeline = timeline_text(page_text(login_as("supervisor"), archived_appeal))

    assert (
        "Благоустройство: Мусор на газонах вдоль проезжей части (Улица) → "
        "Благоустройство: Мусор на внутридворовой территории (Двор)"
    ) in timeline


def test_imported_timeline_shows_deadlines(login_as, archived_appeal):
    timeline = timeline_text(page_text(login_as("supervisor"), archived_appeal))

    assert "22.04.2021 → 26.04.2021" in timeline
    assert "26.04.2021 → 28.04.2021" in timeline


def test_imported_timeline_shows_forward_organisations(login_as, archived_appeal):
    timeline = timeline_text(page_text(login_as("supervisor"), archived_appeal))

    assert f"СПб ГКУ ЖА Пушкинского района → {SECOND_ORGANISATION}" in timeline


def test_imported_timeline_shows_portal_note(login_as, archived_appeal):
    timeline = timeline_text(page_text(login_as("supervisor"), archived_appeal))

    assert "Отзыв народного контролёра" in timeline
    assert REVIEW in timeline
    assert re.search(r"Проблема решена</dt><dd>да</dd>", timeline)


def test_imported_timeline_in_english(login_as, archived_appeal):
    client = login_as("supervisor")
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})

    timeline = timeline_text(page_text(client, archived_appeal))

    assert "Portal status" in timeline
    assert "Category" in timeline
    assert "Public controller's review" in timeline


def test_imported_page_names_answer_on_portal(login_as, archived_appeal):
    page = page_text(login_as("supervisor"), archived_appeal)

    assert ANSWER in page
    assert "ответ дан в переписке на городском портале" in page
    assert "Протокол ещё не составлен." not in page


def test_local_page_without_protocol_says_not_drawn_up(login_as, consultation):
    page = page_text(login_as("operator"), consultation)

    assert "Протокол ещё не составлен." in page
    assert "на городском портале" not in page


def test_imported_page_department_answers(login_as, archived_appeal):
    page = page_text(login_as("supervisor"), archived_appeal)
    assignee = re.search(r"Исполнитель</dt><dd>(.*?)</dd>", page).group(1)

    assert SECOND_ORGANISATION in assignee
    assert "отвечает отдел" in assignee
    assert "не назначен" not in assignee


def test_local_page_assignee_not_set(login_as, consultation):
    page = page_text(login_as("operator"), consultation)

    assert re.search(r"Исполнитель</dt><dd>не назначен</dd>", page)


@pytest.mark.parametrize(
    "imported, note",
    [
        ("archived_appeal", "Консультация в архиве: переписка закрыта."),
        ("disputed_appeal", "Ответ оспорен: переписка закрыта"),
    ],
)
def test_sealed_note_matches_status(login_as, request, imported, note):
    appeal = request.getfixturevalue(imported)
    page = page_text(login_as("supervisor"), appeal)

    assert appeal.status == imported.removesuffix("_appeal")
    assert note in page
    assert "Протокол подписан: переписка закрыта." not in page


def test_sealed_note_for_signed(login_as, demo, consultation):
    operator, reviewer = demo["operator"], demo["reviewer"]
    services.transition(operator, consultation.pk, action="take")
    from protokol.protocols.services import save_protocol

    save_protocol(
        operator,
        consultation.pk,
        question="Вопрос",
        documents="",
        recommendations="Ответ",
        decision="Консультация дана",
        decision_reason="Закон",
    )
    for actor, action in [(operator, "submit"), (reviewer, "approve")]:
        services.transition(actor, consultation.pk, action=action)
    services.transition(reviewer, consultation.pk, action="sign")

    page = page_text(login_as("citizen"), consultation)

    assert "Протокол подписан: переписка закрыта." in page


def test_draft_pdf_link_before_signing(login_as, consultation):
    page = page_text(login_as("citizen"), consultation)

    assert "Проект протокола (PDF):" in page
    assert "Копия протокола (PDF):" not in page


def test_copy_pdf_link_after_closure(login_as, archived_appeal):
    page = page_text(login_as("supervisor"), archived_appeal)

    assert "Копия протокола (PDF):" in page
    assert "Проект протокола (PDF):" not in page


def test_progress_imported_skips_review(archived_appeal):
    transitions = list(archived_appeal.transitions.values("to_status"))

    states = steps_by_state(_progress_steps(archived_appeal.status, transitions))

    assert states["done"] == ["initiated", "drafting", "signed"]
    assert states["skipped"] == ["in_review", "approved"]
    assert states["current"] == ["archived"]
    assert "ahead" not in states


def test_progress_disputed_after_archive(disputed_appeal):
    transitions = list(disputed_appeal.transitions.values("to_status"))

    steps = _progress_steps(disputed_appeal.status, transitions)

    assert [step["status"] for step in steps][-2:] == ["archived", "disputed"]
    assert steps[-1]["state"] == "current"
    assert steps[-2]["state"] == "done"


def test_progress_new_consultation():
    steps = steps_by_state(_progress_steps(Status.INITIATED, []))

    assert steps["current"] == ["initiated"]
    assert steps["ahead"] == ["drafting", "in_review", "approved", "signed", "archived"]


def test_progress_withdrawn_has_nothing_ahead():
    transitions = [{"to_status": "drafting"}, {"to_status": "withdrawn"}]

    steps = _progress_steps(Status.WITHDRAWN, transitions)

    assert [step["status"] for step in steps] == ["initiated", "drafting", "withdrawn"]
    assert steps[-1]["state"] == "current"


def test_progress_returned_step_ahead_again():
    transitions = [
        {"to_status": "drafting"},
        {"to_status": "in_review"},
        {"to_status": "drafting"},
    ]

    states = steps_by_state(_progress_steps(Status.DRAFTING, transitions))

    assert states["done"] == ["initiated"]
    assert states["current"] == ["drafting"]
    assert "in_review" in states["ahead"]


def test_progress_data_requested_after_drafting():
    transitions = [{"to_status": "drafting"}, {"to_status": "data_requested"}]

    steps = _progress_steps(Status.DATA_REQUESTED, transitions)

    assert [step["status"] for step in steps][:3] == [
        "initiated",
        "drafting",
        "data_requested",
    ]
    assert steps[2]["state"] == "current"


def test_queue_shows_names_not_codes(login_as, consultation):
    page = html.unescape(login_as("supervisor").get("/queue/").content.decode())
    row = page[page.index(consultation.number) :]
    row = row[: row.index("</tr>")]

    assert "Общая консультация" in row
    assert "Отдел консультаций по социальным вопросам" in row
    assert "<td>GEN</td>" not in row
    assert "<td>A</td>" not in row


def test_queue_shows_english_names(login_as, consultation):
    client = login_as("supervisor")
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})

    page = html.unescape(client.get("/queue/").content.decode())

    assert "General consultation" in page
    assert "Social affairs desk" in page


def test_queue_shows_imported_service_name(login_as, archived_appeal):
    page = html.unescape(login_as("supervisor").get("/queue/").content.decode())

    assert "<td>Благоустройство</td>" in page
    assert f"<td>{SECOND_ORGANISATION}</td>" in page
    assert "spb-" not in page


def test_pages_link_inline_favicon(login_as, consultation):
    page = login_as("citizen").get(f"/consultations/{consultation.pk}/")

    assert '<link rel="icon" href="data:,">' in page.content.decode()
