"""The dashboard in headless Chromium against a real `selflearn serve` with tokens.

The log is the one `selflearn demo` simulates (a world of households whose requests fail and
get rephrased, with the precomputed rewrites applied), learned by `selflearn learn`; the page
is loaded, the admin token entered, every chart checked to plot values, one person's sessions
shown, and a rewrite blocked from the page: the next rewrite answer for it is unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

BIN = os.environ["SELFLEARN_BIN"]
ADMIN = "slt_browser-test-admin-token-0123456789"
ASSISTANT = "slt_browser-test-assistant-token-0123456789"
SHOTS = Path(__file__).parent / "screenshots"


def run(*args: str) -> str:
    done = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("selflearn")
    run("demo", "--dir", str(root / "demo"))
    log = root / "demo" / "log"
    run("--log-dir", str(log), "learn", "--artifacts", str(root / "set"),
        "--encoder", str(root / "encoder.safetensors"))
    config = root / "selflearn.toml"
    digest = lambda token: hashlib.sha256(token.encode()).hexdigest()  # noqa: E731
    config.write_text(
        f'[[server.tokens]]\nname = "ops"\nsha256 = "{digest(ADMIN)}"\nroles = ["admin"]\n\n'
        f'[[server.tokens]]\nname = "assistant"\nsha256 = "{digest(ASSISTANT)}"\n'
        'roles = ["ingest", "rewrite"]\n'
    )
    process = subprocess.Popen(
        [BIN, "--config", str(config), "--log-dir", str(log), "serve",
         "--bind", "127.0.0.1:0", "--artifacts", str(root / "set")],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"listening on (http://\S+)", line)
    assert match, line
    url = match.group(1)
    table = json.loads(next((root / "set").glob("rewrite-table.*.json")).read_text())
    yield url, table
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)


def rewrite(url: str, text: str) -> dict:
    body = json.dumps({"user_id": "browser-test", "text": text,
                       "device": {"id": "d", "kind": "speaker", "has_screen": False}}).encode()
    request = urllib.request.Request(
        f"{url}/v1/rewrite", data=body, method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {ASSISTANT}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


@pytest.fixture(scope="module")
def page():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        yield page
        browser.close()


def log_in(page: Page, url: str, token: str) -> None:
    page.goto(f"{url}/")
    page.fill("#token", token)
    page.click("#login button")


def test_without_the_admin_token_the_page_shows_the_refusal_and_no_data(server, page):
    url, _ = server
    log_in(page, url, ASSISTANT)
    expect(page.locator("#status")).to_contain_text("forbidden")
    assert page.locator("[data-chart]").count() == 0
    log_in(page, url, "not-a-token")
    expect(page.locator("#status")).to_contain_text("unauthorized")


def test_every_chart_plots_the_learned_log(server, page):
    url, table = server
    log_in(page, url, ADMIN)
    expect(page.locator("[data-chart='defect-rate']")).to_be_visible()
    for chart in ["defect-rate", "signals", "triggers", "turns"]:
        figure = page.locator(f"[data-chart='{chart}']")
        assert int(figure.get_attribute("data-points")) > 0, chart
        # Drawn, not only declared: each line has points the browser laid out.
        box = figure.locator("polyline").first.bounding_box()
        assert box and box["width"] > 100, chart
    rows = page.locator("[data-table='rewrites'] tbody tr")
    assert rows.count() == len(table["entries"]) > 0
    assert page.locator("[data-table='failing'] tbody tr").count() > 0
    assert page.locator("[data-table='applied'] tbody tr").count() > 0
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "overview.png"))


def test_one_persons_sessions_are_replayed(server, page):
    url, _ = server
    log_in(page, url, ADMIN)
    expect(page.locator("[data-chart='turns']")).to_be_visible()
    # A person who said a failing request: the first row of the most-failing table is heard
    # by many; take the user from the session view of the log's first events instead.
    user = first_user(url)
    page.fill("#user", user)
    page.click("#who button")
    expect(page.locator(f"[data-session-user='{user}']")).to_be_visible()
    assert page.locator("[data-session-user] [data-table='turns'] tbody tr").count() > 0
    page.locator("[data-session-user] table").first.screenshot(path=str(SHOTS / "sessions.png"))


def first_user(url: str) -> str:
    """A user id from the demo's log (the demo names its people `h<household>-p<person>`)."""
    for household in range(0, 40):
        for person in range(0, 4):
            user = f"h{household:04}-p{person}"
            request = urllib.request.Request(
                f"{url}/v1/admin/sessions/{user}", headers={"Authorization": f"Bearer {ADMIN}"})
            with urllib.request.urlopen(request, timeout=10) as response:
                if "data-rows=\"0\"" not in response.read().decode():
                    return user
    raise AssertionError("no person of the demo's log found")


def test_blocking_a_rewrite_on_the_page_changes_the_next_answer(server, page):
    url, table = server
    log_in(page, url, ADMIN)
    row = page.locator("[data-table='rewrites'] tbody tr").first
    expect(row).to_be_visible()
    button = row.locator("button[data-action='block']")
    source = button.get_attribute("data-source")
    target = button.get_attribute("data-target")
    before = rewrite(url, source)
    assert before["rewritten"] and before["text"] == target, before
    button.click()
    expect(row.locator("td", has_text=re.compile("^blocked$"))).to_be_visible()
    expect(page.locator("[data-table='blocked'] tbody tr")).to_have_count(1)
    after = rewrite(url, source)
    assert not after["rewritten"] and after["text"] == source, after
    row.screenshot(path=str(SHOTS / "blocked.png"))
    # And lifting it from the page serves it again.
    page.locator("[data-table='blocked'] button[data-action='unblock']").click()
    expect(page.locator("[data-table='blocked'] tbody tr")).to_have_count(0)
    assert rewrite(url, source)["rewritten"]
