"""Attachments in S3-compatible object storage, against a real SeaweedFS."""

import uuid

import pytest

from consultations.factories import upload
from protokol.consultations import attachments
from protokol.settings import Config, storage_settings

from .conftest import s3_client


@pytest.fixture
def bucket_storage(s3_server, settings):
    """Point Django's default storage at a new bucket; yield the bucket name."""
    bucket = f"protokol-{uuid.uuid4().hex[:12]}"
    s3_client(s3_server).create_bucket(Bucket=bucket)
    settings.STORAGES = storage_settings(
        Config(
            s3_bucket=bucket,
            s3_endpoint_url=s3_server,
            s3_region="us-east-1",
            s3_access_key="protokol-test",
            s3_secret_key="protokol-test-secret",
        )
    )
    yield bucket


def test_local_files_without_bucket():
    storages = storage_settings(Config())

    assert storages["default"]["BACKEND"].endswith("FileSystemStorage")


def test_attachment_stored_encrypted_in_bucket(
    s3_server, bucket_storage, consultation, demo
):
    content = "Справка о составе семьи, № 17".encode()

    attachment = attachments.add_attachment(
        demo["citizen"],
        consultation.pk,
        upload("справка.txt", content, "text/plain"),
    )

    stored = (
        s3_client(s3_server)
        .get_object(Bucket=bucket_storage, Key=attachment.storage_key)["Body"]
        .read()
    )
    assert stored != content
    assert len(stored) == len(content) + 16


def test_attachment_read_back_from_bucket(bucket_storage, consultation, demo):
    content = b"%PDF-1.4 test"
    attachment = attachments.add_attachment(
        demo["citizen"], consultation.pk, upload("справка.pdf", content)
    )

    found, handle = attachments.open_attachment(
        demo["operator"], consultation.pk, attachment.pk
    )

    with handle:
        assert handle.read() == content
    assert found.pk == attachment.pk


def test_attachment_download_through_api(bucket_storage, consultation, demo):
    from api.client import login

    content = b"%PDF-1.4 test"
    attachment = attachments.add_attachment(
        demo["citizen"], consultation.pk, upload("справка.pdf", content)
    )

    response = login("operator").get(
        f"/consultations/{consultation.pk}/attachments/{attachment.pk}"
    )

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == content
