"""The reading page in a real headless Chromium (Debian's package, driven by Playwright) against a live Dossier on
the real llama.cpp server and model: upload through the form, a streamed answer, a citation's highlight, a
report's facts, a digest. Screenshots land in `test-artifacts/` (or $DOSSIER_TEST_ARTIFACTS)."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import sync_playwright

from tests.conftest import EXAMPLES, ROOT, LiveServer, make_settings, wait_ready

pytestmark = pytest.mark.e2e

CHROMIUM = os.environ.get("DOSSIER_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("DOSSIER_TEST_ARTIFACTS", ROOT / "test-artifacts"))
# Chromium on a machine with no internet: no background fetches, no sandbox as root, fresh profile.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPORT = EXAMPLES / "05_drones_dji.txt"
QUESTIONS = [  # the first that the model answers (rather than abstains on) is the one whose citation is clicked
    "What did DJI's spokesperson Wen Lu say about sales to North Korea?",
    "What drone model did the UN panel identify among the drones shown at the parade?",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Its own Dossier on the embedded model, so the batch it starts holds only the report uploaded here."""
    model = os.environ.get("DOSSIER_TEST_LOCAL_MODEL", "qwen2.5-coder-1.5b")
    with LiveServer(make_settings(tmp_path_factory.mktemp("page"), local_model=model), start_llm=True) as live:
        wait_ready(live)
        yield live


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium (make test does it first)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def page(server: LiveServer, browser: Any) -> Iterator[Any]:
    page = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_default_timeout(30_000)
    page.goto(f"{server.url}/#/reports")
    yield page
    assert not errors, errors  # no script error on any page


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"page-{name}.png"), full_page=True)


def test_1_upload_through_the_form(page: Any, server: LiveServer) -> None:
    page.set_input_files("#upload-file", str(REPORT))
    page.fill("input[name=title]", "Parade Drones Traced to Commercial Chinese Model")
    page.fill("input[name=source]", "Harbor Ledger")
    page.click("#upload-button")
    link = page.wait_for_selector("#uploaded-link", timeout=120_000)
    assert link.inner_text() == "Parade Drones Traced to Commercial Chinese Model"
    assert page.eval_on_selector("#upload-progress", "p => p.value") == 100
    page.wait_for_selector("#report-list td a:has-text('Parade Drones')")
    shot(page, "reports")
    docs = httpx.get(f"{server.url}/v1/documents").json()["items"]
    assert [d["title"] for d in docs] == ["Parade Drones Traced to Commercial Chinese Model"]
    assert httpx.get(f"{server.url}/v1/documents/{docs[0]['id']}").json()["text"] == REPORT.read_text()


def _ask(page: Any, question: str) -> None:
    page.goto(page.url.split("#")[0] + "#/ask")
    page.fill("#question", question)
    page.click("#ask-button")
    page.wait_for_selector("#passages li", state="attached", timeout=60_000)  # the passages event comes first
    page.wait_for_selector("#answer[aria-busy=false]", timeout=300_000)


def test_2_streamed_answer_and_a_citation_highlighted_in_its_report(page: Any) -> None:
    for question in QUESTIONS:
        _ask(page, question)
        if page.query_selector("#answer .cite"):
            break
    else:
        pytest.fail(f"the model abstained on every question: {page.inner_text('#answer')}")
    assert re.fullmatch(r"Done in [\d.]+ s\.", page.inner_text("#ask-status"))
    # The first verified sentence was on the page before the answer event (it came while the model wrote).
    first, done = (float(page.get_attribute("#answer", a) or "nan") for a in ("data-first-sentence-s", "data-answer-s"))
    assert first <= done
    assert re.fullmatch(r"Confidence \d+% \(threshold \d+%\)", page.inner_text("#confidence"))  # the decision, shown
    assert page.query_selector("#answer .sentence .confidence")
    page.click("#why-not summary")  # the "why not" details open
    shot(page, "ask")
    cite = page.query_selector("#answer .cite")
    quote = cite.get_attribute("data-quote")
    cite.click()
    page.wait_for_selector("#doc-text mark.cited")
    highlighted = page.eval_on_selector_all("#doc-text mark.cited", "ms => ms.map(m => m.textContent).join('')")
    assert highlighted == quote
    assert page.eval_on_selector_all("#doc-text span.sent", "s => s.length") >= 5  # the report, sentence by sentence
    assert page.evaluate("document.activeElement.classList.contains('cited')")  # scrolled to and focused
    shot(page, "report")


def test_3_facts_highlighted_with_their_evidence(page: Any, server: LiveServer) -> None:
    doc_id = httpx.get(f"{server.url}/v1/documents").json()["items"][0]["id"]
    page.goto(page.url.split("#")[0] + f"#/facts/{doc_id}")
    page.click("#extract-button")
    page.wait_for_selector("#facts-table tbody tr", timeout=600_000)
    evidence = json.loads(page.get_attribute("#facts-text", "data-evidence"))
    assert evidence
    marks = page.eval_on_selector_all(
        "#facts-text mark[data-spans]", "ms => ms.map(m => [m.dataset.spans, m.textContent])"
    )
    text = httpx.get(f"{server.url}/v1/documents/{doc_id}").json()["text"]
    for ev in evidence:
        shown = "".join(t for spans, t in marks if ev["id"] in spans.split(" "))
        assert shown == ev["text"], ev
        assert ev["text"] in text
    row = page.query_selector("#facts-table tbody tr")
    row.click()
    assert page.query_selector("#facts-text mark.focus") is not None
    shot(page, "facts")


def test_3b_entities_listed_and_each_mention_quoted_from_its_report(page: Any, server: LiveServer) -> None:
    """The entities the extraction above named, resolved across reports (here one), each mention's quote the
    report's own text at its span and linked to it."""
    page.goto(page.url.split("#")[0] + "#/entities")
    page.wait_for_selector("#entities-list tbody tr")
    names = page.eval_on_selector_all("#entities-list tbody tr td:first-child a", "as => as.map(a => a.textContent)")
    api = httpx.get(f"{server.url}/v1/entities", params={"limit": 50}).json()["items"]
    assert names == [e["name"] for e in api] and names
    page.click("#entities-list tbody tr td:first-child a")
    page.wait_for_selector("#mentions li a.quote")
    quotes = page.eval_on_selector_all(
        "#mentions a.quote", "as => as.map(a => [a.dataset.document, +a.dataset.start, +a.dataset.end, a.textContent])"
    )
    for doc_id, start, end, quote in quotes:
        assert httpx.get(f"{server.url}/v1/documents/{doc_id}").json()["text"][start:end] == quote
    assert page.get_attribute("nav a[data-view='entities']", "aria-current") == "page"
    shot(page, "entities")
    page.click("#mentions a.quote")  # a quote opens its report with the span highlighted
    page.wait_for_selector("#doc-text mark.cited")


def test_4_a_batch_runs_and_its_digest_opens(page: Any) -> None:
    page.goto(page.url.split("#")[0] + "#/digests")
    page.click("#batch-button")
    page.wait_for_selector("#job-list td:has-text('completed')", timeout=900_000)
    shot(page, "jobs")
    page.click("#job-list td a")
    page.wait_for_selector("#digest h3:has-text('Digest')", timeout=60_000)
    page.wait_for_selector("#digest section .cite")
    linked = page.query_selector("#digest .point button.link")  # a digest point links to its summary sentences
    if linked:
        linked.click()
        assert page.evaluate("document.activeElement.id").startswith("sum-")
    shot(page, "digest")


def test_5_evals_and_phone_width(page: Any) -> None:
    page.goto(page.url.split("#")[0] + "#/evals")
    shown = page.wait_for_selector("#view h2:has-text('Latest eval'), #view p:has-text('no eval report yet')")
    if shown.inner_text() == "Latest eval":  # `make test` runs the eval gate first, so there is a run to show
        page.wait_for_selector("#view table tbody tr")
        page.wait_for_function("document.querySelector('#eval-chart').naturalWidth > 0")
    shot(page, "evals")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(page.url.split("#")[0] + "#/ask")
    page.wait_for_selector("#question")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways at phone width ({width}px)"
    shot(page, "phone")
    page.goto(page.url.split("#")[0] + "#/reports")
    page.reload()
    page.keyboard.press("Tab")  # keyboard users: the skip link first, then the sections
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('href')") == "#/ask"


def test_6_with_keys_the_page_sends_the_key_only_in_its_header(api: LiveServer, browser: Any) -> None:
    """A server with keys (no model needed): without the key the page shows the 401; with it typed in, the
    reports load, and no request the page made carried the key anywhere but the Authorization header."""
    _, token = api.container.access.create("writer")
    httpx.post(
        f"{api.url}/v1/documents",
        json={"text": "A report that only keyed readers see.", "title": "Keyed"},
        headers={"Authorization": f"Bearer {token}"},
    )
    context = browser.new_context()  # its own sessionStorage
    page = context.new_page()
    seen: list[tuple[str, str | None]] = []
    page.on("request", lambda r: seen.append((r.url, r.headers.get("authorization"))))
    page.goto(f"{api.url}/#/reports")
    page.wait_for_selector("#toast:has-text('401')")  # refused without the key, and the page says so
    page.fill("#api-key", token)
    page.dispatch_event("#api-key", "change")
    page.wait_for_selector("#report-list td a:has-text('Keyed')")
    context.close()
    assert all(token not in url for url, _ in seen)
    assert any(auth == f"Bearer {token}" for url, auth in seen if "/v1/documents" in url)
