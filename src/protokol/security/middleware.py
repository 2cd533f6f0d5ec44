"""Journal every 403 response that no service journaled itself."""

from protokol.security.context import denials_var
from protokol.security.services import record_denial


class DenialMiddleware:
    """Write one access:denied entry for a 403 to a signed-in user.

    Services journal the denials they decide, with the object and reason.
    Checks made in a view or an API router (analytics for staff, webhooks and
    dead letters for administrators, templates, a citizen's identifiers)
    only return 403, so this middleware journals those, naming the route.
    Anonymous requests get 401 or the login page and are not journaled.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = denials_var.set([])
        try:
            response = self.get_response(request)
            if response.status_code == 403 and not denials_var.get():
                self._record(request)
            return response
        finally:
            denials_var.reset(token)

    @staticmethod
    def _record(request) -> None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return
        match = request.resolver_match
        route = "/" + match.route if match else request.path
        record_denial(
            user,
            object_type="route",
            object_id=route[:64],
            object_label=route,
            reason="forbidden",
            operation=request.method,
        )
