"""The main pages load in Chromium with JavaScript on and no CSP violation.

Each account signs in on a real uvicorn server and opens its pages; Chromium
reports every resource or script that the Content-Security-Policy blocks as a
console error ("Refused to ..."), and the page's own securitypolicyviolation
events are collected too.
"""

import pytest

from uvicorn_process import prepare_data_dir, serve
from web.test_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's chromium is not installed at /usr/bin/chromium",
    ),
]

# Pages by account; "{c}" is a consultation the citizen opens first.
PAGES = {
    "citizen": [
        "/my/",
        "/consultations/new/",
        "/consultations/{c}/",
        "/my/identifiers/",
        "/notifications/",
        "/notifications/settings/",
        "/verify",
    ],
    "operator": ["/queue/", "/consultations/{c}/", "/analytics/"],
    "supervisor": [
        "/consultations/{c}/",
        "/analytics/",
        "/analytics/compare/",
        "/analytics/problems/",
        "/analytics/consultations/",
    ],
    "reviewer": ["/review/"],
    "admin": ["/api/v1/docs"],
}

# Records securitypolicyviolation events in the page; Playwright runs init
# scripts outside the page's policy.
LISTENER = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("csp-server")
    prepare_data_dir(data_dir)
    with serve(data_dir) as running:
        yield running.url


@pytest.fixture(scope="module")
def browser():
    """Chromium for this module only: Playwright's sync API keeps an event loop
    in the main thread while it runs, which breaks asyncio.run() in later tests.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def open_as(browser, server):
    contexts = []

    def sign_in(username):
        context = browser.new_context(base_url=server, locale="ru-RU")
        context.set_default_timeout(15_000)
        context.add_init_script(LISTENER)
        contexts.append(context)
        page = context.new_page()
        messages = []
        page.on("console", lambda message: messages.append(message))
        page.goto("/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", "demo")
        page.click("button:has-text('Войти')")
        page.wait_for_load_state()
        return page, messages

    yield sign_in
    for context in contexts:
        context.close()


def violations_of(page, messages) -> list[str]:
    console = [
        message.text
        for message in messages
        if message.type == "error"
        and ("Content Security Policy" in message.text or "Refused" in message.text)
    ]
    return console + page.evaluate("window.__violations")


def test_main_pages_have_no_csp_violations(open_as):
    citizen, messages = open_as("citizen")
    citizen.goto("/consultations/new/")
    citizen.select_option("#id_service", "GEN")
    citizen.fill("#id_subject", "Проверка политики безопасности")
    citizen.fill("#id_description", "Какие документы нужны?")
    citizen.click("button:has-text('Отправить')")
    citizen.wait_for_url("**/consultations/*/")
    consultation_id = citizen.url.rstrip("/").rsplit("/", 1)[1]

    found = {}
    for username, paths in PAGES.items():
        page, messages = (
            (citizen, messages) if username == "citizen" else open_as(username)
        )
        for path in paths:
            response = page.goto(path.format(c=consultation_id))
            page.wait_for_load_state("load")

            assert response.status == 200, f"{username} {path}"
            assert "script-src 'self'" in response.headers["content-security-policy"]
            problems = violations_of(page, messages)
            if problems:
                found[f"{username} {path}"] = problems
            messages.clear()

    assert not found, found
