"""JSON bodies for the API errors that django-ninja returns as plain text."""

from django.http import JsonResponse
from django.utils.translation import gettext


class MethodNotAllowedMiddleware:
    """Middleware that gives django-ninja's plain-text 405 under /api/ the API's
    error format.

    The Allow header stays, sorted, and the message names the allowed methods.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code != 405 or not request.path.startswith("/api/"):
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response

        # Django joins django-ninja's set of methods in no fixed order.
        methods = (method.strip() for method in response.get("Allow", "").split(","))
        allowed = ", ".join(sorted(method for method in methods if method))
        message = gettext(
            "Method %(method)s is not allowed on this path; use %(allowed)s."
        ) % {"method": request.method, "allowed": allowed}
        body = {"error": "method_not_allowed", "message": message, "field": None}
        json_response = JsonResponse(body, status=405)
        json_response["Allow"] = allowed
        return json_response
