"""PDF/A-3b validation of sealed and draft copies with veraPDF, when installed.

veraPDF is packaged neither for Debian nor for PyPI, so CI skips these tests
unless `verapdf` is on PATH. `protokol verify` checks a subset of the rules.
"""

import shutil
import subprocess

import pytest

from protokol.documents.services import issue_copy


@pytest.fixture
def verapdf() -> str:
    """The path of `verapdf`; skips the test, saying why, when it is missing."""
    executable = shutil.which("verapdf")
    if executable is None:
        pytest.skip(
            "verapdf is not on PATH, so PDF/A-3b is checked only by "
            "`protokol verify`; install veraPDF to run this test."
        )
    return executable


def verapdf_report(executable: str, path) -> str:
    """Run veraPDF's PDF/A-3b profile on `path` and return its XML report."""
    result = subprocess.run(
        [executable, "--flavour", "3b", "--format", "xml", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.stdout, result.stderr
    return result.stdout


def test_verapdf_accepts_sealed_copy(verapdf, signed_consultation, demo, tmp_path):
    _, content = issue_copy(demo["citizen"], signed_consultation.pk)
    path = tmp_path / "sealed.pdf"
    path.write_bytes(content)

    report = verapdf_report(verapdf, path)

    assert 'isCompliant="true"' in report, report


def test_verapdf_accepts_draft_copy(verapdf, consultation, demo, tmp_path):
    _, content = issue_copy(demo["citizen"], consultation.pk)
    path = tmp_path / "draft.pdf"
    path.write_bytes(content)

    report = verapdf_report(verapdf, path)

    assert 'isCompliant="true"' in report, report
