"""The console in a real browser: Debian's chromium driven by Selenium.

Started by the Swift test `ConsoleBrowserTests`, which seeds a store, runs the server with the
console and the projections, and hands over through the environment:

  WAYMARK_URL            the server's base URL
  OPERATOR_KEY, ANALYST_KEY, SERVICE_KEY
  STALLED_JOURNEY        a journey the board must highlight as stalled
  ESCALATED_JOURNEY      a journey with an open escalation and a running SLA clock
  JOURNEY_TYPE           the board to open
  CONSENT_SUBJECT        a subject with consents
  SCREENSHOTS            where each step writes its page's screenshot

Each check prints `ok <name>`; the first failure raises and ends the run with exit status 1.
"""

import json
import os
import sys
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

BASE = os.environ["WAYMARK_URL"]
SHOTS = os.environ["SCREENSHOTS"]


def browser():
    options = webdriver.ChromeOptions()
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000", "--disable-gpu"]:
        options.add_argument(argument)
    binary = next((p for p in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] if os.path.exists(p)), None)
    if binary:
        options.binary_location = binary
    driver_path = next((p for p in ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"] if os.path.exists(p)), None)
    service = Service(executable_path=driver_path) if driver_path else Service()
    return webdriver.Chrome(service=service, options=options)


def shot(driver, name):
    os.makedirs(SHOTS, exist_ok=True)
    driver.save_screenshot(os.path.join(SHOTS, name + ".png"))


def ok(name):
    print("ok", name, flush=True)


def wait(driver, condition, seconds=20):
    return WebDriverWait(driver, seconds).until(condition)


def sign_in(driver, key):
    driver.get(BASE + "/console/sign-out-page-does-not-exist")
    driver.delete_all_cookies()
    driver.get(BASE + "/console/board")
    # Without a session the console asks to sign in, and returns to the page asked for.
    wait(driver, EC.presence_of_element_located((By.ID, "credential")))
    assert "/console/sign-in" in driver.current_url, driver.current_url
    field = driver.find_element(By.ID, "credential")
    field.send_keys(key)
    field.submit()
    wait(driver, EC.presence_of_element_located((By.CSS_SELECTOR, ".board")))


def api(method, path, key, body=None):
    request = urllib.request.Request(BASE + path, method=method, data=json.dumps(body).encode() if body is not None else None)
    request.add_header("Authorization", "Bearer " + key)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read() or b"null")


def main():
    stale = os.path.join(SHOTS, "failure.png")
    if os.path.exists(stale):
        os.remove(stale)
    driver = browser()
    try:
        journey_type = os.environ["JOURNEY_TYPE"]
        stalled = os.environ["STALLED_JOURNEY"]
        escalated = os.environ["ESCALATED_JOURNEY"]

        # An analyst: the board with the stalled journey highlighted, and no operations page.
        sign_in(driver, os.environ["ANALYST_KEY"])
        driver.get(BASE + "/console/board?type=" + journey_type)
        card = wait(driver, EC.presence_of_element_located((By.CSS_SELECTOR, '.card[data-journey="%s"]' % stalled)))
        assert "stalled" in card.get_attribute("class").split(), card.get_attribute("class")
        assert card.find_element(By.CSS_SELECTOR, ".stalled-badge").is_displayed()
        shot(driver, "board")
        ok("a stalled journey is highlighted on the board")

        # The board follows the log: a journey started through the API appears without a reload.
        wait(driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-live-open") == "true")
        marker = driver.execute_script("window.__notReloaded = true; return true;")
        fresh = "live-%d" % int(time.time() * 1000)
        status, _ = api("POST", "/v1/journeys/%s/commands" % fresh, os.environ["SERVICE_KEY"],
                        {"type": "start", "journeyType": journey_type, "customerId": "c-live", "tier": "standard"})
        assert status in (200, 201), status
        wait(driver, EC.presence_of_element_located((By.CSS_SELECTOR, '.card[data-journey="%s"]' % fresh)), 60)
        assert driver.execute_script("return window.__notReloaded === true;") and marker, "the page was reloaded, not refreshed"
        ok("the board updates live")

        driver.get(BASE + "/console/operations")
        alert = wait(driver, EC.presence_of_element_located((By.CSS_SELECTOR, ".notice.error")))
        assert "403" in alert.text and "operator" in alert.text, alert.text
        shot(driver, "operations-refused")
        ok("a page for a role without access is refused")

        driver.get(BASE + "/console/journeys/" + escalated)
        wait(driver, EC.presence_of_element_located((By.ID, "timeline")))
        assert not driver.find_elements(By.XPATH, "//button[normalize-space()='Acknowledge']"), "an analyst was offered Acknowledge"
        ok("an analyst is not offered actions")

        # An operator: the journey page, a countdown that moves, acknowledging from the page.
        driver.find_element(By.CSS_SELECTOR, "form.who button").click()
        sign_in(driver, os.environ["OPERATOR_KEY"])
        driver.get(BASE + "/console/journeys/" + escalated)
        countdown = wait(driver, EC.presence_of_element_located((By.CSS_SELECTOR, ".countdown[data-deadline]")))
        first = countdown.text
        wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, ".countdown[data-deadline]").text not in ("", first), 10)
        ok("a live countdown moves (%s, then %s)" % (first, driver.find_element(By.CSS_SELECTOR, ".countdown[data-deadline]").text))
        assert driver.find_elements(By.CSS_SELECTOR, ".gantt-bar"), "no stage bar"
        assert driver.find_elements(By.CSS_SELECTOR, ".meter .mark"), "no SLA marks"
        shot(driver, "journey")

        row = driver.find_element(By.CSS_SELECTOR, "tr.escalation.open")
        row.find_element(By.CSS_SELECTOR, "input[name=note]").send_keys("on it (browser test)")
        row.find_element(By.XPATH, ".//button[normalize-space()='Acknowledge']").click()
        notice = wait(driver, EC.presence_of_element_located((By.CSS_SELECTOR, ".notice[role=status]")))
        assert "acknowledged" in notice.text.lower(), notice.text
        ok("an escalation is acknowledged from the page")

        for path, name, selector in [
            ("/console/sla", "sla", "main table"),
            ("/console/escalations", "escalations", "main table"),
            ("/console/consent?subject=" + os.environ["CONSENT_SUBJECT"], "consent", "main table"),
            ("/console/operations", "operations", "progress"),
            ("/console/journeys?type=" + journey_type, "journeys", "main table"),
            ("/console/map?type=" + journey_type, "map", "svg.map"),
            ("/console/flow?type=" + journey_type, "flow", "main table"),
        ]:
            driver.get(BASE + path)
            wait(driver, EC.presence_of_element_located((By.CSS_SELECTOR, selector)))
            assert driver.find_element(By.TAG_NAME, "h1").text, path
            shot(driver, name)
            ok("page %s renders" % path)

        # Keyboard: the skip link is the first stop and leads to the content.
        driver.get(BASE + "/console/board")
        body = driver.find_element(By.TAG_NAME, "body")
        body.send_keys("\t")
        focused = driver.switch_to.active_element
        assert focused.get_attribute("class") == "skip", focused.get_attribute("outerHTML")
        ok("the first tab stop skips to the content")
    except Exception:
        # What the browser showed when a check failed.
        shot(driver, "failure")
        print("at", driver.current_url, file=sys.stderr)
        print(driver.find_element(By.TAG_NAME, "body").text[:2000], file=sys.stderr)
        raise
    finally:
        driver.quit()


if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # noqa: BLE001 - the test reports any failure with its message
        print("FAILED:", type(error).__name__, error, file=sys.stderr, flush=True)
        sys.exit(1)
