"""Full-text search: Russian morphology, case folding, ranking and visibility."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from consultations.factories import PROTOCOL, act, open_consultation
from protokol.consultations import services
from protokol.protocols.services import save_protocol
from protokol.search import indexing
from protokol.search.indexing import index_consultations, reindex_all
from protokol.search.models import SearchDocument
from protokol.search.services import MAX_QUERY_CHARS
from protokol.search.text import fold


def numbers(user, query):
    return [c.number for c in services.list_consultations(user, q=query)]


@pytest.fixture
def statement(demo):
    return open_consultation(demo["citizen"], subject="Заявление на субсидию")


def test_inflected_query_finds_base_form(demo, statement):
    assert numbers(demo["citizen"], "заявлениями") == [statement.number]


def test_query_ignores_cyrillic_case(demo, statement):
    assert numbers(demo["citizen"], "ЗАЯВЛЕНИЕ") == [statement.number]
    assert numbers(demo["citizen"], "зАяВлЕнИя") == [statement.number]


def test_query_treats_yo_as_ye(demo):
    found = open_consultation(demo["citizen"], subject="Ёмкость для отходов")

    assert numbers(demo["citizen"], "емкости") == [found.number]
    assert numbers(demo["citizen"], "ЁМКОСТЬ") == [found.number]


def test_query_with_latin_lookalikes_finds_cyrillic(demo, statement):
    # "зaявление" with a Latin a, "ЗАЯВЛEНИЕ" with a Latin E.
    assert numbers(demo["citizen"], "зaявление") == [statement.number]
    assert numbers(demo["citizen"], "ЗАЯВЛEНИЕ") == [statement.number]


def test_text_with_latin_lookalikes_found(demo):
    # "Пенcия" and "стaжа" each contain one Latin letter.
    found = open_consultation(demo["citizen"], subject="Пенcия с учётом стaжа")

    assert numbers(demo["citizen"], "пенсия стажа") == [found.number]


def test_query_ignores_stress_and_soft_hyphen(demo, statement):
    assert numbers(demo["citizen"], "заявле\u0301ние") == [statement.number]
    assert numbers(demo["citizen"], "заяв\u00adление") == [statement.number]


def test_text_with_stress_marks_found(demo):
    found = open_consultation(demo["citizen"], subject="Пе\u0301нсия по ста\u0301жу")

    assert numbers(demo["citizen"], "пенсия стажу") == [found.number]


def test_fold_keeps_composed_letters():
    # NFD input: и and е with combining marks compose to й and ё, then ё is е.
    assert fold("и\u0306од е\u0308лка") == "йод елка"
    assert fold("cafe\u0301") == "café"


def test_fold_keeps_latin_words():
    assert fold("PDF и MOCKBA") == "pdf и mockba"
    assert fold("iPhone в Mосквe") == "iphone в москве"


def test_every_word_must_match(demo, statement):
    assert numbers(demo["citizen"], "заявление субсидия") == [statement.number]
    assert numbers(demo["citizen"], "заявление пенсия") == []


def test_query_without_words_matches_nothing(demo, statement):
    assert numbers(demo["citizen"], " -- !! ") == []


def test_whole_number_found_exactly(demo, statement):
    other = open_consultation(demo["citizen"])

    assert numbers(demo["citizen"], statement.number.lower()) == [statement.number]
    latin = statement.number.replace("КП", "KP")
    assert numbers(demo["citizen"], latin) == [statement.number]
    assert numbers(demo["citizen"], latin.lower()) == [statement.number]
    assert other.number not in numbers(demo["citizen"], statement.number)


def test_public_message_indexed_when_posted(demo, consultation):
    services.add_message(
        demo["citizen"], consultation.pk, text="Прилагаю справки", visibility="public"
    )

    assert numbers(demo["citizen"], "справкой") == [consultation.number]


def test_internal_note_found_by_staff_only(demo, consultation):
    act(demo["operator"], consultation, "take")
    services.add_message(
        demo["operator"],
        consultation.pk,
        text="Проверить задолженность заявителя",
        visibility="internal",
    )

    assert numbers(demo["operator"], "задолженности") == [consultation.number]
    assert numbers(demo["supervisor"], "задолженности") == [consultation.number]
    assert numbers(demo["citizen"], "задолженности") == []


def test_other_citizen_and_department_see_nothing(demo, statement):
    assert numbers(demo["operator"], "заявление") == [statement.number]
    assert numbers(demo["citizen2"], "заявление") == []
    assert numbers(demo["operator2"], "заявление") == []


def test_protocol_text_indexed_when_saved(demo, consultation):
    act(demo["operator"], consultation, "take")
    save_protocol(
        demo["operator"],
        consultation.pk,
        **{**PROTOCOL, "recommendations": "Обратиться в налоговую инспекцию"},
    )

    assert numbers(demo["citizen"], "инспекции") == [consultation.number]


def test_more_mentions_rank_higher(demo):
    once = open_consultation(demo["citizen"], subject="Вопрос о пособии")
    twice = open_consultation(demo["citizen"], subject="Пособие и пособия")
    services.add_message(
        demo["citizen"], twice.pk, text="Снова про пособие", visibility="public"
    )

    found = list(services.list_consultations(demo["citizen"], q="пособие"))

    assert [c.number for c in found[:2]] == [twice.number, once.number]
    assert found[0].search_rank > found[1].search_rank


def test_reindex_all_rebuilds_documents(demo, statement):
    SearchDocument.objects.all().delete()
    assert numbers(demo["citizen"], "заявление") == []

    assert reindex_all() == 1
    assert numbers(demo["citizen"], "заявление") == [statement.number]


def test_api_list_returns_ranked_matches(demo, api_client, statement):
    open_consultation(demo["citizen"], subject="Справка о доходах")

    response = api_client.login("citizen").get(
        "/api/v1/consultations", data={"q": "заявлениями"}
    )

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    assert [item["number"] for item in body["items"]] == [statement.number]


def test_list_page_shows_matches(demo, client, statement):
    other = open_consultation(demo["citizen"], subject="Справка о доходах")
    client.force_login(demo["citizen"])

    page = client.get("/my/", {"q": "Заявлениями"}).content.decode()

    assert statement.number in page
    assert other.number not in page


def test_list_page_accepts_query_at_limit(demo, client, statement):
    query = ("заявлениями " * 20)[: MAX_QUERY_CHARS - 1] + "я"
    client.force_login(demo["citizen"])

    accepted = client.get("/my/", {"q": query})
    rejected = client.get("/my/", {"q": query + "я"})

    assert len(query) == MAX_QUERY_CHARS
    assert accepted.status_code == 200
    assert rejected.status_code == 422


def test_api_rejects_overlong_query(demo, api_client, english_pages):
    response = api_client.login("citizen").get(
        "/api/v1/consultations", data={"q": "пособие " * 30}
    )

    assert response.status_code == 422
    body = response.json()
    assert body["field"] == "q"
    assert "at most 200 characters" in body["message"]


def test_api_blank_query_lists_all(demo, api_client, statement):
    other = open_consultation(demo["citizen"], subject="Справка о доходах")
    client = api_client.login("citizen")

    for query in ("   ", " " * (MAX_QUERY_CHARS + 50), "\t\n"):
        response = client.get("/api/v1/consultations", data={"q": query})
        assert response.status_code == 200, (query, response.content)
        listed = {item["number"] for item in response.json()["items"]}
        assert listed == {statement.number, other.number}, query


@pytest.mark.parametrize("name", ["q", "service", "department"])
def test_api_rejects_nul_in_filter(demo, api_client, statement, name):
    # PostgreSQL fails on text that contains NUL, so no query may receive it.
    response = api_client.login("citizen").get(
        "/api/v1/consultations", data={name: "заявление\x00"}
    )

    assert response.status_code == 422
    assert response.json()["field"] == name


def test_query_keeps_tab_between_words(demo, statement):
    assert numbers(demo["citizen"], "заявление\tсубсидию") == [statement.number]


def test_query_at_limit_with_spaces_around(demo, statement):
    query = "  " + "заявлениями" + " " * MAX_QUERY_CHARS

    assert numbers(demo["citizen"], query) == [statement.number]


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the vectors are PostgreSQL's tsvector"
)
def test_vectors_follow_changed_texts(demo, consultation):
    act(demo["operator"], consultation, "take")
    services.add_message(
        demo["operator"],
        consultation.pk,
        text="Служебная заметка",
        visibility="internal",
    )
    services.add_message(
        demo["citizen"], consultation.pk, text="Публичный ответ", visibility="public"
    )

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT public_vector = to_tsvector('russian', public_text), "
            "full_vector = to_tsvector('russian', public_text || ' ' || internal_text) "
            "FROM search_document WHERE consultation_id = %s",
            [consultation.pk],
        )
        assert cursor.fetchone() == (True, True)


def stored_texts(consultation_id):
    return SearchDocument.objects.values_list("public_text", "internal_text").get(
        consultation_id=consultation_id
    )


def post_dialogue(demo, consultation):
    """Post public and internal messages around a protocol version."""
    act(demo["operator"], consultation, "take")
    services.add_message(
        demo["operator"],
        consultation.pk,
        text="Запросить выписку",
        visibility="internal",
    )
    save_protocol(demo["operator"], consultation.pk, **PROTOCOL)
    services.add_message(
        demo["citizen"], consultation.pk, text="Прилагаю Справку", visibility="public"
    )
    # A text without words: SQLite stores no stems for it.
    services.add_message(
        demo["operator"], consultation.pk, text="!!! ???", visibility="internal"
    )
    services.add_message(
        demo["operator"], consultation.pk, text="Ёлочный базар", visibility="internal"
    )
    services.add_message(
        demo["citizen"], consultation.pk, text="Ответ получен", visibility="public"
    )


def test_appended_messages_equal_rebuild(demo, consultation):
    post_dialogue(demo, consultation)
    appended = stored_texts(consultation.pk)

    index_consultations([consultation.pk])

    assert stored_texts(consultation.pk) == appended


def test_new_consultation_document_equals_rebuild(demo):
    with CaptureQueriesContext(connection) as queries:
        created = open_consultation(demo["citizen"], subject="Ёлка во дворе")
    written = stored_texts(created.pk)

    index_consultations([created.pk])

    search = [q["sql"] for q in queries if "search_document" in q["sql"]]
    assert len(search) == 1
    assert stored_texts(created.pk) == written
    assert numbers(demo["citizen"], "елки") == [created.number]


def test_appended_messages_found(demo, consultation):
    post_dialogue(demo, consultation)

    assert numbers(demo["citizen"], "справкой") == [consultation.number]
    assert numbers(demo["citizen"], "ответа") == [consultation.number]
    assert numbers(demo["citizen"], "елочный") == []
    assert numbers(demo["operator"], "елочный") == [consultation.number]
    assert numbers(demo["supervisor"], "выписки") == [consultation.number]
    assert numbers(demo["citizen"], "выписки") == []


def test_message_append_skips_rebuild(demo, consultation):
    with CaptureQueriesContext(connection) as queries:
        services.add_message(
            demo["citizen"], consultation.pk, text="Новый вопрос", visibility="public"
        )

    search = [q["sql"] for q in queries if "search_document" in q["sql"]]
    assert len(search) == 1
    assert search[0].startswith("UPDATE")
    assert numbers(demo["citizen"], "вопросы") == [consultation.number]


def test_overlong_column_rebuilt_with_cut(demo, consultation, monkeypatch):
    public, _ = stored_texts(consultation.pk)
    monkeypatch.setattr(indexing, "MAX_COLUMN_CHARS", len(public) + 10)

    services.add_message(
        demo["citizen"],
        consultation.pk,
        text="Длинное продолжение",
        visibility="public",
    )
    appended = stored_texts(consultation.pk)
    index_consultations([consultation.pk])

    assert len(appended[0]) == len(public) + 10
    assert stored_texts(consultation.pk) == appended


def test_missing_document_rebuilt_on_append(demo, consultation):
    SearchDocument.objects.filter(consultation_id=consultation.pk).delete()

    services.add_message(
        demo["citizen"], consultation.pk, text="Прилагаю справки", visibility="public"
    )

    assert numbers(demo["citizen"], "справкой") == [consultation.number]
    assert numbers(demo["citizen"], "пособия") == [consultation.number]


def window_fixture(demo) -> list:
    """Open 20 consultations, every third about a subsidy, created out of id order.

    Return the matches newest first, as (created_at, id) orders them.
    """
    from datetime import timedelta

    from django.utils import timezone

    from protokol.consultations.models import Consultation

    now = timezone.now()
    matches = []
    for position in range(20):
        subject = "Субсидия на жильё" if position % 3 == 0 else "Справка о доходах"
        consultation = open_consultation(demo["citizen"], subject=subject)
        # Creation times run against the ids for half of the rows.
        hours = position if position % 2 else 40 - position
        Consultation.objects.filter(pk=consultation.pk).update(
            created_at=now - timedelta(hours=hours)
        )
        if position % 3 == 0:
            matches.append(consultation.pk)
    return list(
        Consultation.objects.filter(pk__in=matches)
        .order_by("-created_at", "-id")
        .values_list("pk", flat=True)
    )


postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the window of newest documents is PostgreSQL's",
)


@postgresql_only
@pytest.mark.parametrize(
    ("first_window", "max_window", "windows"),
    [(20, 100, [True]), (2, 100, [True, True]), (2, 8, [True, False])],
    ids=["first-window", "second-window", "all-matches"],
)
def test_window_keeps_newest_matches(
    demo, monkeypatch, first_window, max_window, windows
):
    from protokol.search import services as search_services

    newest = window_fixture(demo)
    monkeypatch.setattr(search_services, "MAX_RANKED", 3)
    monkeypatch.setattr(search_services, "FIRST_WINDOW", first_window)
    monkeypatch.setattr(search_services, "MAX_WINDOW", max_window)
    tries = []
    newest_since = search_services._newest_since

    def record(queryset, folded, vector, since):
        tries.append(since is not None)
        return newest_since(queryset, folded, vector, since)

    monkeypatch.setattr(search_services, "_newest_since", record)

    found = list(services.list_consultations(demo["supervisor"], q="субсидии"))

    assert tries == windows
    assert sorted(c.pk for c in found) == sorted(newest[:4])
    assert all(c.search_rank > 0 for c in found)


@postgresql_only
def test_document_created_at_follows_consultation(demo, consultation):
    from datetime import timedelta

    from protokol.consultations.models import Consultation

    earlier = consultation.created_at - timedelta(days=3)
    Consultation.objects.filter(pk=consultation.pk).update(created_at=earlier)

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT created_at FROM search_document WHERE consultation_id = %s",
            [consultation.pk],
        )
        assert cursor.fetchone() == (earlier,)


def test_equal_ranks_list_newest_first(demo):
    newest = window_fixture(demo)

    found = list(services.list_consultations(demo["supervisor"], q="субсидии"))

    assert [c.pk for c in found] == newest
    assert len({c.search_rank for c in found}) == 1


def test_ranked_matches_count_without_query(demo):
    from protokol.web.paging import capped_count

    newest = window_fixture(demo)
    matches = services.list_consultations(demo["supervisor"], q="субсидии")

    with CaptureQueriesContext(connection) as counting:
        counted = capped_count(matches)
    with CaptureQueriesContext(connection) as paging:
        page = matches[2:5]

    assert counted == (len(newest), False)
    assert len(counting.captured_queries) == 0
    assert [c.pk for c in page] == newest[2:5]
    assert len(paging.captured_queries) == 1


def test_ranked_matches_cap_count(demo, monkeypatch):
    from protokol.search import services as search_services
    from protokol.web.paging import capped_count

    newest = window_fixture(demo)
    monkeypatch.setattr(search_services, "MAX_RANKED", 3)

    matches = services.list_consultations(demo["supervisor"], q="субсидии")

    assert len(newest) > 4
    assert matches.count() == 4
    assert capped_count(matches, limit=3) == (3, True)


def test_api_pages_ranked_matches(demo, api_client):
    newest = window_fixture(demo)
    numbers_by_pk = dict(
        services.list_consultations(demo["supervisor"]).values_list("pk", "number")
    )

    response = api_client.login("supervisor").get(
        "/api/v1/consultations", data={"q": "субсидии", "limit": 2, "offset": 2}
    )

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == len(newest)
    assert body["more"] is False
    assert [item["number"] for item in body["items"]] == [
        numbers_by_pk[pk] for pk in newest[2:4]
    ]


def test_queue_page_lists_ranked_matches(demo, client):
    newest = window_fixture(demo)
    number = services.list_consultations(demo["supervisor"]).get(pk=newest[0]).number
    client.force_login(demo["supervisor"])

    response = client.get("/queue/", {"q": "субсидии"})

    assert response.status_code == 200
    assert [row[0].pk for row in response.context["rows"]] == newest
    assert response.context["page"].paginator.count == len(newest)
    assert number in response.content.decode()
