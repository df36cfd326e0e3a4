"""Accessibility and layout checks for browser tests: axe-core on the page as it is now, and
no sideways scrolling.

`assert_accessible(page)` runs the axe-core that axe-playwright-python bundles (no network)
in the page and in its frames (the gateway's card fields are a frame), with every rule axe
runs by default, and fails on any violation of any impact, listing each one readably.
"""

from __future__ import annotations

from typing import Any

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

_axe = Axe()

# The elements that stick out on the right, to say what makes a page scroll sideways.
_WIDEST_ELEMENTS = """() => {
  const width = document.documentElement.clientWidth;
  const wide = [];
  for (const element of document.body.querySelectorAll("*")) {
    const box = element.getBoundingClientRect();
    if (box.right > width + 1 && box.width > 0) {
      const name = element.tagName.toLowerCase() + (element.id ? "#" + element.id : "")
        + (element.classList.length ? "." + [...element.classList].join(".") : "");
      wide.push(`${name} (right edge at ${Math.round(box.right)} px)`);
    }
  }
  return wide.slice(0, 8);
}"""


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """What axe-core finds wrong with the page now, frames included."""
    for frame in page.frames:
        if frame is not page.main_frame and not frame.is_detached():
            # axe in the top page tests a frame only where axe runs too.
            frame.evaluate(_axe.axe_script)
    results = _axe.run(page)
    violations: list[dict[str, Any]] = results.response["violations"]
    return violations


def describe_violations(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        lines.append(
            f"- {violation['id']} ({violation['impact']}): {violation['help']}"
            f" <{violation['helpUrl']}>"
        )
        for node in violation["nodes"][:5]:
            target = " >> ".join(str(part) for part in node["target"])
            summary = " ".join(node.get("failureSummary", "").split())
            lines.append(f"    at {target}: {node['html'][:160]}")
            if summary:
                lines.append(f"      {summary[:300]}")
        if len(violation["nodes"]) > 5:
            lines.append(f"    … and {len(violation['nodes']) - 5} more elements")
    return "\n".join(lines)


def accessibility_problems(page: Page) -> str:
    """A readable list of the page's axe-core violations; empty when there are none."""
    violations = axe_violations(page)
    if not violations:
        return ""
    return f"axe-core: {len(violations)} violation(s) on {page.url}\n" + describe_violations(
        violations
    )


def assert_accessible(page: Page) -> None:
    """Fail when axe-core finds any violation, of any impact, on the page as it is now."""
    __tracebackhide__ = True
    page.wait_for_load_state()
    problems = accessibility_problems(page)
    assert not problems, problems


def sideways_scroll_problem(page: Page) -> str:
    """Why the page scrolls sideways at its current width; empty when it does not."""
    scroll_width, inner_width = page.evaluate(
        "[document.documentElement.scrollWidth, window.innerWidth]"
    )
    if scroll_width <= inner_width:
        return ""
    wide = page.evaluate(_WIDEST_ELEMENTS)
    return (
        f"{page.url} scrolls sideways at {inner_width} px: it is {scroll_width} px wide;"
        f" sticking out: {', '.join(wide) or 'nothing found'}"
    )


def assert_no_sideways_scroll(page: Page) -> None:
    __tracebackhide__ = True
    problem = sideways_scroll_problem(page)
    assert not problem, problem
