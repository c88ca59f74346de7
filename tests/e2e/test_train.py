"""Train in a real browser: the settings page, then a 1-epoch digits run with live progress to a saved model."""
import re

import pytest

from .conftest import assert_no_exception, error_texts, open_page, screenshot, wait_idle

pytestmark = pytest.mark.e2e


def choose(page, key: str, option: str) -> None:
    """Pick an option of the st.selectbox with this key."""
    page.locator(f".st-key-{key} [role=combobox]").click()  # 1.67: a react-aria combobox
    page.locator("[role=option]", has_text=re.compile(f"^{re.escape(option)}$")).click()


def test_one_epoch_digits_run(page, app_url):
    open_page(page, f"{app_url}/train", ".st-key-train_start")
    assert page.locator(".st-key-train_start button").is_enabled()

    choose(page, "train_dataset", "digits")
    wait_idle(page)
    epochs = page.locator(".st-key-train_epochs input")
    epochs.fill("1")
    epochs.press("Enter")
    epochs.blur()
    wait_idle(page)
    page.locator(".st-key-train_name input").fill("e2e-digits")
    page.locator(".st-key-train_name input").press("Enter")
    wait_idle(page)
    page.locator(".st-key-train_start button").click()

    # Live progress from the background run (a fragment polls it every second), then the saved model.
    page.locator("[data-testid=stProgress]").first.wait_for(timeout=60_000)
    done = page.locator("[data-testid=stAlertContentSuccess]", has_text="Saved 1 epoch(s)")
    done.wait_for(timeout=180_000)
    wait_idle(page)
    assert "e2e-digits" in done.inner_text()
    assert page.get_by_role("button", name=re.compile("Use this model")).count() >= 1
    assert page.locator(".st-key-train_start button").is_enabled()
    assert_no_exception(page)
    assert not error_texts(page)
    done.scroll_into_view_if_needed()
    page.mouse.wheel(0, 250)
    page.wait_for_timeout(500)
    screenshot(page, "train")
