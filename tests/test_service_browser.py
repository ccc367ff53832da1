"""Browser test of the review page: headless Debian Chromium driven by Playwright.

The real server runs on loopback; Chromium opens ``/``, uploads a photo (file
chooser and drag-and-drop), and the test checks the verdict, the score bar, the
heatmap overlay and its controls, the model version, an error for a corrupt file,
and that the page never contacts another origin (it works offline).

Playwright drives the system browser (``/usr/bin/chromium``, Debian package
``chromium``); ``playwright install`` is never needed.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Iterator

import pytest

from test_service import Server, serve

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="Debian chromium is not installed (apt-get install -y chromium)")



def wait_until(page, expression: str, timeout: float = 30.0) -> None:
    """Poll ``expression`` in the page until it is truthy. ``page.evaluate`` runs through the DevTools
    protocol, so the page's strict CSP (no 'unsafe-eval') does not block it; Playwright's own
    ``wait_for_function`` polls with an in-page eval that this CSP refuses whenever the first check fails."""
    import time

    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for: {expression}")
        page.wait_for_timeout(100)

@pytest.fixture(scope="module")
def page_server(pipeline, tmp_path_factory) -> Iterator[Server]:
    with serve(pipeline["onnx"], tmp_path_factory.mktemp("browser") / "server.log") as s:
        yield s


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright  # a hard dependency here: the test must not skip without it

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                              args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
        yield b
        b.close()


def _open_review_page(browser, page_server):
    """A fresh page on the review page, loaded; records requests to other origins and console errors."""
    foreign: list[str] = []
    console_errors: list[str] = []
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    own = (page_server.url, "data:", "blob:")
    page.on("request", lambda r: None if r.url.startswith(own) else foreign.append(r.url))
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.set_default_timeout(30_000)
    page.goto(page_server.url + "/")
    wait_until(page, "document.getElementById('model-version').textContent.includes('sha256:')")
    return context, page, foreign, console_errors


def test_review_page_upload_shows_verdict_and_heatmap(page_server, browser, pipeline, tmp_path):
    photo = sorted((pipeline["run"] / "data" / "images").rglob("*.jpg"))[0]
    model = page_server.get("/v1/model").json()
    expected = page_server.predict(photo.read_bytes(), photo.name).json()
    context, page, foreign, console_errors = _open_review_page(browser, page_server)
    try:
        assert model["version"] in page.inner_text("#model-version")
        assert model["id"] in page.inner_text("#model-info")

        # 1. Choose a file.
        page.set_input_files("#file", str(photo))
        page.wait_for_selector("#result:not([hidden])")
        verdict = page.inner_text("#verdict")
        assert verdict == ("Generated damage likely" if expected["is_fake"] else "No generated damage found")
        assert ("fake" if expected["is_fake"] else "real") in page.get_attribute("#verdict", "class")
        assert page.is_visible("#verdict") and page.is_visible("#photo")
        assert f"{expected['score']:.3f}" in page.inner_text("#score")
        assert f"{expected['threshold']:.3f}" in page.inner_text("#threshold")
        fill = page.evaluate("parseFloat(document.getElementById('scorefill').style.width)")
        mark = page.evaluate("parseFloat(document.getElementById('threshold-mark').style.left)")
        assert fill == pytest.approx(100 * expected["score"], abs=0.06)
        assert mark == pytest.approx(100 * expected["threshold"], abs=0.06)
        assert model["version"] in page.inner_text("#details")

        if model["has_heatmap"]:
            wait_until(page, "document.getElementById('heatmap').naturalWidth > 0")
            assert page.is_visible("#heatmap")
            box_photo, box_heat = page.locator("#photo").bounding_box(), page.locator("#heatmap").bounding_box()
            assert box_heat == pytest.approx(box_photo, abs=1.5)  # the overlay covers the photo exactly
            page.fill("#opacity", "30")
            page.dispatch_event("#opacity", "input")
            assert page.evaluate("getComputedStyle(document.getElementById('heatmap')).opacity") == "0.3"
            page.uncheck("#show-heatmap")
            assert page.evaluate("getComputedStyle(document.getElementById('heatmap')).visibility") == "hidden"
            page.check("#show-heatmap")
            assert page.evaluate("getComputedStyle(document.getElementById('heatmap')).visibility") == "visible"
        else:
            assert page.is_visible("#no-heatmap")

        # 2. A corrupt photo shows the server's message, and the next drop works again.
        broken = tmp_path / "broken.jpg"
        broken.write_bytes(photo.read_bytes()[:400])
        page.set_input_files("#file", str(broken))
        page.wait_for_selector("#error:not([hidden])")
        assert "broken.jpg" in page.inner_text("#error") and "decode_error" in page.inner_text("#error")

        # 3. Drag and drop.
        data = base64.b64encode(photo.read_bytes()).decode()
        page.evaluate("""([name, b64]) => {
            const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], name, {type: 'image/jpeg'}));
            const drop = new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true});
            document.getElementById('drop').dispatchEvent(drop);
        }""", [photo.name, data])
        page.wait_for_selector("#result:not([hidden])")
        assert page.is_hidden("#error") and page.inner_text("#verdict") == verdict
        if model["has_heatmap"]:
            wait_until(page, "document.getElementById('heatmap').naturalWidth > 0")
        page.screenshot(path=str(tmp_path / "review.png"), full_page=True)
    finally:
        context.close()
    assert foreign == [], f"the page contacted other origins: {foreign}"
    unexpected = [m for m in console_errors if "422" not in m]  # the corrupt upload's 422 is logged by Chromium
    assert unexpected == [], unexpected



def test_review_page_assesses_a_claim_against_listing_photos(page_server, browser, tmp_path):
    """Listing photo + claim derived from it: the page calls /v1/assess and shows verdict, reason, evidence and maps."""
    import numpy as np
    import skimage.data

    from conftest import claim_builders
    from fakedamage.data.generators import ClassicalGenerator
    from test_service_assess import _jpeg

    build = claim_builders()
    listing = build.make_listing(skimage.data.coffee())
    claim = build.make_derived_claim("c", listing, ClassicalGenerator(), "chip", np.random.default_rng(1), "listing", [])
    listing_path, claim_path = tmp_path / "listing.jpg", tmp_path / "claim.jpg"
    listing_path.write_bytes(_jpeg(listing))
    claim_path.write_bytes(claim.data)
    expected = page_server.upload("/v1/assess", [("claim", "claim.jpg", "image/jpeg", claim.data),
                                                 ("references", "listing.jpg", "image/jpeg", listing_path.read_bytes())])
    expected = expected.json()["assessment"]
    assert expected["verdict"] == "likely_ai_edited"

    context, page, foreign, console_errors = _open_review_page(browser, page_server)
    try:
        assert page.is_visible("#refs") and page.is_disabled("#assess-btn")

        # 1. The listing photo first (nothing to assess yet), then the claim: predict and assess both run.
        page.set_input_files("#ref-files", str(listing_path))
        assert page.inner_text("#ref-list").startswith("listing.jpg") and page.is_hidden("#assessment")
        page.set_input_files("#file", str(claim_path))
        page.wait_for_selector("#result:not([hidden])")  # the predict flow still works
        page.wait_for_selector("#assessment:not([hidden])")
        assert page.inner_text("#assess-verdict") == "Likely AI-edited"
        assert page.get_attribute("#assess-verdict", "data-verdict") == "likely_ai_edited"
        assert page.inner_text("#assess-reason") == expected["reason"]
        items = page.locator("#evidence > li")
        assert items.count() == len(expected["evidence"])
        assert [items.nth(i).get_attribute("data-kind") for i in range(items.count())] == \
            [e["kind"] for e in expected["evidence"]]
        match = page.locator("#evidence > li[data-kind=reference_match]")
        assert "deciding" in match.get_attribute("class") and match.locator(".tag").inner_text().lower() == "deciding"
        assert "listing.jpg" in match.locator(".ev-text").inner_text()
        assert match.locator(".ev-strength").inner_text() == "+0.95"
        width = match.locator(".sfill").evaluate("el => parseFloat(el.style.width)")
        assert width == pytest.approx(47.5, abs=0.1)  # half the bar is strength 1
        # the difference map, the changed regions and the aligned reference are shown as images
        captions = match.locator("figure.map figcaption").all_inner_texts()
        assert captions[0].startswith("difference against the matched reference") and "aligned reference" in captions
        # maps are recoloured in the page and laid over the claim thumbnail; every picture loads
        wait_until(page, """() => [...document.querySelectorAll('#evidence img')]
            .every(img => img.complete && img.naturalWidth > 0)""")
        overlay = match.locator("figure.overlay").first
        assert overlay.locator("img.top").get_attribute("src").startswith("data:image/png;base64,")
        assert overlay.locator("img.top").bounding_box() == pytest.approx(overlay.locator("img.base").bounding_box(),
                                                                           abs=1.5)
        if page_server.get("/v1/model").json()["has_heatmap"]:
            assert page.locator("#evidence > li[data-kind=detector] figure.overlay img.top").count() == 1
        assert page.evaluate("document.getElementById('claim-thumb').naturalWidth") > 0
        page.screenshot(path=str(tmp_path / "assess-refs.png"), full_page=True)

        # 2. Without references, "Assess claim" checks provenance and the detector only.
        page.click("#ref-clear")
        assert page.locator("#ref-list > li").count() == 0
        page.click("#assess-btn")
        wait_until(page, """() => !document.getElementById('assessment').hidden &&
            !document.querySelector('#evidence li[data-kind=reference_match]')""")
        kinds = page.locator("#evidence > li").evaluate_all("els => els.map(e => e.dataset.kind)")
        assert "detector" in kinds and not any(k.startswith("reference") for k in kinds)
        page.screenshot(path=str(tmp_path / "assess.png"), full_page=True)
    finally:
        context.close()
    assert foreign == [], f"the page contacted other origins: {foreign}"
    assert console_errors == [], console_errors


def test_review_page_shows_a_visible_ai_label_and_its_box(page_server, browser, tmp_path):
    """A claim with a visible "Made with AI" label: the page lists the item, marks it deciding and shows its box."""
    import numpy as np
    import skimage.data
    from PIL import Image

    from test_assess_explicit_label import render
    from test_service_assess import _jpeg

    photo = np.asarray(Image.fromarray(skimage.data.coffee()).resize((1200, 800), Image.Resampling.LANCZOS))
    img, _ = render(photo, "Made with AI", "en", "bottom-right", 0.035)
    claim_path = tmp_path / "labelled.jpg"
    claim_path.write_bytes(_jpeg(img))
    context, page, foreign, console_errors = _open_review_page(browser, page_server)
    try:
        page.set_input_files("#file", str(claim_path))
        page.wait_for_selector("#result:not([hidden])")
        page.click("#assess-btn")
        page.wait_for_selector("#evidence > li[data-kind=explicit_ai_label]")
        assert page.inner_text("#assess-verdict") == "Likely AI-edited"
        item = page.locator("#evidence > li[data-kind=explicit_ai_label]")
        assert "deciding" in item.get_attribute("class")
        assert item.locator("strong").first.inner_text() == "Visible AI label (read by OCR)"
        assert "bottom-right corner" in item.locator(".ev-text").inner_text()
        assert item.locator("figure.overlay figcaption").inner_text() == "AI label text (over the claim)"
        wait_until(page, """() => [...document.querySelectorAll('#evidence img')]
            .every(img => img.complete && img.naturalWidth > 0)""")
        page.screenshot(path=str(tmp_path / "label.png"), full_page=True)
    finally:
        context.close()
    assert foreign == [], f"the page contacted other origins: {foreign}"
    assert console_errors == [], console_errors
