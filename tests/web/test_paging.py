"""Lists count their rows up to a limit and show "N+" beyond it."""

from consultations.factories import open_consultation
from protokol.consultations.models import Consultation
from protokol.web.paging import CappedPaginator


def test_count_stops_at_limit_and_label_says_more(demo, monkeypatch):
    from protokol.web import paging

    for _ in range(3):
        open_consultation(demo["citizen"])
    monkeypatch.setattr(paging.capped_count, "__defaults__", (2,))

    paginator = CappedPaginator(Consultation.objects.all(), 1)

    assert (paginator.count, paginator.more, paginator.count_label) == (2, True, "2+")
    assert paginator.num_pages == 2


def test_count_below_limit_is_exact(demo):
    open_consultation(demo["citizen"])

    paginator = CappedPaginator(Consultation.objects.all(), 50)

    assert (paginator.count, paginator.more, paginator.count_label) == (1, False, "1")
