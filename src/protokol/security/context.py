"""The client address and user agent of the request being served."""

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Client:
    """The address and user agent of a request's client, as the server saw them.

    `ip` is REMOTE_ADDR, so behind a reverse proxy it is the proxy's address.
    """

    ip: str = ""
    user_agent: str = ""


NO_CLIENT = Client()
client_var: ContextVar[Client | None] = ContextVar("client", default=None)


def current_client() -> Client:
    """Return the client of the request being served, or an empty one outside one."""
    return client_var.get() or NO_CLIENT


def client_of(request) -> Client:
    """Return the client of a Django request."""
    return Client(
        ip=request.META.get("REMOTE_ADDR", "")[:64],
        user_agent=request.headers.get("User-Agent", "")[:300],
    )


class ClientMiddleware:
    """Bind the request's client to the context, for the journal's denial entries."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = client_var.set(client_of(request))
        try:
            return self.get_response(request)
        finally:
            client_var.reset(token)


# Indexes of the access:denied entries written while serving the request, so
# that DenialMiddleware journals a 403 that no service journaled.
denials_var: ContextVar[list[int] | None] = ContextVar("denials", default=None)


def note_denial(index: int) -> None:
    """Remember that the request being served journaled a denial."""
    recorded = denials_var.get()
    if recorded is not None:
        recorded.append(index)
