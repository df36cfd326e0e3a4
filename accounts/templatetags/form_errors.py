"""`{% error_summary form other_form %}`: what is wrong with a submitted form, at its top.

The summary takes the focus when the page loads, so that a keyboard or screen-reader user
lands on what to correct instead of on the page's body, and links each error to its field.
"""

from __future__ import annotations

from dataclasses import dataclass

from django import forms, template
from django.utils.translation import gettext as _

register = template.Library()


@dataclass(frozen=True)
class Problem:
    text: str
    # The id of what to correct, or "" for an error of the whole form.
    target: str = ""


def form_problems(form: forms.BaseForm) -> list[Problem]:
    """The form's errors in the order of its fields, each with the element that corrects it.

    A hidden field's error points where the form says (`error_anchors`: the card fields'
    frame for the card token, say), or nowhere."""
    if not form.is_bound or not form.errors:
        return []
    problems = [Problem(str(error)) for error in form.non_field_errors()]
    anchors: dict[str, str] = getattr(form, "error_anchors", {})
    for field in form:
        for error in field.errors:
            if field.is_hidden:
                problems.append(Problem(str(error), anchors.get(field.name, "")))
            else:
                text = _("%(field)s: %(error)s") % {"field": field.label, "error": error}
                problems.append(Problem(text, field.id_for_label or field.auto_id or ""))
    return problems


@register.inclusion_tag("partials/error_summary.html")
def error_summary(
    *forms_: forms.BaseForm | None,
    title: str = "",
    problem: str = "",
    problem_target: str = "",
    testid: str = "form-errors",
) -> dict[str, object]:
    """The summary of the forms' errors; `problem` is one more (a declined payment, say) that
    comes first, with `title` instead of the usual heading."""
    problems = [Problem(problem, problem_target)] if problem else []
    seen: set[str] = set()
    for form in forms_:
        if form is None:
            continue
        for item in form_problems(form):
            # Two forms of one page may say the same (both read the same hidden field).
            if item.text not in seen:
                seen.add(item.text)
                problems.append(item)
    return {"problems": problems, "title": title, "testid": testid}


@register.filter
def marked_required(field: forms.BoundField) -> bool:
    """Whether the field is marked required: required by the form, or required for the
    browser although the form decides in `clean` (a card's address, unless the company's)."""
    return bool(field.field.required or field.field.widget.attrs.get("required"))
