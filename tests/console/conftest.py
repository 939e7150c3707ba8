"""Fixtures for the console's tests: a server with the fabric holding the guide's section 8
topology, and the page in a real headless Chromium (Debian's, driven by Playwright)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from unittest import mock

import pytest

from tests.conftest import Server
from tests.console import section8

CHROMIUM = "/usr/bin/chromium"  # Debian's (debian-packages.txt); Playwright's download is not used
# headless, and nothing that talks to the network on its own
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
# a fixed viewport, scale and clock zone: the same topology draws the same pixels
VIEWPORT = {"width": 1400, "height": 1000}

def launch(playwright):
    if not Path(CHROMIUM).is_file():
        pytest.skip("no chromium on this machine (make setup installs it)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


# module-scoped: Playwright's sync API keeps an event loop running in this thread until it
# stops, and the next test file on this worker may call asyncio.run()
@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if shutil.which("nft") is None:
        pytest.skip("no nft on this machine")
    with mock.patch.dict(os.environ, {"VPCLOCAL_FABRIC": "1"}):
        srv = Server(tmp_path_factory.mktemp("console") / "data").start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def guide(server) -> section8.Section8:
    return section8.build(server)


@pytest.fixture
def page(browser, server, guide):
    """The console, drawn (its topology fetched and painted)."""
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1,
                                  reduced_motion="reduce", locale="en-US", timezone_id="UTC")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server.endpoint + "/_vpclocal/console")
    page.wait_for_selector("body[data-drawn]")
    yield page
    context.close()
    assert errors == [], errors  # the page's own scripts never fail
