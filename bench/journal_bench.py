"""Journal benchmark, run by bench/run.py in a fresh installation's environment.

Prints one JSON object: append rates (one transaction per entry, and batches),
verification rate, inclusion-proof time, and the plain-hashlib baseline over
the same canonical bytes.
"""

import hashlib
import json
import os
import random
import sys
import time

import django


def main(entries: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "protokol.settings")
    django.setup()
    from django.db import transaction

    from protokol.journal import tree
    from protokol.journal.canonical import canonical_bytes
    from protokol.journal.models import JournalAction, JournalEntry
    from protokol.journal.services import iter_entries, record, record_now, verify

    def append(number: int, *, own_transaction: bool) -> None:
        write = record_now if own_transaction else record
        write(
            JournalAction.CONSULTATION_READ,
            actor=None,
            object_type="consultation",
            object_id=number,
            object_label=f"КП-2026-{number:06d}",
            consultation_id=number,
            after={"via": "bench"},
        )

    started = time.perf_counter()
    for number in range(entries):
        append(number, own_transaction=True)
    single_rate = entries / (time.perf_counter() - started)

    batch = 100
    started = time.perf_counter()
    for first in range(0, entries, batch):
        with transaction.atomic():
            for number in range(first, first + batch):
                append(number, own_transaction=False)
    batched_rate = entries / (time.perf_counter() - started)

    started = time.perf_counter()
    problem = verify(iter_entries())
    verify_seconds = time.perf_counter() - started
    if problem is not None:
        raise SystemExit(f"journal verification failed: {problem}")

    # Baseline: SHA-256 over the same canonical bytes, already in memory.
    payloads = [b"\x00" + canonical_bytes(e) for e in JournalEntry.objects.all()]
    started = time.perf_counter()
    for payload in payloads:
        hashlib.sha256(payload).digest()
    hash_seconds = time.perf_counter() - started

    size = tree.tree_size()
    indexes = [random.randrange(size) for _ in range(200)]
    started = time.perf_counter()
    proof_lengths = [len(tree.inclusion_proof(i, size)) for i in indexes]
    proof_ms = (time.perf_counter() - started) * 1000 / len(indexes)

    print(
        json.dumps(
            {
                "entries": size,
                "appends_per_s": single_rate,
                "batched_appends_per_s": batched_rate,
                "verify_entries_per_s": size / verify_seconds,
                "hashlib_entries_per_s": size / hash_seconds,
                "inclusion_proof_ms": proof_ms,
                "inclusion_proof_hashes": max(proof_lengths),
            }
        )
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
