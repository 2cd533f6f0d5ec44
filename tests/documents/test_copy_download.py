"""Downloading the protocol copy through the API, with its journal entry."""

from protokol.journal.models import JournalEntry
from protokol.journal.services import with_payloads

from .pdf_tools import DECISION, contains_words, pdf_text


def copy_entries(consultation):
    return JournalEntry.objects.filter(
        consultation_id=consultation.pk, action="copy:read"
    )


def test_download_copy_pdf(signed_consultation, api_client, tmp_path):
    api_client.login("citizen")
    response = api_client.get(
        f"/api/v1/consultations/{signed_consultation.pk}/protocol.pdf"
    )

    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == (
        f'attachment; filename="protocol-{signed_consultation.pk}-ru.pdf"'
    )
    assert response.content.startswith(b"%PDF-")
    path = tmp_path / "copy.pdf"
    path.write_bytes(response.content)
    assert contains_words(pdf_text(path), DECISION)


def test_download_copy_journaled(signed_consultation, api_client):
    api_client.login("citizen")
    response = api_client.get(
        f"/api/v1/consultations/{signed_consultation.pk}/protocol.pdf?lang=en"
    )
    assert response.status_code == 200, response.content

    [entry] = with_payloads([copy_entries(signed_consultation).get()])
    assert entry.actor_name == "Анна Иванова"
    assert entry.object_label == signed_consultation.number
    assert entry.after == {
        "language": "en",
        "bytes": len(response.content),
        "personal_data": "masked",
    }


def test_download_copy_english(signed_consultation, api_client, tmp_path):
    api_client.login("citizen")
    response = api_client.get(
        f"/api/v1/consultations/{signed_consultation.pk}/protocol.pdf?lang=en"
    )

    assert response.status_code == 200, response.content
    assert response["Content-Disposition"].endswith(
        f'filename="protocol-{signed_consultation.pk}-en.pdf"'
    )
    path = tmp_path / "copy.pdf"
    path.write_bytes(response.content)
    assert contains_words(pdf_text(path), "Consultation protocol")


def test_download_copy_unknown_language(signed_consultation, api_client):
    api_client.login("citizen")
    response = api_client.get(
        f"/api/v1/consultations/{signed_consultation.pk}/protocol.pdf?lang=de"
    )

    assert response.status_code == 422
    assert not copy_entries(signed_consultation).exists()


def test_download_copy_other_citizen_not_found(signed_consultation, api_client):
    api_client.login("citizen2")
    response = api_client.get(
        f"/api/v1/consultations/{signed_consultation.pk}/protocol.pdf"
    )

    assert response.status_code == 404
    assert not copy_entries(signed_consultation).exists()


def test_download_copy_requires_token(signed_consultation, client):
    response = client.get(
        f"/api/v1/consultations/{signed_consultation.pk}/protocol.pdf"
    )

    assert response.status_code == 401
