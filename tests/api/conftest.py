import pytest

from .client import login


@pytest.fixture
def api(demo):
    """Return a logged-in API client per demo username, made on first use."""
    clients = {}

    def client_for(username: str):
        if username not in clients:
            clients[username] = login(username)
        return clients[username]

    return client_for
