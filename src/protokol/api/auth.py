"""API authentication: bearer tokens, or the page session with its CSRF check."""

from ninja.security import HttpBearer, SessionAuth

from protokol.accounts.services import user_for_token


class BearerToken(HttpBearer):
    def authenticate(self, request, token):
        user = user_for_token(token)
        if user is not None:
            request.user = user
        return user


class PageSession(SessionAuth):
    """The page session, used only when the request carries no Authorization header.

    A request with a bad bearer token must get 401, not fall through to the
    session check and fail its CSRF test with 403.
    """

    def __call__(self, request):
        if "Authorization" in request.headers:
            return None
        return super().__call__(request)


API_AUTH = [BearerToken(), PageSession()]
