"""The review page in a real headless browser (Chromium driven by selenium): keyboard review,
accept and reject, promoting a candidate, adding a tag through autocompletion, decisions kept
across a reload, Apply read back by ExifTool; filters, bulk actions and paging. Each test starts
its own server on a free loopback port and stops it."""

from __future__ import annotations

from pathlib import Path

import pytest

import lzt
from lzt.output.xmp import sidecar_path
from lzt.review import ReviewStore, review_items, roots_of
from reviewing import COCO_LABELS, chrome, items_for, new_store, serving, small_photos
from support import copy_photos, exiftool_keywords, needs_exiftool, random_classifier

pytest.importorskip("uvicorn", reason="the review extra is not installed")
pytest.importorskip("selenium", reason="selenium is not installed (the test extra has it)")  # CI installs it: the test extra

from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

WAIT = 20


@pytest.fixture(scope="module")
def browser():
    driver = chrome()
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def tagged(coco128, tmp_path_factory):
    """Three coco128 photos tagged by the tiny model: tags (top 3) and 4 candidates each."""
    folder = copy_photos(tmp_path_factory.mktemp("photos"), 3)
    classifier = random_classifier(COCO_LABELS, tmp_path_factory.mktemp("clf") / "coco.lzt")
    with lzt.Tagger.load(classifier, device="cpu") as tagger:
        items = list(review_items(tagger, [folder], lzt.Selection(topk=3), candidates=4, workers=0))
    return folder, items


def wait(driver, condition, message: str = ""):
    """Until `condition(driver)`; cards are redrawn from each answer, so an element found a moment
    ago may be gone: look again."""
    ignored = (NoSuchElementException, StaleElementReferenceException)
    return WebDriverWait(driver, WAIT, ignored_exceptions=ignored).until(condition, message)


def open_page(driver, server) -> None:
    driver.get(server.url)
    wait(driver, lambda d: "ready" in d.find_element(By.TAG_NAME, "body").get_attribute("class"), "the page did not load")


def press(driver, *keys: str) -> None:
    body = driver.find_element(By.TAG_NAME, "body")
    for key in keys:
        body.send_keys(key)


def card(driver, index: int):
    return driver.find_element(By.CSS_SELECTOR, f'#grid .card[data-index="{index}"]')


def chip_class(driver, index: int, label: str) -> str:
    return card(driver, index).find_element(By.CSS_SELECTOR, f'.chip[data-label="{label}"]').get_attribute("class")


def wait_chip(driver, index: int, label: str, state: str) -> None:
    wait(driver, lambda d: state in chip_class(d, index, label).split(), f"{label} on card {index} never became {state}")


def decisions(store: ReviewStore) -> set[tuple[str, str, str, bool]]:
    return {(Path(d.path).name, d.label, d.decision, d.added) for d in store.decisions()}


@needs_exiftool
def test_review_by_keyboard_reload_and_apply(browser, tagged, tmp_path: Path) -> None:
    folder, items = tagged
    with new_store(tmp_path / "review.db", items, roots_of([folder])) as store, serving(store, tmp_path / "thumbs") as server:
        open_page(browser, server)
        page = store.page()
        assert len(browser.find_elements(By.CSS_SELECTOR, "#grid .card")) == 3
        wait(browser, lambda d: all(int(img.get_attribute("naturalWidth") or 0) > 0 for img in d.find_elements(By.CSS_SELECTOR, "#grid .card img")),
             "thumbnails did not load")
        first, second = page[0], page[1]
        tags = [t["label"] for t in first["tags"]]
        candidate = first["candidates"][0]["label"]
        assert "current" in card(browser, 0).get_attribute("class").split()
        press(browser, "a")  # accept the first tag; the cursor moves to the next one
        wait_chip(browser, 0, tags[0], "accepted")
        press(browser, "r")  # reject the second
        wait_chip(browser, 0, tags[1], "rejected")
        press(browser, Keys.ARROW_DOWN, "a")  # skip the third tag, promote the first candidate
        wait_chip(browser, 0, candidate, "accepted")
        press(browser, "j", "k", "j")  # next, previous, next photo
        assert "current" in card(browser, 1).get_attribute("class").split()
        press(browser, "t")  # add a tag, chosen by autocompletion
        box = browser.find_element(By.ID, "add-box")
        wait(browser, lambda d: box.is_displayed())
        extra = next(label for label in ("zebra", "giraffe", "elephant") if label not in {e["label"] for e in (*second["tags"], *second["candidates"])})
        browser.switch_to.active_element.send_keys(extra[:3])
        wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f'#suggestions .suggestion.active[data-label="{extra}"]'), "no suggestion")
        browser.switch_to.active_element.send_keys(Keys.ENTER)
        wait_chip(browser, 1, extra, "accepted")
        assert not box.is_displayed()
        expected = {
            (Path(first["path"]).name, tags[0], "accept", False), (Path(first["path"]).name, tags[1], "reject", False),
            (Path(first["path"]).name, candidate, "accept", False), (Path(second["path"]).name, extra, "accept", True),
        }
        assert decisions(store) == expected
        browser.refresh()  # the decisions are the database's, not the page's
        wait(browser, lambda d: "ready" in d.find_element(By.TAG_NAME, "body").get_attribute("class"))
        assert "accepted" in chip_class(browser, 0, tags[0]).split() and "rejected" in chip_class(browser, 0, tags[1]).split()
        assert "undecided" in chip_class(browser, 0, tags[2]).split() and "accepted" in chip_class(browser, 0, candidate).split()
        assert "added" in chip_class(browser, 1, extra).split()
        browser.find_element(By.ID, "apply").click()
        wait(browser, lambda d: "applied: 2 files written" in d.find_element(By.ID, "status").text, "apply did not report")
        rows = exiftool_keywords(sidecar_path(Path(first["path"])), sidecar_path(Path(second["path"])))
        assert rows[0]["HierarchicalSubject"] == [f"lzt|reviewed|{tags[0]}", f"lzt|reviewed|{candidate}", f"lzt|auto|{tags[2]}"]
        assert rows[0]["Subject"] == [tags[0], candidate, tags[2]]
        assert rows[1]["HierarchicalSubject"] == [f"lzt|reviewed|{extra}", *(f"lzt|auto|{t['label']}" for t in second["tags"])]
        assert decisions(store) == expected  # applying changes no decision


def test_filters_bulk_actions_and_paging(browser, tmp_path: Path) -> None:
    photos = small_photos(tmp_path / "photos", 70)
    with new_store(tmp_path / "review.db", items_for(photos), [tmp_path / "photos"]) as store, serving(store, tmp_path / "thumbs") as server:
        open_page(browser, server)
        info = browser.find_element(By.ID, "page-info")
        assert info.text == "photos 1–60 of 70" and len(browser.find_elements(By.CSS_SELECTOR, "#grid .card")) == 60
        press(browser, "n")
        wait(browser, lambda d: info.text == "photos 61–70 of 70")
        assert len(browser.find_elements(By.CSS_SELECTOR, "#grid .card")) == 10
        press(browser, "k")  # back from the first photo of page 2: the last photo of page 1
        wait(browser, lambda d: info.text == "photos 1–60 of 70")
        assert "current" in card(browser, 59).get_attribute("class").split()
        # photo i has labels i..i+2 as tags: "bus" (label 5) is a tag of photos 3, 4 and 5
        label = browser.find_element(By.ID, "f-label")
        label.send_keys("bus", Keys.TAB)
        wait(browser, lambda d: info.text == "photos 1–3 of 3")
        assert browser.find_element(By.ID, "bulk-count").text == "3"
        assert [c.get_attribute("data-index") for c in browser.find_elements(By.CSS_SELECTOR, "#grid .card")] == ["0", "1", "2"]
        names = [c.find_element(By.CSS_SELECTOR, ".name").text for c in browser.find_elements(By.CSS_SELECTOR, "#grid .card")]
        assert names == ["photo0005.jpg", "photo0004.jpg", "photo0003.jpg"]  # by the score of bus, best first
        browser.find_element(By.ID, "f-min").send_keys("0.75", Keys.TAB)  # bus second or first
        wait(browser, lambda d: info.text == "photos 1–2 of 2")
        browser.find_element(By.ID, "bulk-reject").click()
        wait(browser, expected_conditions.alert_is_present())
        browser.switch_to.alert.accept()
        wait(browser, lambda d: "Reject “bus”: 2 photos" in d.find_element(By.ID, "status").text)
        assert decisions(store) == {("photo0005.jpg", "bus", "reject", False), ("photo0004.jpg", "bus", "reject", False)}
        wait_chip(browser, 0, "bus", "rejected")
        browser.refresh()  # the view lives in the URL's fragment: a reload keeps the filters
        wait(browser, lambda d: "ready" in d.find_element(By.TAG_NAME, "body").get_attribute("class"))
        assert browser.find_element(By.ID, "f-label").get_attribute("value") == "bus"
        assert browser.find_element(By.ID, "page-info").text == "photos 1–2 of 2"
        sort = browser.find_element(By.ID, "f-sort")
        sort.find_element(By.CSS_SELECTOR, 'option[value="score-asc"]').click()
        wait(browser, lambda d: card(d, 0).find_element(By.CSS_SELECTOR, ".name").text == "photo0004.jpg")
