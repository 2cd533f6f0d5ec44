"""PDF copy benchmark: a sealed copy against raw WeasyPrint of the same HTML.

Starts an empty SQLite installation in a temporary directory, signs one
consultation with 10 and one with 200 public messages, and prints one JSON
object per size with the median of warm runs in milliseconds, the five
measurements taking turns, as wall time (`_ms`) and as this process's CPU
time (`_cpu_ms`, which other load on the machine disturbs less):

    raw_weasyprint        WeasyPrint's plain PDF of the sealed copy's HTML,
                          with its signatures section and QR code (baseline)
    raw_plain_weasyprint  the same of the HTML without the signatures section
                          and QR code (the baseline before 2026-12-05)
    pdfa                  render_copy: PDF/A-3b with the embedded files
    sealed                the whole sealed copy: evidence, render, tidy,
                          PAdES B-LTA, cache write
    verify                `protokol verify`'s checks of that sealed copy

and `sealed_ratio_cpu`, sealed ÷ raw_weasyprint in CPU time
(`sealed_plain_ratio_cpu` against raw_plain_weasyprint). Each size's
numbers are also written as JSON under bench/results/ (see run.py).

Run: PYTHONPATH=src python bench/pdf_bench.py [RUNS]

With `--memory` it signs consultations with 10, 200 and 1,000 public messages
(the last with 50 attachments) and renders each sealed copy once in a fresh
subprocess, printing the subprocess's peak resident set size
(VmHWM of /proc/self/status) before and after the render, in MiB:

    PYTHONPATH=src python bench/pdf_bench.py --memory
"""

import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from unittest import mock

import django
from record import write_result

SIZES = tuple(int(size) for size in os.environ.get("BENCH_SIZES", "10,200").split(","))
# (messages, attachments, characters per message) of the consultations whose
# peak memory is measured; the last prints 1,000,000 characters, the default
# PROTOKOL_COPY_MAX_TEXT_CHARS.
MEMORY_SIZES = ((10, 0, 0), (200, 0, 0), (1000, 50, 0), (50, 0, 20_000))


def median_ms(functions: dict, runs: int) -> dict:
    """Return the median wall and CPU milliseconds of `runs` calls of each function.

    Each function is called once to warm up, then the functions take turns,
    so a change in the machine's load during the runs affects all of them.
    """
    wall = {name: [] for name in functions}
    cpu = {name: [] for name in functions}
    for function in functions.values():
        function()
    for _ in range(runs):
        for name, function in functions.items():
            started, started_cpu = time.perf_counter(), time.process_time()
            function()
            wall[name].append((time.perf_counter() - started) * 1000)
            cpu[name].append((time.process_time() - started_cpu) * 1000)
    result = {}
    for name in functions:
        result[f"{name}_ms"] = round(statistics.median(wall[name]), 1)
        result[f"{name}_cpu_ms"] = round(statistics.median(cpu[name]), 1)
    return result


def signed_consultation(
    demo: dict, messages: int, attachments: int = 0, message_chars: int = 0
):
    """Create a consultation with public messages and attachments, and sign it."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from protokol.consultations import services
    from protokol.consultations.attachments import add_attachment
    from protokol.protocols.services import save_protocol

    operator, reviewer, citizen = demo["operator"], demo["reviewer"], demo["citizen"]
    consultation = services.create_consultation(
        citizen,
        service_code="GEN",
        subject="Пособие на ребёнка",
        description="Какие документы нужны для оформления пособия?",
    )
    services.transition(operator, consultation.pk, action="take")
    for number in range(messages):
        services.add_message(
            operator if number % 2 else citizen,
            consultation.pk,
            text=f"Сообщение номер {number} о составе семьи и документах."
            if not message_chars
            else ("Длинное сообщение о составе семьи. " * message_chars)[
                :message_chars
            ],
            visibility="public",
        )
    for number in range(attachments):
        add_attachment(
            citizen,
            consultation.pk,
            SimpleUploadedFile(
                f"документ-{number}.pdf",
                b"%PDF-1.7 " + bytes(100_000),
                content_type="application/pdf",
            ),
        )
    save_protocol(
        operator,
        consultation.pk,
        question="Какие документы нужны?",
        documents="Свидетельство о рождении.",
        recommendations="Подать заявление через МФЦ.",
        decision="Разъяснён порядок оформления.",
        decision_reason="Федеральный закон о пособиях.",
    )
    services.transition(operator, consultation.pk, action="submit")
    services.transition(reviewer, consultation.pk, action="approve")
    services.transition(reviewer, consultation.pk, action="sign")
    consultation.refresh_from_db()
    return consultation


def measure(consultation, citizen, runs: int) -> dict:
    from django.template.loader import render_to_string
    from weasyprint import HTML

    from protokol.consultations.presenters import consultation_detail
    from protokol.documents import cache as copy_cache
    from protokol.documents import pdf
    from protokol.documents.pdfcheck import verify_pdf
    from protokol.documents.services import (
        render_sealed_copy,
        signed_evidence,
        verify_url,
    )
    from protokol.signing import pki

    detail = consultation_detail(consultation, citizen, public_only=True)
    evidence = signed_evidence(consultation)
    font_config, stylesheet, fetcher = pdf._weasyprint_objects()
    # The sealed copy's own HTML, with its signatures section and QR code.
    html = pdf.copy_html(
        detail,
        language="ru",
        verify_url=verify_url(consultation.number, evidence.code),
        verification_code=evidence.code,
        signatures=evidence.signatures,
        journal_facts=evidence.journal_facts,
    )
    plain_html = render_to_string(
        "documents/protocol.html", pdf.build_context(detail, language="ru")
    )

    def raw(text):
        return lambda: HTML(string=text, url_fetcher=fetcher).write_pdf(
            stylesheets=[stylesheet], font_config=font_config
        )

    def pdfa():
        pdf.render_copy(detail, language="ru", files=evidence.files)

    def sealed():
        # Each run renders and signs: the cache would return the first copy.
        with mock.patch.object(copy_cache, "load", return_value=None):
            return render_sealed_copy(consultation, detail, language="ru")

    content = sealed()
    root = pki.pki_dir() / "root.pem"
    checks = verify_pdf(content, root=root)
    failed = [check.name for check in checks if not check.ok]
    if failed:
        raise SystemExit(f"the sealed copy fails its own checks: {failed}")

    import pikepdf

    with pikepdf.open(io.BytesIO(content)) as document:
        pages = len(document.pages)
    result = {"messages": len(detail["messages"]), "pages": pages}
    result["bytes"] = len(content)
    functions = {
        "raw_weasyprint": raw(html),
        "raw_plain_weasyprint": raw(plain_html),
        "pdfa": pdfa,
        "sealed": sealed,
        "verify": lambda: verify_pdf(content, root=root),
    }
    result.update(median_ms(functions, runs))
    result["sealed_ratio_cpu"] = round(
        result["sealed_cpu_ms"] / result["raw_weasyprint_cpu_ms"], 2
    )
    result["sealed_plain_ratio_cpu"] = round(
        result["sealed_cpu_ms"] / result["raw_plain_weasyprint_cpu_ms"], 2
    )
    return result


def max_rss_mib() -> float:
    """Return this process's peak resident set size in MiB.

    Reads Linux's VmHWM, because getrusage's ru_maxrss keeps the parent's peak
    across fork and exec, and the parent here holds the whole setup.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("/proc/self/status has no VmHWM line")


def render_once(consultation_id: int) -> None:
    """Render one sealed copy and print the peak RSS before and after, as JSON."""
    django.setup()
    from protokol.accounts.models import User
    from protokol.consultations.models import Consultation
    from protokol.consultations.presenters import consultation_detail
    from protokol.documents import pdf
    from protokol.documents.services import render_sealed_copy

    citizen = User.objects.get(username="citizen")
    consultation = Consultation.objects.get(pk=consultation_id)
    detail = consultation_detail(consultation, citizen, public_only=True)
    pdf._weasyprint_objects()
    import weasyprint  # noqa: F401

    before = max_rss_mib()
    content = render_sealed_copy(consultation, detail, language="ru")
    print(
        json.dumps(
            {"before_mib": before, "peak_mib": max_rss_mib(), "bytes": len(content)}
        )
    )


def measure_memory(demo: dict) -> None:
    for messages, attachments, message_chars in MEMORY_SIZES:
        consultation = signed_consultation(demo, messages, attachments, message_chars)
        result = subprocess.run(
            [sys.executable, __file__, "--render-once", str(consultation.pk)],
            capture_output=True,
            text=True,
            check=True,
        )
        peak = json.loads(result.stdout.splitlines()[-1])
        sizes = {"messages": messages, "attachments": attachments}
        sizes["message_chars"] = message_chars
        print(json.dumps({**sizes, **peak}))


def main(runs: int, memory: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="protokol-pdf-bench-") as data_dir:
        os.environ.update(
            PROTOKOL_DEMO="1", PROTOKOL_DATA_DIR=data_dir, PROTOKOL_LOG_LEVEL="WARNING"
        )
        os.environ.pop("PROTOKOL_DATABASE_URL", None)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "protokol.settings")
        django.setup()
        from django.core.management import call_command

        from protokol.accounts.demo import seed_demo
        from protokol.accounts.models import User

        call_command("migrate", "--no-input", verbosity=0)
        seed_demo()
        demo = {user.username: user for user in User.objects.all()}
        if memory:
            measure_memory(demo)
            return
        for size in SIZES:
            consultation = signed_consultation(demo, size)
            result = measure(consultation, demo["citizen"], runs)
            print(json.dumps(result), flush=True)
            command = " ".join(["python", "bench/pdf_bench.py", *sys.argv[1:]])
            write_result(
                f"pdf-copy-{size}-messages",
                value=result["sealed_ms"],
                value_label="sealed PDF/A-3 copy (render, embed, sign, timestamp)",
                baseline=result["raw_weasyprint_ms"],
                baseline_label="raw WeasyPrint of the same HTML",
                unit="ms",
                better="lower",
                goal="ratio at most 1.3",
                command=command,
                details=result,
            )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--render-once"]:
        render_once(int(sys.argv[2]))
    elif sys.argv[1:2] == ["--memory"]:
        main(1, memory=True)
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 7, memory=False)
