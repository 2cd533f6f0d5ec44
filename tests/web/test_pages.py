"""Sign-in, home redirects, lists, the request form and the language switch."""

import pytest
from django.test import Client
from django.utils import translation
from django.utils.translation import gettext

from protokol.consultations import services
from protokol.consultations.models import Consultation
from protokol.journal.models import JournalEntry
from protokol.journal.services import with_payloads
from protokol.protocols.services import save_protocol
from protokol.web.views import CSRF_MESSAGE


def test_anonymous_home_redirects_to_login(client):
    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_login_page_renders(client, db):
    response = client.get("/login/")

    assert response.status_code == 200
    assert "Вход" in response.content.decode()
    assert "csrfmiddlewaretoken" in response.content.decode()


def test_login_form_signs_in_and_journals(client, demo):
    response = client.post("/login/", {"username": "citizen", "password": "demo"})

    assert response.status_code == 302
    assert response["Location"] == "/"
    entry = JournalEntry.objects.filter(action="user:login").last()
    assert entry.actor_id == demo["citizen"].pk
    assert entry.after == {"via": "web"}


def test_login_wrong_password_journals_failure(client, demo):
    response = client.post("/login/", {"username": "citizen", "password": "wrong"})

    assert response.status_code == 401
    assert "Неверное имя пользователя или пароль" in response.content.decode()
    assert 'name="username"' in response.content.decode()
    [entry] = with_payloads(
        [JournalEntry.objects.filter(action="user:login_failed").last()]
    )
    assert entry.object_label == "citizen"
    assert entry.after == {"via": "web"}
    assert "_auth_user_id" not in client.session


def test_login_empty_password_is_form_error(client, demo):
    response = client.post("/login/", {"username": "citizen", "password": ""})

    page = response.content.decode()
    assert response.status_code == 422
    assert 'id="id_password_error"' in page
    assert "Неверное имя пользователя или пароль" not in page


def test_login_ignores_foreign_next(client, demo):
    response = client.post(
        "/login/",
        {"username": "citizen", "password": "demo", "next": "https://example.org/"},
    )

    assert response["Location"] == "/"


def test_login_requires_csrf_token(demo):
    strict = Client(enforce_csrf_checks=True)

    response = strict.post("/login/", {"username": "citizen", "password": "demo"})

    assert response.status_code == 403


@pytest.mark.parametrize("language", ["ru", "en"])
def test_csrf_failure_page_asks_reload(demo, language):
    strict = Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE=language)

    response = strict.post("/login/", {"username": "citizen", "password": "demo"})

    page = response.content.decode()
    assert response.status_code == 403
    assert f'<html lang="{language}">' in page
    assert "DEBUG" not in page
    with translation.override(language):
        assert gettext(CSRF_MESSAGE) in page


def test_forbidden_page_links_home(login_as):
    response = login_as("operator").get("/admin/")

    page = response.content.decode()
    assert response.status_code == 403
    assert "У вас нет доступа к этой странице." in page
    assert 'href="/">На главную</a>' in page


def test_logout_needs_post(login_as):
    client = login_as("citizen")

    assert client.get("/logout/").status_code == 405
    response = client.post("/logout/")
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize(
    ("username", "target"),
    [
        ("citizen", "/my/"),
        ("operator", "/queue/"),
        ("reviewer", "/review/"),
        ("supervisor", "/queue/"),
        ("auditor", "/queue/"),
        ("admin", "/queue/"),
    ],
)
def test_home_redirects_by_role(login_as, username, target):
    response = login_as(username).get("/")

    assert response.status_code == 302
    assert response["Location"] == target


def test_my_consultations_lists_own_only(client, demo, consultation):
    client.force_login(demo["citizen"])
    own = client.get("/my/").content.decode()
    client.force_login(demo["citizen2"])
    other = client.get("/my/").content.decode()

    assert consultation.number in own
    assert "Пособие на ребёнка" in own
    assert consultation.number not in other


def test_my_consultations_journals_list_read(login_as, consultation):
    login_as("citizen").get("/my/?q=Пособие")

    entry = JournalEntry.objects.filter(action="consultation:list").last()
    assert entry.after["count"] == 1
    assert entry.after["filters"]["q"] == "Пособие"


def test_staff_pages_redirect_citizen_home(login_as):
    client = login_as("citizen")

    assert client.get("/queue/")["Location"] == "/"
    assert client.get("/review/")["Location"] == "/"


def test_queue_shows_department_consultations(client, demo, consultation):
    client.force_login(demo["operator"])
    department_a = client.get("/queue/")
    client.force_login(demo["operator2"])
    department_b = client.get("/queue/")

    assert department_a.status_code == 200
    assert consultation.number in department_a.content.decode()
    assert "Очередь отдела" in department_a.content.decode()
    assert consultation.number not in department_b.content.decode()


def test_queue_title_department_in_english(login_as, demo):
    client = login_as("operator")
    client.cookies["django_language"] = "en"
    department = demo["operator"].departments.get()

    page = client.get("/queue/").content.decode()

    assert department.name_en
    assert f"Department queue: {department.name_en}" in page
    assert department.name not in page


def test_queue_supervisor_sees_all(login_as, consultation):
    response = login_as("supervisor").get("/queue/")

    assert "Все консультации" in response.content.decode()
    assert consultation.number in response.content.decode()


def test_queue_filters_by_status(login_as, consultation):
    client = login_as("operator")

    in_review = client.get("/queue/?status=in_review").content.decode()
    initiated = client.get("/queue/?status=initiated").content.decode()

    assert consultation.number not in in_review
    assert consultation.number in initiated


def test_queue_unknown_status_is_422(login_as, consultation):
    response = login_as("operator").get("/queue/?status=lost")

    assert response.status_code == 422
    assert "errorlist" in response.content.decode()


def test_queue_no_match_shows_empty_notice(login_as, consultation):
    page = login_as("operator").get("/queue/?q=xyzzy").content.decode()

    assert "Всего: 0" in page
    assert "Консультаций с такими условиями нет." in page


def test_my_consultations_empty_links_new_form(login_as):
    client = login_as("citizen2")
    client.cookies["django_language"] = "en"

    page = client.get("/my/").content.decode()

    assert "No consultations yet." in page
    assert 'href="/consultations/new/">Ask a question</a>' in page


def test_queue_paginates_25_per_page(login_as, demo):
    for number in range(30):
        services.create_consultation(
            demo["citizen"],
            service_code="GEN",
            subject=f"Вопрос {number}",
            description="Текст",
        )
    client = login_as("operator")

    first = client.get("/queue/")
    second = client.get("/queue/?page=2")

    assert len(first.context["rows"]) == 25
    assert len(second.context["rows"]) == 5
    assert "Страница 1 из 2" in first.content.decode()
    assert first.context["rows"][0][0].subject == "Вопрос 29"
    assert second.context["rows"][-1][0].subject == "Вопрос 0"


def test_review_queue_lists_in_review_only(login_as, demo, consultation):
    other = services.create_consultation(
        demo["citizen"], service_code="GEN", subject="Другой", description="Текст"
    )
    services.transition(demo["operator"], consultation.pk, action="take")
    save_protocol(
        demo["operator"],
        consultation.pk,
        question="Q",
        recommendations="R",
        decision="D",
        decision_reason="DR",
    )
    services.transition(demo["operator"], consultation.pk, action="submit")

    page = login_as("reviewer").get("/review/").content.decode()

    assert consultation.number in page
    assert other.number not in page


def test_new_consultation_form_renders_active_services(login_as):
    page = login_as("citizen").get("/consultations/new/").content.decode()

    assert 'value="GEN"' in page
    assert "Общая консультация" in page


def test_new_consultation_creates_and_redirects(login_as, demo):
    client = login_as("citizen")

    response = client.post(
        "/consultations/new/",
        {"service": "PAS", "subject": "Замена паспорта", "description": "Сроки?"},
    )

    created = Consultation.objects.get(subject="Замена паспорта")
    assert response.status_code == 302
    assert response["Location"] == f"/consultations/{created.pk}/"
    assert created.channel == "web"
    assert created.citizen == demo["citizen"]
    assert created.department.code == "B"


def test_new_consultation_missing_subject_is_422(login_as):
    response = login_as("citizen").post(
        "/consultations/new/", {"service": "GEN", "subject": "", "description": "x"}
    )

    assert response.status_code == 422
    assert Consultation.objects.count() == 0
    assert 'id="id_subject_error"' in response.content.decode()


def test_new_consultation_service_error_shown_at_field(login_as):
    response = login_as("citizen").post(
        "/consultations/new/",
        {"service": "GEN", "subject": "Тема", "description": "bad \x01 text"},
        HTTP_ACCEPT_LANGUAGE="en",
    )

    page = response.content.decode()
    assert response.status_code == 422
    assert "Your question contains control characters" in page
    assert 'id="id_description_error"' in page
    assert Consultation.objects.count() == 0


def test_new_consultation_staff_redirected(login_as):
    response = login_as("operator").get("/consultations/new/")

    assert response["Location"] == "/"


def test_english_switch_translates_pages(login_as, consultation):
    client = login_as("citizen")

    response = client.post(
        "/i18n/setlang/", {"language": "en", "next": "/my/"}, follow=True
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert '<html lang="en">' in page
    assert "My consultations" in page
    assert "Log out" in page
    assert "Мои консультации" not in page


def test_english_switch_translates_status_labels(login_as, consultation):
    client = login_as("operator")
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})

    page = client.get(f"/consultations/{consultation.pk}/").content.decode()

    assert "registered" in page
    assert "General consultation" in page
    assert "Take on" in page


def test_stylesheet_is_served(client, db):
    response = client.get("/static/web/style.css")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")
