"""Copies and /verify after an acknowledgement or a newer signed version."""

import json

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation

from disputes.conftest import expert  # noqa: F401 - the dispute's expert
from protokol.consultations import services as consultations
from protokol.disputes import services as disputes
from protokol.documents import public
from protokol.documents.pdfcheck import copy_bundle_files
from protokol.documents.services import issue_copy, verification_code
from protokol.journal import checkpoints
from protokol.journal.models import JournalEntry
from protokol.protocols.services import save_protocol
from protokol.signing.models import Signature

from .test_sealed_copy import failed_checks, verify

BASE = "/api/v1/consultations"


@pytest.fixture(autouse=True)
def _fresh_rate_limit():
    cache.clear()
    yield
    cache.clear()


def acknowledge(api_client, consultation):
    response = api_client.login("citizen").post(f"{BASE}/{consultation.pk}/acknowledge")
    assert response.status_code == 201, response.content
    return Signature.objects.get(pk=response.json()["id"])


def sign_entry_index(consultation, version: int) -> int:
    """Return the index of the journal entry that signed `version`."""
    seal = Signature.objects.get(
        consultation=consultation, protocol_version=version, kind="seal"
    )
    for entry in JournalEntry.objects.filter(
        consultation_id=consultation.pk, action="consultation:transition"
    ):
        listed = [item["id"] for item in entry.after.get("signatures") or []]
        if seal.pk in listed:
            return entry.index
    raise AssertionError(f"no journal entry signed version {version}")


def code_of(consultation, version: int) -> str:
    seal = Signature.objects.get(
        consultation=consultation, protocol_version=version, kind="seal"
    )
    return verification_code(bytes(seal.document))


def verify_page(client, consultation, code: str):
    return client.get("/verify", {"number": consultation.number, "code": code})


def issue_to_file(user, consultation, path) -> bytes:
    _, content = issue_copy(user, consultation.pk)
    path.write_bytes(content)
    return content


@pytest.mark.usefixtures("english")
@pytest.mark.parametrize("checkpoint", ["before", "after"])
def test_copy_after_acknowledgement_verifies(
    signed_consultation, demo, api_client, tmp_path, checkpoint
):
    # A checkpoint issued before the acknowledgement covers only the signing
    # entry. One issued after it covers the acknowledgement entry too.
    if checkpoint == "before":
        checkpoints.issue_checkpoint()
    acknowledge(api_client, signed_consultation)
    if checkpoint == "after":
        checkpoints.issue_checkpoint()
    path = tmp_path / "copy.pdf"

    content = issue_to_file(demo["citizen"], signed_consultation, path)

    passed, report = verify(path)
    assert passed, failed_checks(report)
    files = copy_bundle_files(content)
    seal = Signature.objects.get(consultation=signed_consultation, kind="seal")
    assert files["proof.txt"]
    assert files["document.json"] == bytes(seal.document)
    entry = json.loads(files["entry.json"])
    assert entry["index"] == sign_entry_index(signed_consultation, 1)
    assert entry["action"] == "consultation:transition"
    uploaded = public.verify_upload(content)
    assert uploaded.ok, [check.detail for check in uploaded.checks if not check.ok]
    assert uploaded.version == 1


@pytest.mark.usefixtures("english")
def test_cached_copy_replaced_after_checkpoint(
    signed_consultation, demo, api_client, tmp_path
):
    before = issue_to_file(demo["citizen"], signed_consultation, tmp_path / "a.pdf")
    acknowledge(api_client, signed_consultation)
    checkpoints.issue_checkpoint()

    after = issue_to_file(demo["citizen"], signed_consultation, tmp_path / "b.pdf")
    again = issue_to_file(demo["citizen"], signed_consultation, tmp_path / "c.pdf")

    # The new checkpoint changes the embedded proof, so the key changes, and
    # the copy stored under the new key is returned unchanged.
    assert after != before
    assert again == after
    passed, report = verify(tmp_path / "c.pdf")
    assert passed, failed_checks(report)


def test_code_verifies_after_acknowledgement(
    client, signed_consultation, demo, api_client
):
    code = code_of(signed_consultation, 1)
    acknowledgement = acknowledge(api_client, signed_consultation)
    checkpoints.issue_checkpoint()

    response = verify_page(client, signed_consultation, code)

    page = response.content.decode()
    assert response.status_code == 200, page
    assert "Все проверки пройдены" in page
    report = public.verify_code(signed_consultation.number, code)
    assert report.ok, [check.detail for check in report.checks]
    assert report.version == 1
    assert report.newer_version is None
    # The acknowledgement of the version is reported with its signatures.
    rows = Signature.objects.filter(consultation=signed_consultation)
    names = [check.name for check in report.checks]
    assert names == [f"подпись {row.pk}" for row in rows]
    assert f"подпись {acknowledgement.pk}" in names
    assert "подтверждение гражданина" in report.checks[-1].detail


def test_copy_after_acknowledgement_prints_same_code(
    signed_consultation, demo, api_client, tmp_path
):
    from .pdf_tools import contains_words, pdf_text

    code = code_of(signed_consultation, 1)
    acknowledge(api_client, signed_consultation)

    issue_to_file(demo["citizen"], signed_consultation, tmp_path / "copy.pdf")

    assert contains_words(pdf_text(tmp_path / "copy.pdf"), f"Код проверки: {code}")


def reopen_by_dispute(consultation, demo, expert) -> None:  # noqa: F811
    """Dispute the signed consultation and reopen it for a new version."""
    dispute = disputes.open_dispute(
        demo["citizen"], consultation.pk, claims="Неполный перечень."
    )
    disputes.assign_expert(demo["supervisor"], dispute.pk, expert=expert.username)
    disputes.write_conclusion(expert, dispute.pk, text="Перечень дополнить.")
    disputes.close_dispute(
        demo["supervisor"], dispute.pk, outcome="reopen", comment="Дополнить"
    )


def sign_again(consultation, demo) -> None:
    """Save, approve and sign the reopened consultation's next version."""
    save_protocol(
        demo["operator"],
        consultation.pk,
        question="Какие документы нужны для оформления пособия на ребёнка?",
        documents="Свидетельство о рождении ребёнка, паспорт, справка о доходах.",
        recommendations="Подать заявление через личный кабинет или в МФЦ.",
        decision="Разъяснено",
        decision_reason="Порядок назначения пособия",
    )
    for username, action in [
        ("operator", "submit"),
        ("reviewer", "approve"),
        ("reviewer", "sign"),
    ]:
        consultations.transition(
            demo[username], consultation.pk, action=action, comment="Готово"
        )
    consultation.refresh_from_db()


@pytest.fixture
def resigned(signed_consultation, demo, expert, tmp_path):  # noqa: F811
    """The consultation disputed, reopened and signed again as version 2.

    Returns the path of the version 1 copy issued before the dispute.
    """
    first = tmp_path / "v1.pdf"
    issue_to_file(demo["citizen"], signed_consultation, first)
    reopen_by_dispute(signed_consultation, demo, expert)
    sign_again(signed_consultation, demo)
    return first


def test_superseded_code_names_newer_version(client, signed_consultation, resigned):
    response = verify_page(client, signed_consultation, code_of(signed_consultation, 1))

    page = response.content.decode()
    assert response.status_code == 200, page
    assert "Все проверки пройдены" in page
    assert "Проверена версия 1 протокола." in page
    assert "Есть более новая подписанная версия протокола: версия 2." in page
    report = public.verify_code(
        signed_consultation.number, code_of(signed_consultation, 1)
    )
    assert report.version == 1
    assert report.newer_version == 2
    first_version_ids = set(
        Signature.objects.filter(
            consultation=signed_consultation, protocol_version=1
        ).values_list("pk", flat=True)
    )
    assert {check.name for check in report.checks} == {
        f"подпись {pk}" for pk in first_version_ids
    }


def test_superseded_code_passes_after_new_messages(
    client,
    signed_consultation,
    demo,
    expert,  # noqa: F811
):
    reopen_by_dispute(signed_consultation, demo, expert)
    consultations.add_message(
        demo["citizen"],
        signed_consultation.pk,
        text="Добавляю справку о доходах.",
        visibility="public",
    )
    sign_again(signed_consultation, demo)

    response = verify_page(client, signed_consultation, code_of(signed_consultation, 1))

    page = response.content.decode()
    assert response.status_code == 200, page
    assert "Все проверки пройдены" in page
    latest = verify_page(client, signed_consultation, code_of(signed_consultation, 2))
    assert "Все проверки пройдены" in latest.content.decode()


def test_latest_code_has_no_newer_version(client, signed_consultation, resigned):
    response = verify_page(client, signed_consultation, code_of(signed_consultation, 2))

    page = response.content.decode()
    assert response.status_code == 200, page
    assert "Все проверки пройдены" in page
    assert "Проверена версия 2 протокола." in page
    assert "более новая" not in page
    report = public.verify_code(
        signed_consultation.number, code_of(signed_consultation, 2)
    )
    assert report.version == 2
    assert report.newer_version is None


def test_superseded_code_page_in_english(
    client, english_pages, signed_consultation, resigned
):
    response = verify_page(client, signed_consultation, code_of(signed_consultation, 1))

    page = response.content.decode()
    assert response.status_code == 200, page
    with translation.override("en"):
        expected = translation.gettext(
            "Есть более новая подписанная версия протокола: версия %(version)s."
        ) % {"version": 2}
    assert expected in page


@pytest.mark.usefixtures("english")
def test_superseded_copy_upload_names_newer_version(
    client, signed_consultation, demo, resigned, tmp_path
):
    passed, report = verify(resigned)
    assert passed, failed_checks(report)
    upload = SimpleUploadedFile("v1.pdf", resigned.read_bytes(), "application/pdf")

    response = client.post("/verify", {"file": upload})

    page = response.content.decode()
    assert response.status_code == 200, page
    assert "Есть более новая подписанная версия протокола: версия 2." in page
    report = public.verify_upload(resigned.read_bytes())
    assert report.ok, [check.detail for check in report.checks if not check.ok]
    assert report.version == 1
    assert report.newer_version == 2


@pytest.mark.usefixtures("english")
def test_current_copy_upload_has_no_newer_version(
    client, signed_consultation, demo, resigned, tmp_path
):
    current = issue_to_file(demo["citizen"], signed_consultation, tmp_path / "v2.pdf")

    passed, report = verify(tmp_path / "v2.pdf")
    assert passed, failed_checks(report)
    report = public.verify_upload(current)
    assert report.ok, [check.detail for check in report.checks if not check.ok]
    assert report.version == 2
    assert report.newer_version is None
