"""A citizen's erasure request: anonymised person, kept protocols and journal."""

import io
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django.core.management import call_command

from api.client import login
from consultations.factories import consultation_in
from protokol.accounts.identifiers import set_identifiers
from protokol.accounts.models import ApiToken, CitizenIdentifiers, User
from protokol.consultations import services
from protokol.consultations.models import Message, Status, Transition
from protokol.journal import checkpoints, tree
from protokol.journal import services as journal
from protokol.journal.models import JournalEntry
from protokol.profiles import services as profiles
from protokol.retention import erasure, policy
from protokol.retention.models import ErasureRequest
from protokol.retention.services import set_legal_hold

from .conftest import close_years_ago, journal_rows_text


def test_erasure_anonymises_person(demo):
    citizen = demo["citizen"]
    consultation_in(demo, Status.WITHDRAWN)
    consultation = consultation_in(demo, Status.DRAFTING)
    services.add_message(
        citizen, consultation.pk, text="Добрый день", visibility="public"
    )
    set_identifiers(citizen, {"inn": "502731884666"})
    client = login("citizen")

    response = client.post("/privacy/erasure", {"confirm": True})

    assert response.status_code == 201, response.content
    user = User.objects.get(pk=citizen.pk)
    assert user.username == f"erased-{citizen.pk}"
    assert (user.first_name, user.last_name, user.email) == ("", "", "")
    assert not user.is_active
    assert not user.has_usable_password()
    assert not CitizenIdentifiers.objects.filter(user=user).exists()
    assert not ApiToken.objects.filter(user=user).exists()
    names = set(
        Message.objects.filter(author=user).values_list("author_name", flat=True)
    )
    assert names == {user.username}
    actors = set(
        Transition.objects.filter(actor=user).values_list("actor_name", flat=True)
    )
    assert actors == {user.username}
    assert "identifiers.inn" in response.json()["response"]["erased"]


def test_erasure_explains_kept_records(demo, english):
    open_one = consultation_in(demo, Status.DRAFTING)
    closed = consultation_in(demo, Status.WITHDRAWN)
    close_years_ago(closed, 1)
    held = consultation_in(demo, Status.WITHDRAWN)
    set_legal_hold(demo["supervisor"], held.pk, reason="Иск")

    answer = erasure.request_erasure(demo["citizen"], confirm=True).response

    kept = {item["number"]: item for item in answer["kept"]}
    assert set(kept) == {open_one.number, closed.number, held.number}
    assert kept[open_one.number]["until"] is None
    assert "not closed" in kept[open_one.number]["reason"]
    assert kept[closed.number]["until"] == policy.kept_until(closed).isoformat()
    assert "5 years" in kept[closed.number]["reason"]
    assert kept[held.number]["until"] is None
    assert "legal hold" in kept[held.number]["reason"]
    journal_part = answer["journal"]
    assert journal_part["redacted"] > 0
    assert journal_part["entries"] == 0
    assert journal_part["reason"]


def test_erasure_journaled_under_pseudonym(demo):
    citizen = demo["citizen"]
    consultation_in(demo, Status.DRAFTING)

    login("citizen").post("/privacy/erasure", {"confirm": True})

    entry = journal.with_payloads(
        [JournalEntry.objects.get(action="retention:erasure")]
    )[0]
    assert entry.actor_id == citizen.pk
    assert entry.actor_name == f"erased-{citizen.pk}"
    assert citizen.get_full_name() not in str(entry.after)
    assert ErasureRequest.objects.get().journal_index == entry.index
    assert journal.verify(journal.iter_entry_rows()) is None


def test_erasure_removes_name_from_journal(demo):
    citizen = demo["citizen"]
    name = citizen.display_name
    consultation = consultation_in(demo, Status.WITHDRAWN)
    services.add_message(
        citizen, consultation.pk, text="Добрый день", visibility="public"
    )
    checkpoints.issue_checkpoint()
    old_size = tree.tree_size()
    old_root = tree.root(old_size)
    assert name in journal_rows_text()

    login("citizen").post("/privacy/erasure", {"confirm": True})

    assert name not in journal_rows_text()
    assert journal.verify(journal.iter_entry_rows()) is None
    assert tree.root(old_size) == old_root
    redactions = JournalEntry.objects.filter(action="journal:redact")
    assert redactions.exists()
    request = ErasureRequest.objects.get()
    assert redactions.first().after["erasure_request"] == request.pk
    assert request.response["journal"]["redacted"] > 0
    out = io.StringIO()
    call_command("journal", "verify", stdout=out, stderr=io.StringIO())
    assert out.getvalue().startswith("Journal OK")


def test_erasure_without_confirm_rejected(demo):
    response = login("citizen").post("/privacy/erasure", {"confirm": False})

    assert response.status_code == 422
    assert response.json()["field"] == "confirm"
    assert User.objects.get(pk=demo["citizen"].pk).username == "citizen"
    assert not ErasureRequest.objects.exists()


def test_erasure_by_staff_forbidden(demo):
    response = login("operator").post("/privacy/erasure", {"confirm": True})

    assert response.status_code == 403
    assert User.objects.get(pk=demo["operator"].pk).is_active


def test_staff_list_of_requests(demo):
    login("citizen").post("/privacy/erasure", {"confirm": True})

    listed = login("supervisor").get("/privacy/erasure-requests")
    denied = login("operator").get("/privacy/erasure-requests")

    assert listed.status_code == 200
    assert [r["pseudonym"] for r in listed.json()] == [f"erased-{demo['citizen'].pk}"]
    assert denied.status_code == 403
    assert JournalEntry.objects.filter(action="retention:requests_read").count() == 1


def test_erasure_page_flow(demo, client):
    consultation_in(demo, Status.WITHDRAWN)
    client.force_login(demo["citizen"])

    page = client.get("/privacy/")
    unconfirmed = client.post("/privacy/erasure/", {})
    done = client.post("/privacy/erasure/", {"confirm": "on"})

    assert page.status_code == 200
    assert "/privacy/export/" in page.text
    assert unconfirmed.status_code == 422
    assert done.status_code == 200
    assert f"erased-{demo['citizen'].pk}" in done.text
    assert client.get("/privacy/").status_code == 302
    client.force_login(demo["auditor"])
    staff = client.get("/privacy/requests/")
    assert staff.status_code == 200
    assert f"erased-{demo['citizen'].pk}" in staff.text


def test_erasure_page_names_kept_status(demo, client):
    consultation_in(demo, Status.WITHDRAWN)
    client.force_login(demo["citizen"])

    done = client.post("/privacy/erasure/", {"confirm": "on"})

    assert done.status_code == 200
    assert "<td>отозвана</td>" in done.text
    assert "<td>withdrawn</td>" not in done.text


def test_erasure_pages_show_dates_in_viewer_zone(demo, client):
    closed = consultation_in(demo, Status.WITHDRAWN)
    close_years_ago(closed, 1)
    profiles.set_time_zone(demo["citizen"], "Asia/Vladivostok")
    profiles.set_time_zone(demo["auditor"], "Asia/Kamchatka")
    client.force_login(demo["citizen"])

    done = client.post("/privacy/erasure/", {"confirm": "on"})
    request = ErasureRequest.objects.get()
    # 22:30 in UTC is the next day in Vladivostok (+10) and Kamchatka (+12).
    request.created_at = datetime(2026, 3, 4, 22, 30, tzinfo=UTC)
    request.save(update_fields=["created_at"])
    client.force_login(demo["auditor"])
    staff = client.get("/privacy/requests/")

    until = datetime.fromisoformat(request.response["kept"][0]["until"])
    for page, zone in ((done, "Asia/Vladivostok"), (staff, "Asia/Kamchatka")):
        local_until = until.astimezone(ZoneInfo(zone)).strftime("%d.%m.%Y")
        assert f">{local_until}</time></td>" in page.text
        assert f"<td>{until.date().isoformat()}</td>" not in page.text
    assert ">05.03.2026 10:30</time>" in staff.text
    assert "2026-03-04 22:30" not in staff.text
