"""Driving a page with the keyboard alone: Tab and Shift+Tab to a control, as a person who
uses no mouse does, reading where the focus is from the page (and from inside the card
fields' frame, which holds the focus when one of its fields has it)."""

from __future__ import annotations

from playwright.sync_api import Page

# What the focused element is called: its label, else its accessible text.
_DESCRIBE = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return {tag: "BODY", name: ""};
  const label = el.labels && el.labels.length ? el.labels[0].innerText : "";
  const name = label || el.getAttribute("aria-label") || el.innerText || el.value || "";
  return {tag: el.tagName, id: el.id, name: name.replace(/\\s+/g, " ").replace(/ \\*$/, "").trim()};
}"""


def focused(page: Page) -> str:
    """The name of what has the focus; inside the card fields' frame, "frame: <name>"."""
    here = page.evaluate(_DESCRIBE)
    if here["tag"] == "IFRAME":
        frame = page.frame_locator(f"#{here['id']}").locator(":root")
        inner = frame.evaluate(f"(_) => ({_DESCRIBE})()")
        return f"frame: {inner['name']}"
    return str(here["name"])


def tab_to(page: Page, name: str, *, backwards: bool = False, limit: int = 40) -> int:
    """Press Tab (or Shift+Tab) until the focus is on `name`; returns how many presses."""
    key = "Shift+Tab" if backwards else "Tab"
    seen = []
    for presses in range(1, limit + 1):
        page.keyboard.press(key)
        now = focused(page)
        if now == name:
            return presses
        seen.append(now)
    raise AssertionError(f"{name!r} not reached with {key}; the focus went to {seen}")
