"""Consultations closed years ago: the closing transition is moved into the past."""

import json
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone

from consultations.factories import consultation_in
from protokol.consultations import services
from protokol.consultations.attachments import add_attachment
from protokol.consultations.lifecycle import CLOSED_STATUSES
from protokol.consultations.models import Status, Transition


def close_years_ago(consultation, years: float) -> None:
    """Move the closing of a closed consultation `years` years into the past."""
    moment = timezone.now() - timedelta(days=365.25 * years)
    closing = Transition.objects.filter(
        consultation=consultation, to_status__in=CLOSED_STATUSES
    )
    assert closing.exists(), "the consultation is not closed"
    closing.update(created_at=moment)
    type(consultation).objects.filter(pk=consultation.pk).update(closed_at=moment)


@pytest.fixture
def archived(demo):
    """Return a factory of archived consultations with a dialogue and a file."""

    def make(years_ago: float, *, citizen: str = "citizen"):
        consultation = consultation_in(demo, Status.DRAFTING, citizen=citizen)
        services.add_message(
            demo[citizen],
            consultation.pk,
            text="Мой паспорт 4010 123456",
            visibility="public",
        )
        add_attachment(
            demo[citizen],
            consultation.pk,
            SimpleUploadedFile(
                "скан.pdf", b"%PDF-1.7 scan", content_type="application/pdf"
            ),
        )
        for username, action in [
            ("operator", "submit"),
            ("reviewer", "approve"),
            ("reviewer", "sign"),
            ("operator", "archive"),
        ]:
            services.transition(
                demo[username], consultation.pk, action=action, comment="ок"
            )
        consultation.refresh_from_db()
        close_years_ago(consultation, years_ago)
        return consultation

    return make


def _readable(value) -> str:
    """Return a column value as text, JSON with its non-ASCII text unescaped."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        value = json.loads(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def journal_rows_text() -> str:
    """Return every stored row of the journal's entry and payload tables as text."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM journal_entry")
        rows = cursor.fetchall()
        cursor.execute("SELECT * FROM journal_payload")
        rows += cursor.fetchall()
    return "\n".join(" ".join(_readable(value) for value in row) for row in rows)
