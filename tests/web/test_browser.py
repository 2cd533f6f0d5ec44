"""The main paths through the pages in Chromium, against a real uvicorn server.

The server runs on a fresh SQLite database in a temporary directory. JavaScript
is switched off in every page, because the pages must work without it, except
in the tests of live updates, which the script provides.
"""

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
BIN = Path(sys.executable).parent
SERVER_START_SECONDS = 30

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's chromium is not installed at /usr/bin/chromium",
    ),
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_healthy(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"uvicorn exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:  # URLError, refused or timed out while starting
            time.sleep(0.2)
    pytest.fail(f"uvicorn did not answer {url} in {SERVER_START_SECONDS} s")


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """Start uvicorn on a migrated demo database and yield its base URL."""
    data_dir = tmp_path_factory.mktemp("server")
    env = {**os.environ, "PROTOKOL_DEMO": "1", "PROTOKOL_DATA_DIR": str(data_dir)}
    env.pop("PROTOKOL_DATABASE_URL", None)
    for command in (["migrate", "--no-input", "-v", "0"], ["seed-demo"]):
        subprocess.run(
            [BIN / "protokol", *command], env=env, check=True, capture_output=True
        )

    port = _free_port()
    log = data_dir / "uvicorn.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [
                BIN / "uvicorn",
                "protokol.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(f"{base_url}/healthz", process, log)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def sign_in(browser, server):
    """Open a new browser context, sign in as a demo account and return the page."""
    contexts = []

    def open_page(username: str, *, javascript: bool = False):
        context = browser.new_context(
            base_url=server,
            # LocaleMiddleware follows Accept-Language, which the locale sets.
            locale="ru-RU",
            java_script_enabled=javascript,
            viewport={"width": 1280, "height": 900},
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.goto("/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", "demo")
        page.click("button:has-text('Войти')")
        return page

    yield open_page
    for context in contexts:
        context.close()


def create_consultation(page, subject: str) -> str:
    """Submit the request form as the signed-in citizen and return the page URL."""
    page.click("text=Новая консультация")
    page.select_option("#id_service", "GEN")
    page.fill("#id_subject", subject)
    page.fill("#id_description", "Какие документы нужны для оформления пособия?")
    page.click("button:has-text('Отправить')")
    page.wait_for_url(re.compile(r"/consultations/\d+/$"))
    return page.url


def test_citizen_main_path(sign_in):
    page = sign_in("citizen")
    assert page.url.endswith("/my/")

    url = create_consultation(page, "Пособие на ребёнка")
    assert "зарегистрирована" in page.inner_text(".facts")

    page.fill("#id_text", "Прилагаю справку о составе семьи.")
    page.click("button:has-text('Отправить сообщение')")
    assert "Прилагаю справку о составе семьи." in page.inner_text("#dialogue")

    page.set_input_files(
        "#id_file",
        files=[{"name": "справка.txt", "mimeType": "text/plain", "buffer": b"data"}],
    )
    page.click("button:has-text('Загрузить')")
    assert page.is_visible("#attachments a:has-text('справка.txt')")

    timeline = page.locator(".timeline__item")
    assert timeline.count() == 1
    assert "Зарегистрирована" in timeline.first.inner_text()
    assert page.url.startswith(url)

    page.click("button:has-text('EN')")
    assert "My consultations" in page.inner_text(".site-nav")
    assert "Dialogue" in page.inner_text("#dialogue")


def test_operator_and_reviewer_path(sign_in, tmp_path):
    citizen = sign_in("citizen")
    url = create_consultation(citizen, "Пособие по уходу за ребёнком")
    citizen.fill("#id_text", "Нужна консультация до конца месяца.")
    citizen.click("button:has-text('Отправить сообщение')")

    operator = sign_in("operator")
    operator.goto(url)
    operator.click("button:has-text('Взять в работу')")
    assert "подготовка протокола" in operator.inner_text(".facts")
    operator.fill("#id_text", "Проверить право на пособие по данным СФР.")
    operator.check("#id_visibility_1")
    operator.click("button:has-text('Отправить сообщение')")
    operator.fill("#id_documents", "Паспорт, свидетельство о рождении ребёнка")
    operator.fill("#id_recommendations", "Подать заявление через портал или МФЦ")
    operator.fill("#id_decision", "Консультация дана")
    operator.fill("#id_decision_reason", "Федеральный закон № 81-ФЗ")
    operator.click("button:has-text('Сохранить черновик')")
    assert "Версия 1" in operator.inner_text("#protocol")
    operator.click("button:has-text('Отправить на согласование')")
    assert "на согласовании" in operator.inner_text(".facts")

    reviewer = sign_in("reviewer")
    assert reviewer.url.endswith("/review/")
    number = operator.inner_text(".consultation-head__number")
    reviewer.click(f"text={number}")
    reviewer.click("button:has-text('Согласовать')")
    reviewer.click("button:has-text('Подписать')")
    assert "подписана" in reviewer.inner_text(".facts")

    operator.goto(url)
    operator.click("button:has-text('Передать в архив')")
    assert "в архиве" in operator.inner_text(".facts")

    citizen.goto(url)
    assert "в архиве" in citizen.inner_text(".facts .status")
    assert "Проверить право" not in citizen.content()
    assert citizen.locator(".timeline__item").count() == 6
    screenshot = tmp_path / "consultation.png"
    citizen.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 0


def _api(server: str, method: str, path: str, body=None, token: str | None = None):
    """Call the JSON API of the test server and return the decoded answer."""
    request = urllib.request.Request(
        f"{server}/api/v1{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def _token(server: str, username: str) -> str:
    body = {"username": username, "password": "demo"}
    return _api(server, "POST", "/auth/token", body)["token"]


def _taken_consultation(server: str) -> int:
    """Open a consultation as the citizen and let the operator take it."""
    created = _api(
        server,
        "POST",
        "/consultations",
        {"service": "GEN", "subject": "Живое обновление", "description": "Вопрос"},
        _token(server, "citizen"),
    )
    _api(
        server,
        "POST",
        f"/consultations/{created['id']}/transitions",
        {"action": "take", "comment": ""},
        _token(server, "operator"),
    )
    return created["id"]


def test_open_page_shows_new_message_without_reload(sign_in, server):
    consultation_id = _taken_consultation(server)
    page = sign_in("citizen", javascript=True)
    page.goto(f"/consultations/{consultation_id}/")

    _api(
        server,
        "POST",
        f"/consultations/{consultation_id}/messages",
        {"text": "Ответ пришёл сам", "visibility": "public"},
        _token(server, "operator"),
    )

    page.wait_for_selector("#dialogue >> text=Ответ пришёл сам")


def test_typed_text_survives_a_change(sign_in, server):
    consultation_id = _taken_consultation(server)
    page = sign_in("citizen", javascript=True)
    page.goto(f"/consultations/{consultation_id}/")
    page.fill("#id_text", "Недописанный вопрос")

    _api(
        server,
        "POST",
        f"/consultations/{consultation_id}/messages",
        {"text": "Новое сообщение", "visibility": "public"},
        _token(server, "operator"),
    )

    page.wait_for_selector("#live-banner:not([hidden])")
    assert page.input_value("#id_text") == "Недописанный вопрос"


def test_staff_see_who_else_is_viewing(sign_in, server):
    consultation_id = _taken_consultation(server)
    operator = sign_in("operator", javascript=True)
    supervisor = sign_in("supervisor", javascript=True)
    citizen = sign_in("citizen", javascript=True)

    operator.goto(f"/consultations/{consultation_id}/")
    supervisor.goto(f"/consultations/{consultation_id}/")
    citizen.goto(f"/consultations/{consultation_id}/")

    operator.wait_for_selector("#presence:not([hidden])")
    supervisor.wait_for_selector("#presence:not([hidden])")
    assert "Соколова" in operator.inner_text("#presence")
    assert "Смирнова" in supervisor.inner_text("#presence")
    assert citizen.query_selector("#presence") is None


def test_queue_updates_when_a_consultation_arrives(sign_in, server):
    page = sign_in("operator", javascript=True)
    page.goto("/queue/")

    _api(
        server,
        "POST",
        "/consultations",
        {"service": "GEN", "subject": "Новая в очереди", "description": "Вопрос"},
        _token(server, "citizen"),
    )

    page.wait_for_selector("text=Новая в очереди")
