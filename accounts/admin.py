from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from .models import Account, Membership, User


class MembershipInline(admin.TabularInline[Membership, Account]):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin[Account]):
    list_display = ["company_name", "country", "currency", "billing_day", "eu_supported"]
    list_filter = ["currency", "eu_supported", "country"]
    search_fields = ["company_name", "memberships__user__email"]
    inlines = [MembershipInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Account | None = None) -> list[str]:
        # Invoices, credits and recurring charges are in the account's currency and follow its
        # billing day: both are chosen when the account is created and not changed here.
        return ["currency", "billing_day"] if obj is not None else []

    fieldsets = [
        (
            _("Company information"),
            {
                "fields": [
                    "company_name",
                    "address_line1",
                    "address_line2",
                    "city",
                    "region",
                    "postal_code",
                    "country",
                    "phone",
                ]
            },
        ),
        (_("Billing"), {"fields": ["currency", "billing_day", "eu_supported"]}),
    ]


class UserCreationForm(AdminUserCreationForm[User]):
    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("email",)


class UserEditForm(UserChangeForm[User]):
    class Meta(UserChangeForm.Meta):
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(BaseUserAdmin[User]):
    form = UserEditForm
    add_form = UserCreationForm
    ordering = ["email"]
    list_display = ["email", "full_name", "is_staff", "is_active", "date_joined"]
    search_fields = ["email", "full_name"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        (_("Personal info"), {"fields": ["full_name"]}),
        (
            _("Permissions"),
            {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]},
        ),
        (_("Important dates"), {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (
            None,
            {"classes": ["wide"], "fields": ["email", "usable_password", "password1", "password2"]},
        ),
    ]
