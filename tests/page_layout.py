"""Lay out a page rendered by the Django test client in Debian's Chromium.

The page is loaded from a string, with no server, so its stylesheets are put
inline. Tests measure the layout with JavaScript in the loaded page.
"""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles import finders

from web.test_browser import CHROMIUM, CHROMIUM_ARGS

STYLESHEET_LINK = re.compile(r'<link rel="stylesheet" href="([^"]+)">')


def inline_stylesheets(html: str) -> str:
    """Replace each stylesheet link to a static file with a style element."""

    def inline(match: re.Match) -> str:
        path = finders.find(match.group(1).removeprefix(settings.STATIC_URL))
        return f"<style>{Path(path).read_text()}</style>"

    return STYLESHEET_LINK.sub(inline, html)


@contextmanager
def laid_out(html: str, *, width: int = 1280) -> Iterator:
    """Yield a Playwright page that shows `html` with its stylesheets."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.set_content(inline_stylesheets(html))
            yield page
        finally:
            browser.close()
