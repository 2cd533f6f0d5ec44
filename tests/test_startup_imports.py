"""What a server process imports before its first request.

Each worker keeps its imports for its lifetime. PDF signing (pyHanko),
spreadsheet export (openpyxl) and sign-in through an identity provider
(Authlib, requests) load on first use, so a worker that serves pages and
the API without them stays smaller.
"""

import json
import os
import subprocess
import sys

LOADED_ON_FIRST_USE = (
    "pyhanko",
    "pyhanko_certvalidator",
    "openpyxl",
    "weasyprint",
    "authlib",
    "requests",
)


def loaded_packages(start: str, tmp_path) -> set[str]:
    """Return the top-level packages imported by a demo process that runs `start`."""
    script = (
        f"import json, sys\n{start}"
        "print(json.dumps(sorted({name.split('.')[0] for name in sys.modules})))\n"
    )
    environment = {
        **os.environ,
        "PROTOKOL_DEMO": "1",
        "PROTOKOL_DATA_DIR": str(tmp_path),
        "PROTOKOL_DATABASE_URL": "",
    }

    result = subprocess.run(
        [sys.executable, "-c", script],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(result.stdout.splitlines()[-1]))


def test_server_start_leaves_heavy_packages_unloaded(tmp_path):
    start = (
        "import protokol.asgi\n"
        "from django.urls import get_resolver\n"
        "get_resolver().url_patterns\n"
    )

    loaded = loaded_packages(start, tmp_path)

    assert loaded & set(LOADED_ON_FIRST_USE) == set()
    assert "django" in loaded


def test_prefork_master_leaves_heavy_packages_unloaded(tmp_path):
    # gunicorn's master with protokol.gunicorn_conf imports the application
    # and runs the when_ready hook before it forks the workers.
    start = (
        "import protokol.asgi\n"
        "from protokol import gunicorn_conf\n"
        "gunicorn_conf.when_ready(None)\n"
    )

    loaded = loaded_packages(start, tmp_path)

    assert loaded & set(LOADED_ON_FIRST_USE) == set()
    assert "gunicorn" in loaded
