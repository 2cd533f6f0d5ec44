"""Authorization overhead: a page of 100 consultations with and without the predicate.

Run by `bench/run.py --sections authz` inside a fresh installation. Creates
consultations in two departments, then times, interleaved and best of
several rounds:
- the operator's list through `services.list_consultations` (the department
  scope of `permissions.consultation_scope`), first 100 rows;
- the same query without any scope (baseline);
- `permissions.can_view_consultation` on each of the 100 rows.
Prints one JSON object.
"""

import json
import sys
import time

import django

django.setup()

from protokol.accounts.models import User  # noqa: E402
from protokol.catalog.models import Service  # noqa: E402
from protokol.consultations import permissions, services  # noqa: E402
from protokol.consultations.models import Consultation  # noqa: E402

ROUNDS = 7
REPEATS = 50


def best_of(function) -> float:
    """Return the best time of ROUNDS rounds of REPEATS calls, per call."""
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(REPEATS):
            function()
        best = min(best, (time.perf_counter() - started) / REPEATS)
    return best


def main(count: int) -> None:
    citizen = User.objects.get(username="citizen")
    operator = User.objects.get(username="operator")
    codes = list(Service.objects.values_list("code", flat=True)[:4])
    for number in range(count):
        services.create_consultation(
            citizen,
            service_code=codes[number % len(codes)],
            subject=f"Вопрос {number}",
            description="Как оформить меру социальной поддержки?",
        )

    def scoped():
        return list(services.list_consultations(operator).order_by("-pk")[:100])

    def unscoped():
        queryset = Consultation.objects.select_related("service", "department")
        return list(queryset.order_by("-pk")[:100])

    page = unscoped()

    def object_checks():
        return [permissions.can_view_consultation(operator, c) for c in page]

    scoped_s = best_of(scoped)
    unscoped_s = best_of(unscoped)
    checks_s = best_of(object_checks)
    print(
        json.dumps(
            {
                "consultations": count,
                "visible_rows": len(scoped()),
                "scoped_ms": scoped_s * 1000,
                "unscoped_ms": unscoped_s * 1000,
                "ratio": scoped_s / unscoped_s,
                "object_checks_ms": checks_s * 1000,
            }
        )
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 400)
