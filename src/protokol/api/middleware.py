"""API middleware: JSON bodies for the errors that django-ninja returns as plain
text, and a 422 for text that no database can store."""

import json
import re

from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.utils.translation import gettext

from protokol.errors import ValidationFailed
from protokol.validation import check_storable


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


# A JSON escape of NUL or of a surrogate, which may be half of a lone one.
UNSTORABLE_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


class UnstorableTextMiddleware:
    """Middleware that rejects API input with NUL or a lone surrogate with 422.

    It checks the path parameters, the query string and a JSON body before
    the view runs, and names the field at fault. PostgreSQL rejects such
    text in every query parameter, so without this check a code or name
    looked up by an API route would fail with 500.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if not request.path.startswith("/api/"):
            return None
        try:
            _check_request(request, view_kwargs)
        except ValidationFailed as error:
            return JsonResponse(error.as_dict(), status=error.status)
        return None


def _check_request(request, view_kwargs: dict) -> None:
    for name, value in view_kwargs.items():
        if isinstance(value, str):
            check_storable(value, field=name)
    for name, values in request.GET.lists():
        for value in values:
            check_storable(value, field=name)

    # Multipart bodies are left alone, because reading them here would take
    # in a whole upload before its size is checked. Their text fields are ids.
    if request.content_type.startswith("multipart/"):
        return
    try:
        body = request.body
    except RequestDataTooBig:
        return  # The view rejects the body with 413 when it reads it.
    if not UNSTORABLE_ESCAPE.search(body):
        return
    try:
        data = json.loads(body)
    except ValueError:
        return  # django-ninja returns 400 for a body it cannot parse.
    _check_json(data, "body")


def _check_json(value, field: str) -> None:
    """Check every string in `value`, naming items as the validation errors do."""
    if isinstance(value, str):
        check_storable(value, field=field)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_storable(key, field=field)
            _check_json(item, key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_json(item, f"{field}[{index}]")
