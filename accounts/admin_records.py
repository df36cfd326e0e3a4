"""Admin pages for records nobody edits by hand: issued invoices, payments, gateway calls.

Staff look at them and act through the services (issue a credit, refund, approve); the
admin's own add, change and delete stay closed, for a model page and an inline alike.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest


class RecordAdminMixin:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
