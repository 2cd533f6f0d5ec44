"""A bearer-token API client and the row counts that failed requests must keep."""

import json

from django.test import Client

from protokol.consultations.models import Attachment, Consultation, Message, Transition
from protokol.journal.models import JournalEntry
from protokol.protocols.models import ProtocolVersion

BASE = "/api/v1"
ERROR_KEYS = {"error", "message", "field"}
# Failed requests may still journal these: the attempt itself is the record.
ATTEMPT_ACTIONS = ["access:denied", "security:alert", "user:login_failed"]


class ApiClient:
    """A Django test client that sends one user's bearer token with each request."""

    def __init__(self, token: str | None = None):
        self.client = Client()
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}

    def get(self, path: str, **params):
        return self.client.get(BASE + path, params, **self.headers)

    def post(self, path: str, body=None):
        return self.client.post(
            BASE + path,
            json.dumps(body),
            content_type="application/json",
            **self.headers,
        )

    def put(self, path: str, body=None):
        return self.client.put(
            BASE + path,
            json.dumps(body),
            content_type="application/json",
            **self.headers,
        )

    def post_raw(self, path: str, data: bytes, content_type: str):
        return self.client.post(
            BASE + path, data, content_type=content_type, **self.headers
        )

    def upload(self, path: str, upload):
        return self.client.post(BASE + path, {"file": upload}, **self.headers)


def login(username: str, password: str = "demo") -> ApiClient:
    """Return a client holding a token from POST /auth/token."""
    response = ApiClient().post(
        "/auth/token", {"username": username, "password": password}
    )
    assert response.status_code == 200, response.content
    return ApiClient(response.json()["token"])


def write_counts() -> dict[str, int]:
    """Count the rows that only successful writes may add."""
    return {
        "consultations": Consultation.objects.count(),
        "messages": Message.objects.count(),
        "attachments": Attachment.objects.count(),
        "protocol_versions": ProtocolVersion.objects.count(),
        "transitions": Transition.objects.count(),
        "journal": JournalEntry.objects.exclude(action__in=ATTEMPT_ACTIONS).count(),
    }


def multipart(filename: str, content: bytes, content_type: str) -> tuple[bytes, str]:
    """Encode one file part by hand, so the name reaches the server unaltered."""
    boundary = "protokol-test-boundary"
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    )
    body = head.encode() + content + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"
