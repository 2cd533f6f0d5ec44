"""API authentication: bearer tokens, or the page session with its CSRF check."""

from ninja.security import HttpBearer, django_auth

from protokol.accounts.services import user_for_token


class BearerToken(HttpBearer):
    def authenticate(self, request, token):
        user = user_for_token(token)
        if user is not None:
            request.user = user
        return user


API_AUTH = [BearerToken(), django_auth]
