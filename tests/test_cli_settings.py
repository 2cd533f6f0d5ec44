"""The `protokol` console script: hyphenated names, invalid settings, no database."""

import os
import signal
import subprocess
import sys

import pytest

from protokol.cli import main


def run_cli(tmp_path, *args, **environment) -> subprocess.CompletedProcess:
    """Run `protokol ARGS…` in demo mode on SQLite, with its data in `tmp_path`."""
    environment = {
        **os.environ,
        "PROTOKOL_DEMO": "1",
        "PROTOKOL_DATA_DIR": str(tmp_path),
        "PROTOKOL_DATABASE_URL": "",
        **environment,
    }
    return subprocess.run(
        [sys.executable, "-c", "from protokol.cli import main; main()", *args],
        env=environment,
        capture_output=True,
        text=True,
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PROTOKOL_BACKUP_KEEP", "0"),
        ("PROTOKOL_NOTIFY_MAX_ATTEMPTS", "0"),
        ("PROTOKOL_NOTIFY_RETRY_BASE_SECONDS", "-1"),
        ("PROTOKOL_BACKUP_INTERVAL_SECONDS", "abc"),
        ("PROTOKOL_METRICS_ALLOWED_IPS", "not json"),
        ("PROTOKOL_METRICS_ALLOWED_IPS", '["bogus"]'),
    ],
)
def test_invalid_setting_gives_one_line(tmp_path, variable, value):
    result = run_cli(tmp_path, "check", **{variable: value})

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"protokol: {variable}")
    assert len(result.stderr.strip().splitlines()) == 1


def test_unreachable_database_gives_one_line(tmp_path):
    # Port 1 on loopback has no server, so the connection is refused.
    result = run_cli(
        tmp_path,
        *("journal", "verify"),
        PROTOKOL_DATABASE_URL="postgresql://postgres@127.0.0.1:1/none",
    )

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("protokol: database error: ")
    assert "PROTOKOL_DATABASE_URL" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_help_takes_hyphenated_command(capsys):
    main(["protokol", "help", "analytics-refresh"])

    assert "--date-from" in capsys.readouterr().out


def test_tls_cert_bad_host_gives_one_line(tmp_path):
    result = run_cli(
        tmp_path, "tls-cert", "--host", "protokol.test", "--host", "bad host"
    )

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "--host: 'bad host' is not a valid DNS name or IP address" in (result.stderr)
    assert not (tmp_path / "tls").exists()


def test_interrupt_gives_one_line(tmp_path):
    environment = {
        **os.environ,
        "PROTOKOL_DEMO": "1",
        "PROTOKOL_DATA_DIR": str(tmp_path),
        "PROTOKOL_DATABASE_URL": "",
    }
    waiting = "import time; print('waiting', flush=True); time.sleep(60)"

    process = subprocess.Popen(
        [sys.executable, "-c", "from protokol.cli import main; main()"]
        + ["shell", "--no-imports", "-c", waiting],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A shell that starts jobs in the background ignores SIGINT for them.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert process.stdout.readline() == "waiting\n"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)

    assert process.returncode == -signal.SIGINT
    assert "Traceback" not in stderr
    assert stderr.strip() == "protokol: interrupted."
