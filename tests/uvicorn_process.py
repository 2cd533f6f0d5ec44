"""Protokol served by a uvicorn subprocess on a free loopback port, for tests."""

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
# Django's start-up in the child takes a few seconds on a loaded machine.
START_TIMEOUT_SECONDS = 60


def free_port() -> int:
    """Return a loopback port that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def prepare_data_dir(data_dir, env: dict[str, str] | None = None):
    """Migrate the child's own database and seed the demo accounts.

    That is SQLite under `data_dir` unless `env` sets PROTOKOL_DATABASE_URL.
    """
    env = {
        **os.environ,
        "PROTOKOL_DEMO": "1",
        "PROTOKOL_DATA_DIR": str(data_dir),
        "PROTOKOL_DATABASE_URL": "",
        **(env or {}),
    }
    for command in (["migrate", "--no-input", "-v", "0"], ["seed-demo"]):
        result = subprocess.run(
            [sys.executable, "-c", "from protokol.cli import main; main()", *command],
            env=env,
            capture_output=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr.decode()


@dataclass(frozen=True)
class Server:
    """A running uvicorn: its base URL, the file of its output and its process."""

    url: str
    log_path: Path
    process: subprocess.Popen

    def log(self) -> str:
        return self.log_path.read_text()


@contextmanager
def serve(
    data_dir: Path,
    env: dict[str, str] | None = None,
    *,
    certfile: Path | None = None,
    keyfile: Path | None = None,
    cafile: Path | None = None,
    ready_path: str = "/healthz",
    options: tuple[str, ...] = (),
    prefork_workers: int = 0,
) -> Iterator[Server]:
    """Run uvicorn with the demo settings under `data_dir` until the block ends.

    The child gets its own SQLite database under `data_dir`, so it never
    shares the test database. With `certfile` and `keyfile` it serves HTTPS,
    and the start-up check trusts `cafile`. `options` go to uvicorn too.
    With `prefork_workers`, the child is gunicorn with the production
    settings of protokol.gunicorn_conf, which forks that many uvicorn
    workers, and `options` go to gunicorn.
    """
    port = free_port()
    scheme = "https" if certfile else "http"
    base_url = f"{scheme}://{HOST}:{port}"
    child_env = {
        **os.environ,
        "PROTOKOL_DEMO": "1",
        "PROTOKOL_DATA_DIR": str(data_dir),
        "PROTOKOL_DATABASE_URL": "",
        "PROTOKOL_TSA_URL": "",
        "PROTOKOL_TLS": "0",
        **(env or {}),
    }
    if prefork_workers:
        command = [
            sys.executable, "-m", "gunicorn", "protokol.asgi:application",
            "--config", "python:protokol.gunicorn_conf",
            "--bind", f"{HOST}:{port}", "--workers", str(prefork_workers),
        ]  # fmt: skip
        if certfile:
            command += ["--certfile", str(certfile), "--keyfile", str(keyfile)]
    else:
        command = [
            sys.executable, "-m", "uvicorn", "protokol.asgi:application",
            "--host", HOST, "--port", str(port), "--lifespan", "off",
        ]  # fmt: skip
        if certfile:
            command += ["--ssl-certfile", str(certfile), "--ssl-keyfile", str(keyfile)]
    command += options

    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / f"uvicorn-{port}.log"
    with log_path.open("wb") as log_file:
        # A process group of its own, so that a kill reaches forked workers too.
        process = subprocess.Popen(
            command,
            env=child_env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_until_ready(process, base_url + ready_path, cafile, log_path)
            yield Server(url=base_url, log_path=log_path, process=process)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _wait_until_ready(process, url: str, cafile: Path | None, log_path: Path):
    context = ssl.create_default_context(cafile=str(cafile)) if cafile else None
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"The server exited with {process.returncode}:\n{log_path.read_text()}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2, context=context):
                return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise RuntimeError(
        f"The server did not answer {url} within {START_TIMEOUT_SECONDS} s:\n"
        f"{log_path.read_text()}"
    )
