"""The citizen's attachments embedded in sealed copies as Data associated files."""

import pytest
from django.conf import settings

from protokol.documents.services import issue_copy

from .pdf_tools import expanded_pdf, run_tool
from .test_sealed_copy import verify

SCAN = b"%PDF-1.7 scan"
SCAN_NAME = "свидетельство о рождении.pdf"


def embedded_names(path) -> set[str]:
    listing = run_tool("pdfdetach", "-list", path)
    assert listing.returncode == 0, listing.stderr
    return {line.split(": ", 1)[1] for line in listing.stdout.splitlines()[1:]}


def sealed_copy(consultation, citizen, tmp_path):
    _, content = issue_copy(citizen, consultation.pk)
    path = tmp_path / "sealed.pdf"
    path.write_bytes(content)
    return path


@pytest.fixture
def embedding(monkeypatch):
    monkeypatch.setattr(settings.CONFIG, "copy_embed_attachments", True)


def test_attachments_not_embedded_by_default(signed_consultation, demo, tmp_path):
    path = sealed_copy(signed_consultation, demo["citizen"], tmp_path)

    assert not any(name.startswith("attachment-") for name in embedded_names(path))


def test_attachment_embedded_decrypted(embedding, signed_consultation, demo, tmp_path):
    attachment = signed_consultation.attachments.get()
    # Stored encrypted: the file in storage is not the plaintext.
    assert attachment.wrapped_key is not None
    path = sealed_copy(signed_consultation, demo["citizen"], tmp_path)
    name = f"attachment-{attachment.pk}-{SCAN_NAME}"

    assert name in embedded_names(path)
    out = tmp_path / "detached"
    out.mkdir()
    result = run_tool("pdfdetach", "-saveall", "-o", out, path)
    assert result.returncode == 0, result.stderr
    assert (out / name).read_bytes() == SCAN
    expanded = expanded_pdf(path)
    assert b"/AFRelationship /Data" in expanded
    assert b"/Subtype /application#2fpdf" in expanded
    passed, report = verify(path)
    assert passed, report


def test_attachment_above_cap_not_embedded(
    embedding, monkeypatch, signed_consultation, demo, tmp_path
):
    monkeypatch.setattr(settings.CONFIG, "copy_embed_max_bytes", len(SCAN) - 1)
    path = sealed_copy(signed_consultation, demo["citizen"], tmp_path)

    assert not any(name.startswith("attachment-") for name in embedded_names(path))
    passed, report = verify(path)
    assert passed, report
