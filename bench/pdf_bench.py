"""PDF copy benchmark: a sealed copy against raw WeasyPrint of the same HTML.

Starts an empty SQLite installation in a temporary directory, signs one
consultation with 10 and one with 200 public messages, and prints one JSON
object per size with the median of warm runs in milliseconds, as wall time
(`_ms`) and as this process's CPU time (`_cpu_ms`, which other load on the
machine disturbs less):

    raw_weasyprint   WeasyPrint's plain PDF of the copy's HTML (baseline)
    pdfa             render_copy: PDF/A-3b with the embedded files and QR
    sealed           the whole sealed copy: render, tidy, PAdES B-LTA
    verify           `protokol verify`'s checks of that sealed copy

Run: PYTHONPATH=src python bench/pdf_bench.py [RUNS]
"""

import io
import json
import os
import statistics
import sys
import tempfile
import time

import django

SIZES = (10, 200)


def median_ms(function, runs: int) -> tuple[float, float]:
    """Return the median wall and CPU milliseconds of `runs` calls after a warm-up."""
    function()
    wall, cpu = [], []
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        function()
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    return round(statistics.median(wall), 1), round(statistics.median(cpu), 1)


def signed_consultation(demo: dict, messages: int):
    """Create a consultation with `messages` public messages and sign it."""
    from protokol.consultations import services
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
            text=f"Сообщение номер {number} о составе семьи и документах.",
            visibility="public",
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
    from protokol.documents import pdf
    from protokol.documents.pdfcheck import verify_pdf
    from protokol.documents.services import render_sealed_copy, signed_evidence
    from protokol.signing import pki

    detail = consultation_detail(consultation, citizen, public_only=True)
    evidence = signed_evidence(consultation)
    font_config, stylesheet, fetcher = pdf._weasyprint_objects()
    context = pdf.build_context(detail, language="ru")
    html = render_to_string("documents/protocol.html", context)

    def raw():
        HTML(string=html, url_fetcher=fetcher).write_pdf(
            stylesheets=[stylesheet], font_config=font_config
        )

    def pdfa():
        pdf.render_copy(detail, language="ru", files=evidence.files)

    def sealed():
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
    for name, function in (
        ("raw_weasyprint", raw),
        ("pdfa", pdfa),
        ("sealed", sealed),
        ("verify", lambda: verify_pdf(content, root=root)),
    ):
        result[f"{name}_ms"], result[f"{name}_cpu_ms"] = median_ms(function, runs)
    return result


def main(runs: int) -> None:
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
        for size in SIZES:
            consultation = signed_consultation(demo, size)
            print(json.dumps(measure(consultation, demo["citizen"], runs)))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
