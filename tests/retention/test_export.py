"""A citizen's data export: one zip of consultations, signed copies and accesses."""

import io
import json
import zipfile

from api.client import login
from consultations.factories import consultation_in
from protokol.accounts.identifiers import set_identifiers
from protokol.consultations import services
from protokol.consultations.models import Status
from protokol.journal.models import JournalEntry


def open_zip(content: bytes) -> zipfile.ZipFile:
    archive = zipfile.ZipFile(io.BytesIO(content))
    assert archive.testzip() is None
    return archive


def test_export_contains_records(demo):
    signed = consultation_in(demo, Status.SIGNED)
    draft = consultation_in(demo, Status.DRAFTING)
    consultation_in(demo, Status.DRAFTING, citizen="citizen2")
    services.read_consultation(demo["operator"], draft.pk)
    set_identifiers(demo["citizen"], {"inn": "502731884666"})

    response = login("citizen").get("/privacy/export")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    archive = open_zip(response.content)
    names = set(archive.namelist())
    assert f"consultations/{signed.number}.json" in names
    assert f"consultations/{draft.number}.json" in names
    assert len([n for n in names if n.startswith("consultations/")]) == 2
    detail = json.loads(archive.read(f"consultations/{draft.number}.json"))
    assert detail["subject"] == draft.subject
    copies = [n for n in names if n.startswith("copies/")]
    assert len(copies) == 1
    assert archive.read(copies[0]).startswith(b"%PDF")
    assert json.loads(archive.read("identifiers.json")) == {"inn": "502731884666"}

    access = json.loads(archive.read("access-journal.json"))
    reads = [(e["action"], e["actor"]["role"], e["consultation"]) for e in access]
    assert ("consultation:read", "operator", draft.number) in reads
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["account"]["username"] == "citizen"
    assert manifest["copies"] == [c.removeprefix("copies/") for c in copies]


def test_export_journaled(demo):
    consultation_in(demo, Status.DRAFTING)

    response = login("citizen").get("/privacy/export")

    entry = JournalEntry.objects.get(action="retention:export")
    assert entry.actor_id == demo["citizen"].pk
    assert entry.after["consultations"] == 1
    assert entry.after["bytes"] == len(response.content)


def test_export_by_staff_forbidden(demo):
    response = login("operator").get("/privacy/export")

    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    assert not JournalEntry.objects.filter(action="retention:export").exists()


def test_export_page_button(demo, client):
    consultation_in(demo, Status.DRAFTING)
    client.force_login(demo["citizen"])

    response = client.get("/privacy/export/")

    assert response.status_code == 200
    assert "attachment;" in response["Content-Disposition"]
    assert "manifest.json" in open_zip(response.content).namelist()
