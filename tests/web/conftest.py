"""Fixtures of the page tests: signed-in clients."""

import pytest


@pytest.fixture
def login_as(client, demo):
    """Sign the test client in as a demo account and return the client."""

    def sign_in(username):
        client.force_login(demo[username])
        return client

    return sign_in
