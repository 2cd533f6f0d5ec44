"""Querysets compiled once: the same rows as the queryset, one build per database."""

import pytest
from django.db import connection, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from consultations.factories import open_consultation
from protokol.accounts.models import ApiToken, User
from protokol.compiled import CompiledQuery
from protokol.consultations.models import Consultation

pytestmark = pytest.mark.django_db

USERNAME = User._meta.get_field("username")
PK = Consultation._meta.pk


def _by_name_since(name, since):
    return User.objects.filter(username=name, date_joined__gte=since).annotate(
        joined=F("date_joined")
    )


def test_rows_equal_the_queryset(demo):
    since = timezone.now().replace(year=2000)
    lookup = CompiledQuery(
        _by_name_since, USERNAME, User._meta.get_field("date_joined")
    )

    for name in ("citizen", "operator", "nobody"):
        expected = list(_by_name_since(name, since))
        found = list(lookup.fetch(name, since))

        assert found == expected
        assert [user.joined for user in found] == [user.joined for user in expected]
        assert [user.role for user in found] == [user.role for user in expected]
    assert list(lookup.fetch("citizen", timezone.now())) == []


def test_builds_once(demo):
    built = []

    def build(name):
        built.append(name)
        return User.objects.filter(username=name)

    lookup = CompiledQuery(build, USERNAME)
    list(lookup.fetch("citizen"))
    with CaptureQueriesContext(connection) as queries:
        found = list(lookup.fetch("operator"))

    assert len(built) == 1
    assert [user.username for user in found] == ["operator"]
    assert len(queries.captured_queries) == 1


def test_locking_lookup(demo):
    consultation = open_consultation(demo["citizen"])
    lookup = CompiledQuery(
        lambda pk: Consultation.objects.select_for_update().filter(pk=pk), PK
    )

    with transaction.atomic():
        assert lookup.fetch(consultation.pk) == [consultation]
        assert lookup.fetch(2**63) == []
        assert lookup.first(consultation.pk) == consultation
        assert lookup.first(2**63) is None


def test_value_used_twice_rejected(demo):
    lookup = CompiledQuery(
        lambda name: (
            User.objects.filter(username=name) | User.objects.filter(email=name)
        ),
        USERNAME,
    )

    with pytest.raises(ValueError, match="appears 2 times"):
        lookup.fetch("citizen")


def test_none_value_rejected(demo):
    lookup = CompiledQuery(lambda name: User.objects.filter(username=name), USERNAME)

    with pytest.raises(ValueError, match="None"):
        lookup.fetch(None)


def test_select_related_rejected(demo):
    lookup = CompiledQuery(
        lambda key: ApiToken.objects.select_related("user").filter(key_hash=key),
        ApiToken._meta.get_field("key_hash"),
    )

    with pytest.raises(ValueError, match="select_related"):
        lookup.fetch("x")


def test_append_beyond_bigint_not_found(demo, api_client):
    response = api_client.login("citizen").post(
        f"/api/v1/consultations/{10**30}/messages",
        {"text": "Здравствуйте", "visibility": "public"},
    )

    assert response.status_code == 404
    assert response.json()["field"] == "consultation_id"
