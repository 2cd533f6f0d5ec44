"""What live pages poll: changes, not reads, and presence for staff only."""

from consultations.factories import consultation_in, open_consultation
from protokol.consultations import services
from protokol.consultations.models import Status
from protokol.workflow import live
from protokol.workflow.models import Presence


def test_reads_do_not_count_as_changes(demo):
    consultation = open_consultation(demo["citizen"])
    before = live.last_change(consultation.pk)

    services.read_consultation(demo["citizen"], consultation.pk)

    assert live.last_change(consultation.pk) == before


def test_message_counts_as_a_change(demo):
    consultation = open_consultation(demo["citizen"])
    before = live.last_change(consultation.pk)

    services.add_message(
        demo["citizen"], consultation.pk, text="Дополнение", visibility="public"
    )

    assert live.last_change(consultation.pk) > before


def test_queue_changes_are_limited_to_own_departments(demo):
    consultation_in(demo, Status.INITIATED)
    seen_by_b = live.last_queue_change(demo["operator2"])

    open_consultation(demo["citizen"])

    assert live.last_queue_change(demo["operator2"]) == seen_by_b
    assert live.last_queue_change(demo["operator"]) > seen_by_b


def test_presence_names_other_staff_only_to_staff(demo):
    consultation = open_consultation(demo["citizen"])

    live.touch(demo["citizen"], consultation.pk)
    live.touch(demo["supervisor"], consultation.pk)

    assert live.touch(demo["operator"], consultation.pk) == [
        demo["supervisor"].display_name
    ]
    assert live.touch(demo["citizen"], consultation.pk) == []


def test_leaving_removes_the_viewer(demo):
    consultation = open_consultation(demo["citizen"])
    live.touch(demo["supervisor"], consultation.pk)

    live.leave_many([(demo["supervisor"].pk, consultation.pk)])

    assert live.touch(demo["operator"], consultation.pk) == []


def test_changes_between_skips_reads(demo):
    consultation = open_consultation(demo["citizen"])
    before = live.latest_index()

    services.read_consultation(demo["citizen"], consultation.pk)
    services.add_message(
        demo["citizen"], consultation.pk, text="Дополнение", visibility="public"
    )
    services.read_consultation(demo["citizen"], consultation.pk)

    changes = live.changes_between(before, live.latest_index())
    assert list(changes) == [consultation.pk]
    assert changes[consultation.pk] == live.last_change(consultation.pk)


def test_visible_ids_follow_departments(demo):
    own = consultation_in(demo, Status.INITIATED)

    assert live.visible_ids(demo["operator"], [own.pk]) == {own.pk}
    assert live.visible_ids(demo["operator2"], [own.pk]) == set()


def test_touch_many_upserts_each_page(demo):
    first = open_consultation(demo["citizen"])
    second = open_consultation(demo["citizen"])
    live.touch(demo["operator"], first.pk)

    present = live.touch_many(
        [(demo["operator"], first.pk), (demo["supervisor"], second.pk)]
    )

    assert Presence.objects.filter(user=demo["operator"]).count() == 1
    assert [name for _, name in present[first.pk]] == [demo["operator"].display_name]
    assert [name for _, name in present[second.pk]] == [demo["supervisor"].display_name]


def test_event_stream_needs_a_signed_in_user(client, demo):
    consultation = open_consultation(demo["citizen"])

    response = client.get(f"/consultations/{consultation.pk}/events/")

    assert response.status_code == 401


def test_event_stream_hides_someone_elses_consultation(client, demo):
    consultation = open_consultation(demo["citizen"])
    client.force_login(demo["citizen2"])

    response = client.get(f"/consultations/{consultation.pk}/events/")

    assert response.status_code == 404


def test_queue_stream_is_for_staff(client, demo):
    client.force_login(demo["citizen"])

    response = client.get("/queue/events/")

    assert response.status_code == 403
