import hashlib
from datetime import timedelta

import pytest
from django.db import transaction
from django.test import RequestFactory
from django.utils import timezone

from protokol.accounts.models import ApiToken, Department, User
from protokol.accounts.services import (
    create_user,
    ensure_department,
    issue_token,
    journal_failed_login,
    journal_login,
    user_for_token,
)
from protokol.errors import NotAuthenticated, ValidationFailed
from protokol.journal.models import JournalEntry
from protokol.journal.services import with_payloads


def token_request():
    """Return a request as POST /api/v1/auth/token receives it from 127.0.0.1."""
    return RequestFactory().post("/api/v1/auth/token")


def last_entry() -> JournalEntry:
    return with_payloads([JournalEntry.objects.order_by("-index").first()])[0]


def test_issue_token_returns_working_token(demo):
    token = issue_token(token_request(), "operator", "demo")

    assert user_for_token(token) == demo["operator"]


def test_issue_token_stores_only_hash(demo):
    token = issue_token(token_request(), "operator", "demo")

    stored = ApiToken.objects.get()
    assert stored.key_hash == hashlib.sha256(token.encode()).hexdigest()
    assert not ApiToken.objects.filter(key_hash=token).exists()


def test_issue_token_sets_expiry_from_config(demo, settings):
    issue_token(token_request(), "operator", "demo")

    stored = ApiToken.objects.get()
    lifetime = timedelta(hours=settings.CONFIG.token_ttl_hours)
    assert stored.expires_at - stored.created_at == lifetime


def test_issue_token_journals_entry(demo):
    issue_token(token_request(), "operator", "demo")

    entry = last_entry()
    assert entry.action == "token:create"
    assert entry.actor_id == demo["operator"].pk


def test_issue_token_bad_password_rejected(demo):
    with pytest.raises(NotAuthenticated) as caught:
        issue_token(token_request(), "operator", "wrong")

    assert caught.value.status == 401
    assert caught.value.field == "password"
    assert not ApiToken.objects.exists()


def test_issue_token_bad_password_journaled(demo):
    with pytest.raises(NotAuthenticated):
        issue_token(token_request(), "operator", "wrong")

    entry = last_entry()
    assert entry.action == "user:login_failed"
    assert entry.actor_id is None
    assert entry.object_label == "operator"
    assert entry.after == {"via": "api"}
    assert "wrong" not in str(entry.after)


def test_issue_token_unknown_user_same_error(demo):
    with pytest.raises(NotAuthenticated) as unknown:
        issue_token(token_request(), "nobody", "demo")
    with pytest.raises(NotAuthenticated) as wrong:
        issue_token(token_request(), "operator", "wrong")

    assert unknown.value.as_dict() == wrong.value.as_dict()


@pytest.mark.parametrize(
    ("username", "password", "field"),
    [
        ("", "demo", "username"),
        ("  ", "demo", "username"),
        ("operator", "", "password"),
    ],
)
def test_issue_token_empty_input_rejected(demo, username, password, field):
    with pytest.raises(ValidationFailed) as caught:
        issue_token(token_request(), username, password)

    assert caught.value.field == field


def test_issue_token_inactive_user_rejected(demo):
    user = demo["operator"]
    user.is_active = False
    user.save()

    with pytest.raises(NotAuthenticated):
        issue_token(token_request(), "operator", "demo")


def test_user_for_token_unknown_none(demo):
    assert user_for_token("not-a-token") is None


def test_user_for_token_expired_none(demo):
    token = issue_token(token_request(), "operator", "demo")
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    assert user_for_token(token) is None


def test_user_for_token_deactivated_none(demo):
    token = issue_token(token_request(), "operator", "demo")
    User.objects.filter(username="operator").update(is_active=False)

    assert user_for_token(token) is None


def test_journal_login_records_entry(demo):
    journal_login(demo["citizen"], via="page")

    entry = last_entry()
    assert entry.action == "user:login"
    assert entry.actor_id == demo["citizen"].pk
    assert entry.after == {"via": "page"}


def test_journal_failed_login_records_name(demo):
    journal_failed_login("x" * 200, via="page")

    entry = last_entry()
    assert entry.action == "user:login_failed"
    assert entry.object_label == "x" * 150


@pytest.mark.django_db
def test_create_user_journals_entry():
    with transaction.atomic():
        user = create_user("clerk", role="operator", password="s3cret-pass")

    entry = last_entry()
    assert entry.action == "user:create"
    assert entry.object_id == str(user.pk)
    assert entry.after == {"role": "operator", "placeholder": False}


@pytest.mark.django_db
def test_create_user_hashes_password():
    with transaction.atomic():
        user = create_user("clerk", role="operator", password="s3cret-pass")

    assert user.password != "s3cret-pass"
    assert user.check_password("s3cret-pass")


@pytest.mark.django_db
def test_create_user_without_password_cannot_log_in():
    with transaction.atomic():
        user = create_user("imported", role="citizen", password=None, placeholder=True)

    assert not user.has_usable_password()
    assert user.is_placeholder


@pytest.mark.django_db
def test_create_user_unknown_role_rejected():
    with pytest.raises(ValidationFailed) as caught, transaction.atomic():
        create_user("clerk", role="king", password=None)

    assert caught.value.field == "role"
    assert not User.objects.exists()


@pytest.mark.django_db
def test_ensure_department_creates_once():
    with transaction.atomic():
        first = ensure_department("X", "Отдел X")
        second = ensure_department("X", "Другое имя")

    assert first.pk == second.pk
    assert Department.objects.get().name == "Отдел X"
    assert JournalEntry.objects.filter(action="department:create").count() == 1


def test_production_hasher_is_argon2():
    from protokol import settings as protokol_settings

    assert protokol_settings.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")


def test_demo_password_stored_as_argon2(db, settings):
    from protokol import settings as protokol_settings
    from protokol.accounts.demo import seed_demo
    from protokol.accounts.models import User

    settings.PASSWORD_HASHERS = protokol_settings.PASSWORD_HASHERS
    seed_demo()

    assert User.objects.get(username="citizen").password.startswith("argon2$")
