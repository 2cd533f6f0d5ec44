"""structlog set-up and the request-id middleware that binds ids to every event."""

import logging
import sys
import uuid
from contextvars import ContextVar

import structlog

request_id_var: ContextVar[str] = ContextVar("request_id", default="")


def configure_logging(*, json_output: bool, level: str) -> None:
    """Route stdlib and structlog events through one renderer on stderr.

    Stdlib records (Django's, libraries') pass through the same processors,
    so in JSON mode they too are JSON lines with the request id.
    """
    renderer = (
        structlog.processors.JSONRenderer()
        if json_output
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelName(level.upper())
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    # WeasyPrint reports every rendering step at INFO, which would flood the logs.
    logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)


def current_request_id() -> str:
    """Return the id of the request being served, or an empty string outside one."""
    return request_id_var.get()


class RequestIdMiddleware:
    """Give each request an id, echo it in X-Request-ID and bind it to log events."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _is_safe_id(incoming) else uuid.uuid4().hex
        request.request_id = request_id

        token = request_id_var.set(request_id)
        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            response = self.get_response(request)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response


def _is_safe_id(value: str) -> bool:
    return 8 <= len(value) <= 64 and all(c.isalnum() or c in "-_" for c in value)
