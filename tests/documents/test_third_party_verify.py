"""`protokol verify COPY.pdf` as a third party runs it, with only the root certificate.

The command runs in a fresh process with no PROTOKOL_* settings, in a
directory with only the copy and the root, and must leave it as it was.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import protokol
from protokol.documents.services import issue_copy
from protokol.signing import pki

SOURCE_DIR = Path(protokol.__file__).resolve().parent.parent


@pytest.fixture
def auditor_dir(signed_consultation, demo, tmp_path) -> Path:
    """A directory with the citizen's sealed copy and the installation's root."""
    directory = tmp_path / "auditor"
    directory.mkdir()
    _, content = issue_copy(demo["citizen"], signed_consultation.pk)
    (directory / "copy.pdf").write_bytes(content)
    (directory / "root.pem").write_bytes((pki.pki_dir() / "root.pem").read_bytes())
    return directory


def run_protokol(directory: Path, *args: str, language: str):
    """Run the console script in `directory` with a bare environment."""
    environment = {
        "PATH": os.environ["PATH"],
        "HOME": str(directory),
        "LANG": language,
        "PYTHONPATH": str(SOURCE_DIR),
    }
    return subprocess.run(
        [sys.executable, "-c", "from protokol.cli import main; main()", *args],
        cwd=directory,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_copy_passes_without_secret_or_data_dir(auditor_dir):
    result = run_protokol(
        auditor_dir, "verify", "copy.pdf", "--root", "root.pem", language="en_GB.UTF-8"
    )

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines and all(line.startswith("PASS ") for line in lines)
    assert "journal entry" in result.stdout
    assert sorted(path.name for path in auditor_dir.iterdir()) == [
        "copy.pdf",
        "root.pem",
    ]


def test_report_follows_the_callers_locale(auditor_dir):
    result = run_protokol(
        auditor_dir, "verify", "copy.pdf", "--root", "root.pem", language="ru_RU.UTF-8"
    )

    assert result.returncode == 0, result.stderr
    assert "запись журнала" in result.stdout
    assert "подписывает protocol.json" in result.stdout
    english = re.findall(
        r"\b(?:timestamp|coverage|covers|serial|chain|fingerprint|from|later)\b",
        result.stdout,
    )
    assert english == []
    assert "document.json" not in result.stdout


@pytest.mark.parametrize("language", ["", "C", "C.UTF-8", "POSIX", "de_DE.UTF-8"])
def test_report_in_english_without_locale(auditor_dir, language):
    result = run_protokol(
        auditor_dir, "verify", "copy.pdf", "--root", "root.pem", language=language
    )

    assert result.returncode == 0, result.stderr
    assert "journal entry" in result.stdout
    # Certificate names are data in the organisation's language, not text
    # of the report.
    text = re.sub(r"\b(?:CN|O)=[^,\n]*", "", result.stdout)
    assert re.findall(r"[а-яА-ЯёЁ]+", text) == []


def test_json_report_same_under_every_locale(auditor_dir):
    reports = {}
    for language in ("", "ru_RU.UTF-8"):
        result = run_protokol(
            auditor_dir,
            *("verify", "copy.pdf", "--root", "root.pem", "--json"),
            language=language,
        )
        assert result.returncode == 0, result.stderr
        reports[language] = json.loads(result.stdout)

    english, russian = reports[""], reports["ru_RU.UTF-8"]
    assert english["ok"] is True
    assert russian["ok"] is True
    assert [sorted(check) for check in english["checks"]] == [
        sorted(check) for check in russian["checks"]
    ]
    assert [(c["name"], c["ok"]) for c in english["checks"]] == [
        (c["name"], c["ok"]) for c in russian["checks"]
    ]
    # Only the details follow the locale, as in the text report.
    assert "journal entry" in json.dumps(english)
    assert "запись журнала" in json.dumps(russian, ensure_ascii=False)


def test_copy_without_root_names_the_option(auditor_dir):
    result = run_protokol(auditor_dir, "verify", "copy.pdf", language="en_GB.UTF-8")

    assert result.returncode == 1
    assert "give --root with the root certificate" in result.stderr
    assert "Traceback" not in result.stderr


def test_export_still_needs_the_installation(auditor_dir):
    result = run_protokol(
        auditor_dir, "verify", "--export", "1", "out.zip", language="en_GB.UTF-8"
    )

    assert result.returncode == 2
    assert "PROTOKOL_SECRET_KEY is missing" in result.stderr
    assert not (auditor_dir / "out.zip").exists()
