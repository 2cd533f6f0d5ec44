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


def test_server_start_leaves_heavy_packages_unloaded(tmp_path):
    script = (
        "import json, sys\n"
        "import protokol.asgi\n"
        "from django.urls import get_resolver\n"
        "get_resolver().url_patterns\n"
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

    loaded = set(json.loads(result.stdout.splitlines()[-1]))
    assert loaded & set(LOADED_ON_FIRST_USE) == set()
    assert "django" in loaded
