"""What each kind of notification says, and which contexts it refuses."""

from __future__ import annotations

from typing import Any

import pytest

from tally.notifications.models import NotificationKind
from tally.notifications.rendering import (
    NotificationContextError,
    notification_context_check,
    notification_render,
)
from tally.notifications.tests.samples import CONTEXTS

TEXTS: dict[str, tuple[str, str]] = {
    NotificationKind.ACTIVATION_SUCCEEDED: (
        "Internet 10 GB is active",
        "Hello Ada Lovelace,\n\n"
        "Your Internet 10 GB is active until 31 December 2026, 18:30 UTC.\n\n"
        "Paid: 15.00 USD\n"
        "Reference: ACT-7K2M9QX4PD\n\n"
        "Thank you for choosing Tally.\n",
    ),
    NotificationKind.ACTIVATION_FAILED: (
        "We could not activate Internet 10 GB",
        "Hello Ada Lovelace,\n\n"
        "We could not activate your Internet 10 GB: the provider refused to activate it.\n\n"
        "You were not charged: the 15.00 USD set aside on your wallet is available again.\n"
        "Reference: ACT-7K2M9QX4PD\n\n"
        "Thank you for choosing Tally.\n",
    ),
    NotificationKind.SUBSCRIPTION_EXPIRING: (
        "Internet 10 GB expires on 31 December 2026",
        "Hello Ada Lovelace,\n\n"
        "Your Internet 10 GB expires on 31 December 2026, 18:30 UTC.\n"
        "Renew it before then to keep your service.\n\n"
        "Thank you for choosing Tally.\n",
    ),
    NotificationKind.SUBSCRIPTION_RENEWED: (
        "Internet 10 GB renewed",
        "Hello Ada Lovelace,\n\n"
        "Your Internet 10 GB was renewed and is active until 31 December 2026, 18:30 UTC.\n\n"
        "Paid: 15.00 USD\n"
        "Reference: ACT-3JQ8W2ZC5M\n\n"
        "Thank you for choosing Tally.\n",
    ),
    NotificationKind.SUBSCRIPTION_EXPIRED: (
        "Internet 10 GB has expired",
        "Hello Ada Lovelace,\n\n"
        "Your Internet 10 GB expired on 31 December 2026, 18:30 UTC.\n"
        "Renew it soon, or buy a new offer, to get your service back.\n\n"
        "Thank you for choosing Tally.\n",
    ),
}

HTML_FACTS: dict[str, tuple[str, ...]] = {
    NotificationKind.ACTIVATION_SUCCEEDED: (
        "<strong>31 December 2026, 18:30 UTC</strong>",
        "<td>15.00 USD</td>",
        "<td>ACT-7K2M9QX4PD</td>",
    ),
    NotificationKind.ACTIVATION_FAILED: (
        "<strong>Internet 10 GB</strong>: the provider refused to activate it.</p>",
        "the 15.00 USD set aside",
        "<td>ACT-7K2M9QX4PD</td>",
    ),
    NotificationKind.SUBSCRIPTION_EXPIRING: (
        "<strong>31 December 2026, 18:30 UTC</strong>",
        "Renew it before then",
    ),
    NotificationKind.SUBSCRIPTION_RENEWED: (
        "<strong>31 December 2026, 18:30 UTC</strong>",
        "<td>15.00 USD</td>",
        "<td>ACT-3JQ8W2ZC5M</td>",
    ),
    NotificationKind.SUBSCRIPTION_EXPIRED: (
        "<strong>31 December 2026, 18:30 UTC</strong>",
        "Renew it soon",
    ),
}


def test_every_kind_has_its_texts() -> None:
    assert set(TEXTS) == set(NotificationKind.values) == set(CONTEXTS)


@pytest.mark.parametrize("kind", NotificationKind.values)
def test_each_kind_renders_its_subject_text_and_html(kind: str) -> None:
    # when
    email = notification_render(kind=kind, context=CONTEXTS[kind])
    # then
    assert (email.subject, email.text) == TEXTS[kind]
    assert email.html.startswith("<!DOCTYPE html>")
    assert f"<title>{TEXTS[kind][0]}</title>" in email.html
    assert "Hello Ada Lovelace," in email.html
    assert "<strong>Internet 10 GB</strong>" in email.html
    for fact in HTML_FACTS[kind]:
        assert fact in email.html


def test_stored_context_renders_the_same_as_the_callers() -> None:
    # given: the context as the database returns it (the moment as ISO 8601 text)
    stored = {
        **CONTEXTS[NotificationKind.SUBSCRIPTION_RENEWED],
        "expires_at": "2026-12-31T18:30:00Z",
    }
    # when
    email = notification_render(kind=NotificationKind.SUBSCRIPTION_RENEWED, context=stored)
    # then
    assert email.text == TEXTS[NotificationKind.SUBSCRIPTION_RENEWED][1]


def test_a_reminder_for_an_auto_renewing_subscription_says_so() -> None:
    context = {**CONTEXTS[NotificationKind.SUBSCRIPTION_EXPIRING], "auto_renew": True}
    email = notification_render(kind=NotificationKind.SUBSCRIPTION_EXPIRING, context=context)
    assert email.text == (
        "Hello Ada Lovelace,\n\n"
        "Your Internet 10 GB expires on 31 December 2026, 18:30 UTC.\n"
        "It renews automatically then, if your wallet holds enough funds.\n\n"
        "Thank you for choosing Tally.\n"
    )


def test_html_escapes_what_the_text_part_shows_as_is() -> None:
    # given
    context = {**CONTEXTS[NotificationKind.ACTIVATION_FAILED], "customer_name": "Tom & <Jerry>"}
    # when
    email = notification_render(kind=NotificationKind.ACTIVATION_FAILED, context=context)
    # then
    assert email.text.startswith("Hello Tom & <Jerry>,\n")
    assert "Hello Tom &amp; &lt;Jerry&gt;," in email.html
    assert "<Jerry>" not in email.html


@pytest.mark.parametrize(
    ("kind", "change", "message"),
    [
        (
            NotificationKind.ACTIVATION_FAILED,
            {"failure_reason": None},
            "activation_failed needs context keys ['failure_reason']",
        ),
        (
            NotificationKind.ACTIVATION_SUCCEEDED,
            {"price": "", "reference": None},
            "activation_succeeded needs context keys ['price', 'reference']",
        ),
        (
            NotificationKind.SUBSCRIPTION_EXPIRED,
            {"expires_at": "next week"},
            "subscription_expired: expires_at must be a timezone-aware datetime or ISO 8601 text",
        ),
        (
            NotificationKind.SUBSCRIPTION_EXPIRING,
            {"expires_at": "2026-12-31T18:30:00"},
            "subscription_expiring: expires_at must be a timezone-aware datetime or ISO 8601 text",
        ),
        (
            NotificationKind.SUBSCRIPTION_RENEWED,
            {"price": 1500},
            "subscription_renewed: price must be text, not 1500",
        ),
    ],
)
def test_an_incomplete_context_is_refused(kind: str, change: dict[str, Any], message: str) -> None:
    context = {
        key: value for key, value in {**CONTEXTS[kind], **change}.items() if value is not None
    }
    with pytest.raises(NotificationContextError) as raised:
        notification_context_check(kind=kind, context=context)
    assert str(raised.value) == message
