from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower, Now
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_countries.fields import CountryField

from .currencies import CURRENCY_CHOICES
from .sign_in import sign_in_key


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra: Any) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra)

    def with_email(self, email: str) -> models.QuerySet[User]:
        """The user (none or one) whose address `email` means: found by exactly the key the
        sign-in lockout counts (not `iexact`, whose upper-casing makes "ı" match "i" and so
        would give one user several keys). Every "does this address have a user" asks this."""
        return self.alias(email_key=Lower("email")).filter(email_key=sign_in_key(email))

    def get_by_natural_key(self, username: str | None) -> User:
        # Email addresses are stored lower-cased; sign-in ignores case and surrounding spaces.
        return self.with_email(username or "").get()


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in by email: a customer (through memberships) or staff."""

    email = models.EmailField(_("email address"), unique=True)
    full_name = models.CharField(_("full name"), max_length=150, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    is_staff = models.BooleanField(
        _("staff status"),
        default=False,
        help_text=_("Whether the user can sign in to the admin site."),
    )
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)

    objects: ClassVar[UserManager] = UserManager()

    EMAIL_FIELD = "email"
    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = self.__class__.objects.normalize_email(self.email).lower()

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email


class PostalAddress(models.Model):
    """A postal address: a company's, or the billing address of a card."""

    ADDRESS_FIELDS: ClassVar[tuple[str, ...]] = (
        "address_line1",
        "address_line2",
        "city",
        "region",
        "postal_code",
        "country",
    )

    address_line1 = models.CharField(_("address"), max_length=200)
    address_line2 = models.CharField(_("address line 2"), max_length=200, blank=True)
    city = models.CharField(_("city"), max_length=100)
    region = models.CharField(_("state or province"), max_length=100, blank=True)
    postal_code = models.CharField(_("postal code"), max_length=20, blank=True)
    country = CountryField(_("country"))

    class Meta:
        abstract = True

    def address_values(self) -> dict[str, str]:
        return {name: str(getattr(self, name) or "") for name in self.ADDRESS_FIELDS}

    def address_lines(self) -> list[str]:
        """The address as printed: street lines, then city, region and code, then country."""
        lines = [
            self.address_line1,
            self.address_line2,
            " ".join(part for part in (self.city, self.region, self.postal_code) if part),
            str(self.country.name),
        ]
        return [line for line in lines if line]


class TaxIdKind(models.TextChoices):
    """The kinds of tax ID an account may give (Invoice.buyer_tax_id_kind keeps the value)."""

    EU_VAT = "eu_vat", _("EU VAT number")
    GB_VAT = "gb_vat", _("UK VAT number")
    CN_USCC = "cn_uscc", _("Unified social credit code (China)")
    OTHER = "other", _("Other tax ID")


class TaxIdStatus(models.TextChoices):
    """What is known of an account's tax ID: valid (format and check digits, and VIES's
    confirmation when VIES_CHECK is on), invalid (VIES says it is not registered), or not
    yet confirmed (VIES could not answer; checked again by a periodic task)."""

    VALID = "valid", _("Valid")
    INVALID = "invalid", _("Invalid")
    UNCONFIRMED = "unconfirmed", _("Not yet confirmed")


class Account(PostalAddress):
    """A customer: the company that is billed, with the details its invoices carry."""

    company_name = models.CharField(_("company name"), max_length=200)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    currency = models.CharField(
        _("billing currency"), max_length=3, choices=CURRENCY_CHOICES, default="USD"
    )
    billing_day = models.PositiveSmallIntegerField(
        _("billing day of month"),
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(28)],
        help_text=_("The day of the month on which recurring invoices are issued (1–28)."),
    )
    eu_supported = models.BooleanField(
        _("EU Supported"),
        default=False,
        help_text=_("Maintenance and support questions are handled by the European team."),
    )
    language = models.CharField(
        _("language"),
        max_length=10,
        choices=settings.LANGUAGES,
        default=settings.LANGUAGE_CODE,
        help_text=_("The language of the account's emails and invoice documents."),
    )
    require_two_factor = models.BooleanField(
        _("require two-factor sign-in"),
        default=False,
        # Also in the database, so code that does not know the column yet (the previous
        # release during a deploy, data migrations of other apps) can still add accounts.
        db_default=False,
        help_text=_("Every user of the account signs in with a second factor."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    # The buyer's tax ID printed on its invoices; only a valid EU VAT number lets an EU
    # seller reverse-charge (invoices/tax.py). `tax_id_evidence` keeps VIES's last answer
    # (valid, requestDate, requestIdentifier: the consultation number, or the error).
    tax_id_kind = models.CharField(
        _("tax ID kind"), max_length=16, choices=TaxIdKind.choices, blank=True, db_default=""
    )
    tax_id = models.CharField(_("tax ID"), max_length=64, blank=True, db_default="")
    invoice_title = models.CharField(
        _("invoice title"),
        max_length=200,
        blank=True,
        db_default="",
        help_text=_("The buyer's name as a Chinese fapiao states it (发票抬头)."),
    )
    tax_id_status = models.CharField(
        _("tax ID status"), max_length=16, choices=TaxIdStatus.choices, blank=True, db_default=""
    )
    tax_id_checked_at = models.DateTimeField(_("tax ID checked"), null=True, blank=True)
    tax_id_evidence = models.JSONField(
        _("tax ID evidence"),
        default=dict,
        blank=True,
        db_default=models.Value({}, models.JSONField()),
    )

    members = models.ManyToManyField(
        User, through="Membership", related_name="accounts", verbose_name=_("users")
    )

    class Meta:
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
        ordering = ["company_name", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(billing_day__gte=1, billing_day__lte=28),
                name="accounts_account_billing_day_range",
            ),
        ]

    def __str__(self) -> str:
        return self.company_name

    def billing_emails(self) -> list[str]:
        """Who hears about the account's money: its owners and billing users."""
        return sorted(
            self.memberships.filter(
                role__in=[Membership.Role.OWNER, Membership.Role.BILLING]
            ).values_list("user__email", flat=True)
        )

    @staticmethod
    def billing_emails_of(account_ids: Iterable[int]) -> dict[int, list[str]]:
        """`billing_emails` of many accounts at once (one query), by account id."""
        found: dict[int, list[str]] = {}
        for account_id, email in (
            Membership.objects.filter(
                account_id__in=list(account_ids),
                role__in=[Membership.Role.OWNER, Membership.Role.BILLING],
            )
            .order_by("user__email")
            .values_list("account_id", "user__email")
        ):
            found.setdefault(account_id, []).append(email)
        return found


class Membership(models.Model):
    """A user's place in an account, and what the role lets them do there."""

    class Role(models.TextChoices):
        OWNER = "owner", _("Owner")
        BILLING = "billing", _("Billing")
        VIEWER = "viewer", _("Viewer")

    user = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("user")
    )
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("account")
    )
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(_("added"), auto_now_add=True)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        ordering = ["account_id", "user__email"]
        constraints = [
            models.UniqueConstraint(fields=["user", "account"], name="accounts_membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.account} ({self.get_role_display()})"

    @property
    def can_manage_account(self) -> bool:
        """Owners edit the company information and the account's options."""
        return self.role == self.Role.OWNER

    @property
    def can_pay(self) -> bool:
        """Owners and billing users manage cards and make payments; viewers only look."""
        return self.role in (self.Role.OWNER, self.Role.BILLING)


class Invitation(models.Model):
    """An owner's invitation of someone, by email, to join the account with a role. The
    link's token is kept only as its hash; it is good once, until it expires."""

    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="invitations", verbose_name=_("account")
    )
    email = models.EmailField(_("email address"))
    role = models.CharField(_("role"), max_length=16, choices=Membership.Role.choices)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(
        User, on_delete=models.PROTECT, related_name="+", verbose_name=_("invited by")
    )
    created_at = models.DateTimeField(_("invited"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires"))
    accepted_at = models.DateTimeField(_("accepted"), null=True, blank=True)
    accepted_by = models.ForeignKey(
        User,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("accepted by"),
    )
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["account", "email"], name="accounts_invitation_email")]

    def __str__(self) -> str:
        return f"{self.email} → {self.account} ({self.get_role_display()})"

    def is_open(self, now: datetime) -> bool:
        """Not accepted, not revoked, not expired: the link still works."""
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > now


class AuditEntry(models.Model):
    """One change of money or approval state: who did what, to which object, and when.

    Actions are dotted names ("invoices.invoice.issued"); entries are only ever added.
    """

    account = models.ForeignKey(
        Account,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="audit_entries",
        verbose_name=_("account"),
    )
    actor = models.ForeignKey(
        User,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
        help_text=_("Empty for the system (a scheduled task)."),
    )
    action = models.CharField(_("action"), max_length=100)
    object_type = models.CharField(_("object type"), max_length=100)
    object_id = models.CharField(_("object ID"), max_length=64)
    data = models.JSONField(_("data"), default=dict, blank=True)
    created_at = models.DateTimeField(_("when"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object")]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type}:{self.object_id}"


class OutboundEmail(models.Model):
    """An email waiting to be sent, written in the same transaction as what caused it.

    A worker sends it (with retries) after the commit; `key` makes queuing the same message
    twice a no-op, so a retried task never emails twice.
    """

    class State(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    key = models.CharField(_("key"), max_length=200, unique=True)
    account = models.ForeignKey(
        Account,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="emails",
        verbose_name=_("account"),
    )
    to = models.JSONField(_("to"), default=list)
    subject = models.CharField(_("subject"), max_length=255)
    body = models.TextField(_("body"))
    # The same message as HTML, sent as an alternative to the text.
    html_body = models.TextField(_("HTML body"), blank=True)
    # [{"kind": "<app>.<what>", "id": <pk>, "filename": ..., "language": ...}]: attachments
    # are produced when sending by the provider registered for their kind.
    attachments = models.JSONField(_("attachments"), default=list, blank=True)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.QUEUED)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    # When the next send is due: at once when written, then after each failed attempt the
    # retry's back-off. A queued email still unsent a while after this lost its task (Redis
    # was down or lost its queue) and the sweep sends it again.
    # Due at once when written; also in the database, for rows written by code that does not
    # know the column (the previous release during a deploy).
    next_attempt_at = models.DateTimeField(
        _("next attempt"), default=timezone.now, db_default=Now()
    )
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)

    class Meta:
        verbose_name = _("outbound email")
        verbose_name_plural = _("outbound emails")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["state", "created_at"], name="outbox_queued"),
            models.Index(fields=["state", "next_attempt_at"], name="outbox_due"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} → {', '.join(self.to)}"
