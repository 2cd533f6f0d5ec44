"""The citizen's acknowledgement of a signed protocol: API, page, report and bundle."""

import hashlib
import io
import json
import zipfile

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, transaction
from django.utils import timezone, translation

from consultations.factories import consultation_in
from protokol.consultations.models import Status
from protokol.journal import checkpoints
from protokol.journal.models import JournalEntry
from protokol.signing.models import Signature

# These tests read the English messages of the CLI and the reports.
pytestmark = pytest.mark.usefixtures("english")

BASE = "/api/v1/consultations"
USER_AGENT = "acknowledgement-test/1.0"


@pytest.fixture
def signed(demo, pki_dir):
    """A consultation of the demo citizen, signed by the reviewer and the seal."""
    consultation = consultation_in(demo, Status.SIGNED)
    checkpoints.issue_checkpoint()
    return consultation


def acknowledge(api_client, consultation, username="citizen"):
    return api_client.login(username).post(
        f"{BASE}/{consultation.pk}/acknowledge", HTTP_USER_AGENT=USER_AGENT
    )


def rows() -> dict:
    return {
        "signatures": Signature.objects.count(),
        "acknowledgements": JournalEntry.objects.filter(
            action="protocol:acknowledge"
        ).count(),
    }


def test_citizen_acknowledges_signed_protocol(signed, api_client, demo):
    response = acknowledge(api_client, signed)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == "acknowledgement"
    assert body["valid"] is True, body["problems"]
    assert body["document_matches"] is True
    assert body["timestamp_valid"] is True
    assert body["signer_name"] == demo["citizen"].display_name

    seal = Signature.objects.get(consultation=signed, kind="seal")
    acknowledgement = Signature.objects.get(pk=body["id"])
    record = json.loads(bytes(acknowledgement.document))
    assert record["protocol"]["signed_data_sha256"] == seal.signed_data_sha256
    assert record["protocol"]["version"] == seal.protocol_version
    assert record["citizen"]["id"] == demo["citizen"].pk
    assert record["session"]["kind"] == "token"
    assert record["session"]["reference"].isdigit()
    assert record["client"] == {"ip": "127.0.0.1", "user_agent": USER_AGENT}
    assert acknowledgement.certificate_subject == seal.certificate_subject

    entry = JournalEntry.objects.get(action="protocol:acknowledge")
    assert entry.actor_id == demo["citizen"].pk
    assert entry.consultation_id == signed.pk
    assert entry.after["acknowledges"] == seal.signed_data_sha256
    assert entry.after["signatures"][0]["id"] == acknowledgement.pk


def test_signatures_endpoint_lists_acknowledgement(signed, api_client):
    acknowledge(api_client, signed)
    checkpoints.issue_checkpoint()

    items = api_client.login("auditor").get(f"{BASE}/{signed.pk}/signatures").json()

    assert [item["kind"] for item in items] == ["signer", "seal", "acknowledgement"]
    last = items[-1]
    assert last["valid"] is True, last["problems"]
    assert last["journal"]["inclusion"] is not None


@pytest.mark.parametrize(
    ("status", "username", "code", "error", "field"),
    [
        (Status.APPROVED, "citizen", 409, "conflict", "status"),
        (Status.SIGNED, "operator", 403, "forbidden", "citizen"),
        (Status.SIGNED, "auditor", 403, "forbidden", "citizen"),
        (Status.SIGNED, "citizen2", 404, "not_found", "consultation_id"),
    ],
    ids=["not-signed", "operator", "auditor", "other-citizen"],
)
def test_acknowledge_refused(
    demo, pki_dir, api_client, status, username, code, error, field
):
    consultation = consultation_in(demo, status)
    before = rows()

    response = acknowledge(api_client, consultation, username)

    assert response.status_code == code, response.content
    assert response.json()["error"] == error
    assert response.json()["field"] == field
    assert rows() == before


@pytest.mark.parametrize("username", ["operator", "citizen2"])
def test_refused_acknowledgement_journaled_as_denial(signed, api_client, username):
    acknowledge(api_client, signed, username)

    entry = JournalEntry.objects.filter(action="access:denied").last()
    assert entry.consultation_id == signed.pk
    assert entry.object_id == str(signed.pk)


def test_acknowledge_only_once(signed, api_client):
    acknowledge(api_client, signed)
    before = rows()

    response = api_client.login("citizen").post(
        f"{BASE}/{signed.pk}/acknowledge", HTTP_ACCEPT_LANGUAGE="en"
    )

    acknowledged_at = Signature.objects.get(kind="acknowledgement").created_at
    # The pages show times as 06.12.2026 03:43 in either language.
    expected_time = timezone.localtime(acknowledged_at).strftime("%d.%m.%Y %H:%M")
    message = response.json()["message"]
    assert response.status_code == 409
    assert response.json()["field"] == "acknowledgement"
    assert message == f"You acknowledged this protocol already, at {expected_time}."
    assert rows() == before


def test_database_rejects_second_acknowledgement(signed, api_client):
    acknowledge(api_client, signed)
    first = Signature.objects.get(kind="acknowledgement")

    with pytest.raises(IntegrityError), transaction.atomic():
        Signature.objects.create(
            consultation=signed,
            protocol_version=first.protocol_version,
            kind="acknowledgement",
            signer_name="x",
            certificate_serial="1",
            certificate_subject="x",
            signed_data_sha256="0" * 64,
            document=b"{}",
            cms=b"",
            created_at=first.created_at,
        )


def test_page_button_acknowledges_in_session(signed, client, demo):
    client.force_login(demo["citizen"])
    page = client.get(f"/consultations/{signed.pk}/")
    assert b"/acknowledge/" in page.content

    response = client.post(
        f"/consultations/{signed.pk}/acknowledge/", HTTP_USER_AGENT=USER_AGENT
    )

    assert response.status_code == 302
    assert response["Location"].endswith("#acknowledge")
    record = json.loads(bytes(Signature.objects.get(kind="acknowledgement").document))
    session_hash = hashlib.sha256(client.session.session_key.encode()).hexdigest()
    assert record["session"] == {"kind": "session", "reference": session_hash}
    page = client.get(f"/consultations/{signed.pk}/")
    assert b"/acknowledge/" not in page.content
    assert "ознакомился".encode() in page.content


def test_page_shows_no_button_to_staff_or_before_signing(signed, client, demo):
    client.force_login(demo["reviewer"])
    assert b"/acknowledge/" not in client.get(f"/consultations/{signed.pk}/").content

    approved = consultation_in(demo, Status.APPROVED)
    client.force_login(demo["citizen"])
    assert b"/acknowledge/" not in client.get(f"/consultations/{approved.pk}/").content


def test_page_post_twice_names_the_problem(signed, client, demo):
    client.force_login(demo["citizen"])
    client.post(f"/consultations/{signed.pk}/acknowledge/")

    response = client.post(f"/consultations/{signed.pk}/acknowledge/")

    assert response.status_code == 409
    assert b'role="alert"' in response.content
    assert Signature.objects.filter(kind="acknowledgement").count() == 1


@pytest.fixture
def bundle_dir(signed, api_client, tmp_path):
    """The exported bundle of an acknowledged consultation, unpacked."""
    acknowledge(api_client, signed)
    checkpoints.issue_checkpoint()
    path = tmp_path / "bundle.zip"
    call_command("verify", export=[str(signed.pk), str(path)], stderr=io.StringIO())
    directory = tmp_path / "bundle"
    with zipfile.ZipFile(path) as archive:
        archive.extractall(directory)
    return directory


def run_verify(directory) -> tuple[str, CommandError | None]:
    out = io.StringIO()
    try:
        # Page requests in the fixtures leave Russian active for the thread.
        with translation.override("en"):
            call_command("verify", str(directory), stdout=out)
    except CommandError as error:
        return out.getvalue(), error
    return out.getvalue(), None


def test_bundle_acknowledgement_verifies_offline(bundle_dir, django_db_blocker):
    assert (bundle_dir / "acknowledgement.json").exists()
    assert (bundle_dir / "acknowledgement.cms").exists()
    assert len(list(bundle_dir.glob("*.p7s"))) == 2

    with django_db_blocker.block():
        output, error = run_verify(bundle_dir)

    assert error is None, output
    assert "PASS acknowledgement.json:" in output
    assert "acknowledged document.json" in output


def _edit_record(directory, edit):
    path = directory / "acknowledgement.json"
    record = json.loads(path.read_bytes())
    edit(record)
    path.write_bytes(json.dumps(record, ensure_ascii=False).encode())


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (
            lambda d: _edit_record(d, lambda r: r["client"].update(ip="10.9.9.9")),
            "message digest does not match",
        ),
        (
            lambda d: _edit_record(
                d, lambda r: r["protocol"].update(signed_data_sha256="0" * 64)
            ),
            "message digest does not match",
        ),
        (
            lambda d: (d / "acknowledgement.cms").write_bytes(
                next(d.glob("signer-*.p7s")).read_bytes()
            ),
            "not signed with the seal",
        ),
        (lambda d: (d / "acknowledgement.cms").unlink(), "is missing"),
    ],
    ids=["client-ip", "bound-hash", "signer-cms", "cms-removed"],
)
def test_bundle_tampered_acknowledgement_fails(bundle_dir, tamper, reason):
    tamper(bundle_dir)

    output, error = run_verify(bundle_dir)

    assert error is not None
    assert "FAIL acknowledgement.json" in output
    assert reason in output


def test_bundle_acknowledgement_of_other_document_fails(bundle_dir):
    document = bundle_dir / "document.json"
    record = bundle_dir / "acknowledgement.json"
    # The record and its seal signature stay intact; the document they bind
    # changes.
    document.write_bytes(document.read_bytes().replace(b'"version":1', b'"version":2'))

    output, error = run_verify(bundle_dir)

    assert error is not None
    assert record.exists()
    assert "FAIL acknowledgement.json" in output
    assert "not document.json" in output
