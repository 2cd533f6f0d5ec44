"""Texts of the signed test consultation and PDF checks through poppler and qpdf."""

import shutil
import subprocess

import pytest

CITIZEN_MESSAGE = "Нужна ли справка о составе семьи для оформления пособия?"
OPERATOR_ANSWER = "Справка о составе семьи не требуется, достаточно свидетельства."
INTERNAL_NOTE = "Служебная пометка: проверить выплаты заявителя за прошлый год."
DECISION = "Разъяснён порядок оформления ежемесячного пособия на ребёнка."
DECISION_REASON = "Федеральный закон о пособиях гражданам, имеющим детей."


def require_tool(name: str) -> str:
    """Return the path of a command-line tool, or skip the test naming the package."""
    path = shutil.which(name)
    if path is None:
        package = "qpdf" if name == "qpdf" else "poppler-utils"
        pytest.skip(f"{name} is not on PATH; install the Debian package {package}.")
    return path


def run_tool(name: str, *args) -> subprocess.CompletedProcess:
    """Run a PDF tool with a timeout and return its completed process."""
    return subprocess.run(
        [require_tool(name), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def pdf_text(pdf_path) -> str:
    """Return the text of a PDF as pdftotext extracts it, in reading order."""
    result = run_tool("pdftotext", "-enc", "UTF-8", pdf_path, "-")
    assert result.returncode == 0, result.stderr
    return result.stdout


def words(text: str) -> list[str]:
    """Split text into words, so line breaks and layout do not matter."""
    return text.split()


def contains_words(text: str, phrase: str) -> bool:
    """Return whether the words of `phrase` occur in `text` in a row."""
    haystack, needle = words(text), words(phrase)
    return any(
        haystack[start : start + len(needle)] == needle
        for start in range(len(haystack) - len(needle) + 1)
    )


def expanded_pdf(pdf_path) -> bytes:
    """Return the PDF rewritten by qpdf without object streams or compression.

    WeasyPrint stores the catalog, the document information and the XMP
    metadata in compressed streams, so their keys are not visible in the
    original bytes.
    """
    expanded_path = pdf_path.with_suffix(".expanded.pdf")
    result = run_tool(
        "qpdf", "--qdf", "--object-streams=disable", pdf_path, expanded_path
    )
    assert result.returncode == 0, result.stderr
    return expanded_path.read_bytes()
