"""Routes, actors and targets of the access matrix, and how to call one cell.

The expected codes are in access_matrix.txt; this module discovers the
routes (Django's URL resolver and the API's OpenAPI document), makes the
actors and the target consultations through the real services, and turns one
(route, actor) pair into one request whose answer is a single code.
"""

import json
import re
from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.signals import request_finished
from django.db import close_old_connections, transaction
from django.shortcuts import resolve_url
from django.test import RequestFactory
from django.urls import URLResolver, get_resolver, reverse
from django.utils import timezone

from consultations.factories import PATHS, PROTOCOL, act, open_consultation, upload
from protokol.accounts import identifiers
from protokol.accounts.models import Department, Role, User
from protokol.accounts.services import create_user, issue_token
from protokol.api.api import api
from protokol.catalog.models import Service
from protokol.consultations import attachments, data_requests, personal_data
from protokol.consultations.models import Status
from protokol.disputes import services as disputes
from protokol.journal.models import JournalAction, JournalEntry
from protokol.notifications import services as notifications
from protokol.protocols.services import save_protocol
from protokol.retention import services as retention
from protokol.retention.models import Disposal, EndAction
from protokol.signing.models import Signature
from protokol.workflow import answer_templates, configuration
from protokol.workflow.models import DepartmentCalendar, RoutingRule, ServiceTarget

# Codes of the table: what one actor gets from one route.
ALLOWED = "+"  # answered (2xx, 3xx other than to the login page, 400, 409, 422)
HIDDEN = "N"  # 404, the same response as for a missing object
FORBIDDEN = "F"  # 403
LOGIN = "A"  # 401, or a redirect to the login page
NOT_LISTED = "0"  # a list or search answered without the target
CODES = (ALLOWED, HIDDEN, FORBIDDEN, LOGIN, NOT_LISTED)

# Personal data given for the target consultation and by its citizen: no
# response to an actor outside PERSONAL_DATA_READERS may contain them.
SNILS = "274-615-803 89"
SNILS_DIGITS = "27461580389"
PASSPORT = "45 19 731946"
PASSPORT_DIGITS = "4519731946"
MARKERS = (SNILS_DIGITS, SNILS, PASSPORT_DIGITS, PASSPORT)

# ASCII subjects, so that a list answers in JSON (which escapes Cyrillic) and
# HTML alike show whether they name the target.
OPEN_SUBJECT = "Matrix open target"
SIGNED_SUBJECT = "Matrix signed target"
REQUESTED_SUBJECT = "Matrix requested target"


@dataclass(frozen=True)
class Actor:
    """One column: a role and the relation of the account to the target."""

    column: str
    username: str | None
    role: str
    relation: str


# The targets are in department A; "other" accounts work in department B only.
ACTORS = [
    Actor("anon", None, "anonymous", "none"),
    Actor("cit:own", "citizen", Role.CITIZEN, "own"),
    Actor("cit:other", "citizen2", Role.CITIZEN, "other-citizen"),
    Actor("op:own", "operator", Role.OPERATOR, "own"),
    Actor("op:dept", "operator_a2", Role.OPERATOR, "same-department"),
    Actor("op:other", "operator2", Role.OPERATOR, "other-department"),
    Actor("rev:dept", "reviewer", Role.REVIEWER, "same-department"),
    Actor("rev:other", "reviewer_b", Role.REVIEWER, "other-department"),
    Actor("sup:dept", "supervisor", Role.SUPERVISOR, "same-department"),
    Actor("sup:other", "supervisor_b", Role.SUPERVISOR, "other-department"),
    Actor("aud:dept", "auditor", Role.AUDITOR, "same-department"),
    Actor("aud:other", "auditor_b", Role.AUDITOR, "other-department"),
    Actor("aud:granted", "auditor_pd", Role.AUDITOR, "same-department"),
    Actor("adm:dept", "admin", Role.ADMIN, "same-department"),
    Actor("adm:other", "admin_b", Role.ADMIN, "other-department"),
]
COLUMNS = [actor.column for actor in ACTORS]

# (username, role, department code, all departments) of the accounts the
# demo does not have.
EXTRA_ACCOUNTS = [
    ("operator_a2", Role.OPERATOR, "A", False),
    ("reviewer_b", Role.REVIEWER, "B", False),
    ("supervisor_b", Role.SUPERVISOR, "B", False),
    ("auditor_b", Role.AUDITOR, "B", False),
    ("auditor_pd", Role.AUDITOR, "", True),
    ("admin_b", Role.ADMIN, "B", False),
]


@dataclass(frozen=True)
class Request:
    """How to call a route: the target, query, JSON body or form data."""

    target: str = "open"
    query: dict = field(default_factory=dict)
    json: dict | None = None
    form: dict | None = None
    file: bool = False
    # Path parameters other than the target's ids, such as a template's code.
    params: dict = field(default_factory=dict)
    # A list or search: `+` only when the answer names the target's subject.
    lists: bool = False


def normalise(pattern: str) -> str:
    """Return a Django route pattern in OpenAPI form: "/a/<int:x>/" -> "/a/{x}/"."""
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", pattern)


def _walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern)


def url_routes() -> set[str]:
    """Return every path of the URL configuration, in OpenAPI form."""
    return {normalise(route) for route in _walk(get_resolver().url_patterns)}


def api_operations() -> set[str]:
    """Return "METHOD /path" of every operation in the API's OpenAPI document."""
    spec = api.get_openapi_schema()
    return {
        f"{method.upper()} {path}"
        for path, operations in spec["paths"].items()
        for method in operations
    }


def discovered_routes() -> tuple[set[str], set[str]]:
    """Return the API operations and the other paths that need a table row.

    Each API operation needs its own row. The URL resolver's other paths
    (pages, the OpenAPI document itself, the PKI) need a row with any method.
    """
    operations = api_operations()
    api_paths = {operation.split(" ", 1)[1] for operation in operations}
    paths = {path for path in url_routes() if path not in api_paths}
    return operations, paths


def make_accounts(demo: dict) -> dict[str, User]:
    """Create the accounts the demo lacks and return every account by username."""
    departments = {d.code: d for d in Department.objects.all()}
    users = dict(demo)
    for username, role, code, everywhere in EXTRA_ACCOUNTS:
        users[username] = create_user(
            username,
            role=role,
            password="demo",
            departments=[departments[code]] if code else (),
            all_departments=everywhere,
        )
    return users


def make_targets(users: dict[str, User]) -> SimpleNamespace:
    """Create three consultations of `citizen` in department A.

    The open one is assigned to `operator` and has a protocol draft, a file
    and the SNILS its service requires. The citizen's own identifiers include
    a passport number. The requested one waits for the citizen's answer to a
    data request whose document has a file, ready for review.
    """
    citizen = users["citizen"]
    open_one = open_consultation(citizen, service_code="SOC", subject=OPEN_SUBJECT)
    act(users["operator"], open_one, "take")
    save_protocol(users["operator"], open_one.pk, **PROTOCOL)
    attachment = attachments.add_attachment(citizen, open_one.pk, upload())
    personal_data.set_collected_data(citizen, open_one.pk, {"snils": SNILS})
    identifiers.set_identifiers(citizen, {"passport": PASSPORT})
    open_one.refresh_from_db()

    signed = open_consultation(citizen, subject=SIGNED_SUBJECT)
    for username, action in PATHS[Status.SIGNED]:
        if action == "save":
            save_protocol(users[username], signed.pk, **PROTOCOL)
        else:
            act(users[username], signed, action)
    signed.refresh_from_db()

    requested = open_consultation(
        citizen, service_code="SOC", subject=REQUESTED_SUBJECT
    )
    act(users["operator"], requested, "take")
    data_requests.request_data(
        users["operator"],
        requested.pk,
        documents=["Справка о доходах"],
        comment="Нужна справка",
    )
    document = data_requests.checklist(requested)[0]
    attachments.add_attachment(citizen, requested.pk, upload(), document_id=document.pk)
    requested.refresh_from_db()

    first_entry = JournalEntry.objects.filter(consultation_id=open_one.pk).first()
    webhook = notifications.create_webhook(
        None, name="CRM", url="https://crm.example.org/hook"
    )
    return SimpleNamespace(
        open=open_one,
        signed=signed,
        requested=requested,
        ids={
            "open": {
                "consultation_id": open_one.pk,
                "attachment_id": attachment.pk,
                "index": first_entry.index,
                "webhook_id": webhook.pk,
                "number": open_one.number,
                "subject": OPEN_SUBJECT,
            },
            "signed": {
                "consultation_id": signed.pk,
                "signature_id": Signature.objects.filter(consultation=signed)
                .first()
                .pk,
                "index": first_entry.index,
                "webhook_id": webhook.pk,
                "number": signed.number,
                "subject": SIGNED_SUBJECT,
            },
            "requested": {
                "consultation_id": requested.pk,
                "document_id": document.pk,
                "index": first_entry.index,
                "webhook_id": webhook.pk,
                "number": requested.number,
                "subject": REQUESTED_SUBJECT,
            },
        },
    )


def tokens_for(users: dict[str, User]) -> dict[str, str]:
    """Return a bearer token for every actor with an account."""
    request = RequestFactory().post("/api/v1/auth/token")
    return {
        actor.username: issue_token(request, actor.username, "demo")
        for actor in ACTORS
        if actor.username
    }


@dataclass(frozen=True)
class Answer:
    """What one actor got from one route: the table code, text and denials."""

    code: str
    text: str
    denials: int


def is_login_redirect(response) -> bool:
    """Return whether the response redirects to the login page itself.

    Other pages under /login/ (the second factor) are answers, not a demand
    to sign in. The admin site sends visitors to its own login page first.
    """
    location = urlsplit(response.get("Location", "")).path
    login_pages = {resolve_url(settings.LOGIN_URL), reverse("admin:login")}
    return response.status_code == 302 and location in login_pages


def code_of(response, text: str, request: Request, subject: str) -> str:
    """Return the table code of a response; a 5xx fails the caller's test."""
    status = response.status_code
    if status >= 500:
        raise AssertionError(f"server error {status}: {text[:300]}")
    if status == 401 or is_login_redirect(response):
        return LOGIN
    if status == 403:
        return FORBIDDEN
    if status == 404:
        return HIDDEN
    if request.lists and subject not in text:
        return NOT_LISTED
    return ALLOWED


def call(client, route: str, request: Request, actor: Actor, users, tokens, targets):
    """Send one request as `actor` and return its answer.

    A write runs in a savepoint that is rolled back, so every actor meets the
    same targets. Reads keep what they write (journal entries, the cached PDF
    copy), which changes no answer and lets later copies come from the cache.
    """
    method, template = route.split(" ", 1)
    values = targets.ids[request.target]
    path = template.format(**_parameters(template, request, targets))
    extra = {}

    client.logout()
    if actor.username and path.startswith("/api/v1/"):
        extra["HTTP_AUTHORIZATION"] = f"Bearer {tokens[actor.username]}"
    elif actor.username:
        client.force_login(users[actor.username])

    with transaction.atomic():
        before = _denial_count()
        response = _send(client, method, path, request, extra, values)
        text = _read(response)
        denials = _denial_count() - before
        transaction.set_rollback(method != "GET")
    code = code_of(response, text, request, values["subject"])
    return Answer(code=code, text=text, denials=denials)


def _denial_count() -> int:
    return JournalEntry.objects.filter(action=JournalAction.ACCESS_DENIED).count()


def _read(response) -> str:
    """Return the body as text; an event stream is closed unread."""
    if not response.streaming:
        return response.content.decode("utf-8", "replace")
    if response.is_async:
        # Closing fires request_finished, whose close_old_connections would
        # close the test's connection inside its transaction.
        request_finished.disconnect(close_old_connections)
        try:
            response.close()
        finally:
            request_finished.connect(close_old_connections)
        return ""
    return b"".join(response.streaming_content).decode("utf-8", "replace")


def _parameters(template: str, request: Request, targets) -> dict:
    names = re.findall(r"{(\w+)}", template)
    known = {**targets.ids[request.target], **request.params}
    return {name: known[name] for name in names}


def _fill(body: dict, values: dict) -> dict:
    """Return a JSON body whose "{name}" values are the target's ids."""
    return {
        key: values[value[1:-1]] if re.fullmatch(r"{\w+}", str(value)) else value
        for key, value in body.items()
    }


def _send(client, method, path, request: Request, extra: dict, values: dict):
    query = {name: str(value).format(**values) for name, value in request.query.items()}
    request = replace(request, query=query)
    if request.file:
        return client.post(path, {"file": upload("ещё.pdf")}, **extra)
    if request.json is not None:
        return client.generic(
            method,
            path,
            data=json.dumps(_fill(request.json, values)),
            content_type="application/json",
            QUERY_STRING=urlencode(request.query),
            **extra,
        )
    if method == "POST":
        return client.post(
            path, request.form or {}, QUERY_STRING=urlencode(request.query), **extra
        )
    return client.generic(method, path, QUERY_STRING=urlencode(request.query), **extra)


DISPUTED_SUBJECT = "Matrix disputed target"
DISPOSED_SUBJECT = "Matrix disposed target"
CLAIMS = "The protocol leaves out the income statement I brought."


def add_dispute(users: dict[str, User], targets: SimpleNamespace) -> None:
    """Add the "disputed" target: a signed consultation its citizen disputed.

    The expert is `reviewer_b` of department B, who signed nothing in it, so
    the rev:other column shows what the assigned expert may do.
    """
    disputed = open_consultation(users["citizen"], subject=DISPUTED_SUBJECT)
    for username, action in PATHS[Status.SIGNED]:
        if action == "save":
            save_protocol(users[username], disputed.pk, **PROTOCOL)
        else:
            act(users[username], disputed, action)
    dispute = disputes.open_dispute(users["citizen"], disputed.pk, claims=CLAIMS)
    disputes.assign_expert(users["supervisor"], dispute.pk, expert="reviewer_b")

    targets.ids["disputed"] = {
        "consultation_id": disputed.pk,
        "dispute_id": dispute.pk,
        "number": disputed.number,
        "subject": DISPUTED_SUBJECT,
    }


def add_retention_objects(users: dict[str, User], targets: SimpleNamespace) -> None:
    """Add a legal hold, an auditor's archive grant and a disposal in department A.

    The disposal's consultation keeps its row, which no route under test
    reads; the disposal list names it by its number.
    """
    hold = retention.set_legal_hold(
        users["supervisor"], targets.signed.pk, reason="Court request"
    )
    grant = retention.grant_archive_access(
        users["admin"], "auditor", reason="Annual audit", days=10
    )
    for ids in targets.ids.values():
        ids.update(hold_id=hold.pk, grant_id=grant.pk)

    disposed = open_consultation(users["citizen"], subject=DISPOSED_SUBJECT)
    now = timezone.now()
    Disposal.objects.create(
        consultation_id=disposed.pk,
        number=disposed.number,
        citizen_id=disposed.citizen_id,
        service_code=disposed.service.code,
        end_action=EndAction.DELETE,
        years=5,
        closed_at=now,
        due_at=now,
        disposed_at=now,
        journal_index=JournalEntry.objects.latest("index").index,
    )
    # JSON escapes the number's Cyrillic prefix, so the list is searched for
    # the year and sequence after it.
    targets.ids["disposed"] = {"subject": disposed.number.split("-", 1)[1]}


# The admin site's models; each is a target whose `object_id` is one row.
ADMIN_MODELS = ("answertemplate", "departmentcalendar", "routingrule", "servicetarget")


def add_admin_objects(users: dict[str, User], targets: SimpleNamespace) -> None:
    """Add one row of each admin model, as the targets "admin:<model>"."""
    admin = users["admin"]
    department = Department.objects.get(code="A")
    service = Service.objects.get(code="SOC")
    rows = {
        "answertemplate": answer_templates.save_template(
            admin, code="matrix", title="Matrix template", body_ru="Текст"
        ),
        "departmentcalendar": configuration.save_calendar(
            admin,
            DepartmentCalendar(
                department=department, week=[["09:00", "18:00"]] * 5 + [None, None]
            ),
        ),
        "routingrule": configuration.save_routing_rule(
            admin, RoutingRule(priority=1, keywords="matrix", department=department)
        ),
        "servicetarget": configuration.save_target(
            admin,
            ServiceTarget(
                service=service, name="answer", amount=10, unit="working_days"
            ),
        ),
    }
    for model, row in rows.items():
        targets.ids[f"admin:{model}"] = {
            "object_id": row.pk,
            "content_type_id": ContentType.objects.get_for_model(row).pk,
            "subject": "",
        }


def admin_requests(paths) -> dict[str, "Request"]:
    """Return how to call the admin pages that name one model's row.

    The catch-all patterns get a path that matches no page.
    """
    requests = {}
    for path in paths:
        if not path.startswith("/admin/"):
            continue
        model = next((m for m in ADMIN_MODELS if f"/{m}/" in path), None)
        if model and "{object_id}" in path:
            requests[f"GET {path}"] = Request(target=f"admin:{model}")
        elif "{content_type_id}" in path:
            requests[f"GET {path}"] = Request(target="admin:routingrule")
        elif "{" in path:
            requests[f"GET {path}"] = Request(params={"url": "x", "app_label": ""})
    return requests


def dispute_and_privacy_requests() -> dict[str, Request]:
    """Return how to call the dispute, profile, retention and privacy routes."""
    api, disputed = "/api/v1", Request(target="disputed")
    dispute = "/disputes/{dispute_id}"
    return {
        f"POST {api}/consultations/{{consultation_id}}/disputes": Request(
            target="signed", json={"claims": CLAIMS}
        ),
        f"GET {api}/disputes": Request(target="disputed", lists=True),
        f"GET {api}{dispute}": disputed,
        f"GET {api}{dispute}/candidates": disputed,
        f"POST {api}{dispute}/expert": replace(
            disputed, json={"expert": "supervisor_b"}
        ),
        f"POST {api}{dispute}/conclusion": replace(disputed, json={"text": "Agreed"}),
        f"POST {api}{dispute}/close": replace(
            disputed, json={"outcome": "conclude", "comment": "Done"}
        ),
        "GET /disputes/": Request(target="disputed", lists=True),
        f"GET {dispute}/": disputed,
        f"POST {dispute}/expert/": replace(disputed, form={"expert": "supervisor_b"}),
        f"POST {dispute}/conclusion/": replace(disputed, form={"text": "Agreed"}),
        f"POST {dispute}/close/": replace(
            disputed, form={"outcome": "conclude", "comment": "Done"}
        ),
        f"PUT {api}/profile": Request(json={"time_zone": "Asia/Vladivostok"}),
        "POST /profile/": Request(form={"time_zone": "Asia/Vladivostok"}),
        f"PUT {api}/retention/policies/{{service_code}}": Request(
            params={"service_code": "SOC"}, json={"years": 5, "end_action": "delete"}
        ),
        f"POST {api}/retention/holds": Request(
            json={"consultation_id": "{consultation_id}", "reason": "Court"}
        ),
        f"POST {api}/retention/holds/{{hold_id}}/lift": Request(
            json={"reason": "Settled"}
        ),
        f"GET {api}/retention/disposals": Request(target="disposed", lists=True),
        f"POST {api}/retention/grants": Request(
            json={"username": "auditor_b", "reason": "Audit", "days": 5}
        ),
        f"POST {api}/privacy/erasure": Request(json={"confirm": True}),
        "POST /privacy/erasure/": Request(form={"confirm": "on"}),
    }
