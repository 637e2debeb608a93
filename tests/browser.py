"""The web console in a real browser: Debian's Chromium, driven by Selenium through Debian's chromedriver
(no browser or driver is downloaded), headless, each session with an empty profile of its own.

`Browser.shoot(name)` saves the page at a phone's width and a desktop's under the test's output folder
(`<tmp>/capturas/`), whole pages; with OTI_SCREENSHOTS=<folder> (the README's are made with
`make screenshots`) it also writes them there.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.peers.programs import path

PHONE = (390, 844)             # a common phone's CSS pixels
DESKTOP = (1366, 900)
# Chromium's own traffic stays off: this machine's network is closed, and a test talks to loopback only
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--mute-audio", "--lang=es-PE",
         "--disable-features=Translate,MediaRouter,OptimizationHints")


class Browser:
    """One person's Chromium: open pages of the console, fill forms, wait for what a person waits for."""

    def __init__(self, base_url: str, profile: Path, shots: Path, size=DESKTOP):
        options = webdriver.ChromeOptions()
        options.binary_location = path("chromium")
        for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}"):
            options.add_argument(flag)
        options.add_experimental_option("prefs", {"intl.accept_languages": "es-PE,es"})
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        service = Service(executable_path=path("chromedriver"), log_output=str(profile.parent / "chromedriver.log"))
        self.driver = webdriver.Chrome(options=options, service=service)
        self.driver.set_page_load_timeout(30)
        self.base_url, self.shots, self.size = base_url.rstrip("/"), shots, size

    # ------------------------------------------------------------------ what a person does
    def open(self, path_or_url: str) -> None:
        self.driver.get(path_or_url if "://" in path_or_url else self.base_url + path_or_url)

    def login(self, login: str, password: str) -> None:
        """Through the login form (the page the console sends a browser without a session to)."""
        if "/login" not in self.driver.current_url:
            self.open("/login")
        self.fill(login=login, password=password)
        self.driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button[type=submit]").click()
        self.wait(lambda d: "/login" not in d.current_url, "the login page to let the person in")

    def fill(self, **fields: str) -> None:
        """Type into the fields with these ids (a person's keyboard: clear, then type)."""
        for field_id, value in fields.items():
            element = self.driver.find_element(By.ID, field_id)
            element.clear()
            element.send_keys(value)

    def click(self, text: str) -> None:
        """The button or link a person reads `text` on."""
        for attempt in range(3):            # a page still replacing itself: look again
            try:
                found = [e for e in self.driver.find_elements(By.CSS_SELECTOR, "button, a, input[type=submit]")
                         if e.is_displayed() and (e.text.strip() == text or e.get_attribute("value") == text)]
                assert found, f"no button or link {text!r} on {self.driver.current_url}:\n{self.text()[:2000]}"
                found[0].click()
                return
            except StaleElementReferenceException:
                if attempt == 2:
                    raise

    def text(self) -> str:
        for attempt in range(3):
            try:
                return self.driver.find_element(By.TAG_NAME, "body").text
            except StaleElementReferenceException:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def wait(self, condition, what: str, timeout: float = 20) -> None:
        # A page that navigates between finding <body> and reading it leaves a stale
        # element: that is "not yet", not a failure (CI saw it once after "Ver plan").
        try:
            WebDriverWait(self.driver, timeout, poll_frequency=0.2,
                          ignored_exceptions=(StaleElementReferenceException,)).until(condition)
        except TimeoutException:
            raise AssertionError(f"waited {timeout:g}s for {what} on {self.driver.current_url}:\n"
                                 f"{self.text()[:3000]}") from None

    def wait_text(self, words: str, timeout: float = 20) -> None:
        """Until the page (as it is now, without reloading) shows `words`."""
        self.wait(lambda d: words in d.find_element(By.TAG_NAME, "body").text, repr(words), timeout)

    def console_errors(self) -> list[str]:
        """What the page's scripts complained of (a CSP refusal shows here)."""
        return [e["message"] for e in self.driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]

    # ------------------------------------------------------------------ screenshots
    def shoot(self, name: str) -> list[Path]:
        """The whole page at a phone's width and a desktop's; back to this browser's size after."""
        self.shots.mkdir(parents=True, exist_ok=True)
        saved = []
        for label, (width, height) in (("movil", PHONE), ("escritorio", DESKTOP)):
            self.driver.set_window_size(width, height)
            full = self.driver.execute_script("return document.documentElement.scrollHeight")
            self.driver.set_window_size(width, min(max(height, int(full) + 120), 6000))
            target = self.shots / f"{name}-{label}.png"
            assert self.driver.save_screenshot(str(target)), f"no screenshot of {name}"
            saved.append(target)
        self.driver.set_window_size(*self.size)
        extra = os.environ.get("OTI_SCREENSHOTS")
        if extra:
            Path(extra).mkdir(parents=True, exist_ok=True)
            for p in saved:
                shutil.copy(p, Path(extra) / p.name)
        return saved

    def quit(self) -> None:
        self.driver.quit()
