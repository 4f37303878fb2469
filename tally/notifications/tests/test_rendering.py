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
from tally.notifications.tests.samples import CONTEXTS, GUEST_ORDER_PLACED, GUEST_ORDER_URL

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
    NotificationKind.ORDER_PLACED: (
        "We received your order ORD-7K2M9QX4PD",
        "Hello Ada Lovelace,\n\n"
        "We received your order ORD-7K2M9QX4PD.\n\n"
        "- 2 x Home cleaning (Standard): 25.00 USD\n"
        "- 1 x Window cleaning: 12.50 USD\n"
        "Total: 37.50 USD\n\n"
        "Please pay by 1 December 2026, 18:30 UTC. An order not paid by then is cancelled.\n\n"
        "Thank you for choosing Tally.\n",
    ),
    NotificationKind.ORDER_CANCELLED: (
        "Your order ORD-7K2M9QX4PD was cancelled",
        "Hello Ada Lovelace,\n\n"
        "Your order ORD-7K2M9QX4PD was cancelled: it was not paid in time.\n\n"
        "Thank you for choosing Tally.\n",
    ),
    NotificationKind.INVOICE_ISSUED: (
        "Your invoice INV-2026-000042 for order ORD-7K2M9QX4PD",
        "Hello Ada Lovelace,\n\n"
        "Thank you for your payment. Your invoice INV-2026-000042 for order ORD-7K2M9QX4PD "
        "is attached as a PDF.\n\n"
        "Total paid: 37.50 USD\n\n"
        "Thank you for choosing Tally.\n",
    ),
    NotificationKind.LOW_CREDIT: (
        "Your prepaid credit is below 50.00 USD",
        "Hello Ada Lovelace,\n\n"
        "Your prepaid credit is now 49.99 USD, below the alert threshold of 50.00 USD you set.\n\n"
        "Request more credit before it runs out: sales and wallet credits need enough of it.\n"
        "We will not write again until your credit is back at or above the threshold and falls "
        "below it once more.\n\n"
        "Thank you for choosing Tally.\n",
    ),
}

HTML_FACTS: dict[str, tuple[str, ...]] = {
    NotificationKind.ACTIVATION_SUCCEEDED: (
        "<strong>Internet 10 GB</strong>",
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
        "<strong>Internet 10 GB</strong>",
        "<strong>31 December 2026, 18:30 UTC</strong>",
        "Renew it before then",
    ),
    NotificationKind.SUBSCRIPTION_RENEWED: (
        "<strong>Internet 10 GB</strong>",
        "<strong>31 December 2026, 18:30 UTC</strong>",
        "<td>15.00 USD</td>",
        "<td>ACT-3JQ8W2ZC5M</td>",
    ),
    NotificationKind.SUBSCRIPTION_EXPIRED: (
        "<strong>Internet 10 GB</strong>",
        "<strong>31 December 2026, 18:30 UTC</strong>",
        "Renew it soon",
    ),
    NotificationKind.ORDER_PLACED: (
        "We received your order <strong>ORD-7K2M9QX4PD</strong>.",
        '2 x Home cleaning <span style="color:#52606d;">(Standard)</span></td>',
        "1 x Window cleaning</td>",
        "<strong>37.50 USD</strong>",
        "Please pay by <strong>1 December 2026, 18:30 UTC</strong>.",
    ),
    NotificationKind.ORDER_CANCELLED: (
        "Your order <strong>ORD-7K2M9QX4PD</strong> was cancelled: it was not paid in time.</p>",
    ),
    NotificationKind.INVOICE_ISSUED: (
        "Your invoice <strong>INV-2026-000042</strong> for order <strong>ORD-7K2M9QX4PD</strong>"
        " is attached as a PDF.</p>",
        "<strong>37.50 USD</strong>",
    ),
    NotificationKind.LOW_CREDIT: (
        "Your prepaid credit is now <strong>49.99 USD</strong>, below the alert threshold of"
        " 50.00 USD you set.</p>",
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


def test_a_guests_order_shows_its_link_and_says_to_keep_it_private() -> None:
    # when
    email = notification_render(kind=NotificationKind.ORDER_PLACED, context=GUEST_ORDER_PLACED)
    # then: the link comes right after the first line, before the items
    assert email.text == (
        "Hello Ada Lovelace,\n\n"
        "We received your order ORD-7K2M9QX4PD.\n\n"
        "Open your order here:\n"
        f"{GUEST_ORDER_URL}\n\n"
        "This link is the only way to open your order without an account. Keep it private: "
        "anyone who has it can see your order.\n\n"
        "- 2 x Home cleaning (Standard): 25.00 USD\n"
        "- 1 x Window cleaning: 12.50 USD\n"
        "Total: 37.50 USD\n\n"
        "Please pay by 1 December 2026, 18:30 UTC. An order not paid by then is cancelled.\n\n"
        "Thank you for choosing Tally.\n"
    )
    assert f'<a href="{GUEST_ORDER_URL}"' in email.html
    assert "the only way to open your order without an account. Keep it private" in email.html
    assert email.html.index(GUEST_ORDER_URL) < email.html.index("Home cleaning")


@pytest.mark.parametrize("order_url", [None, ""])
def test_without_a_link_an_order_email_mentions_none(order_url: str | None) -> None:
    # given: a customer's order (the key absent, None or empty)
    context = {**CONTEXTS[NotificationKind.ORDER_PLACED], "order_url": order_url}
    # when
    emails = [
        notification_render(kind=NotificationKind.ORDER_PLACED, context=context),
        notification_render(
            kind=NotificationKind.ORDER_PLACED, context=CONTEXTS[NotificationKind.ORDER_PLACED]
        ),
    ]
    # then
    for email in emails:
        assert email.text == TEXTS[NotificationKind.ORDER_PLACED][1]
        for part in (email.text, email.html):
            assert "tally.example" not in part
            assert "Open your order" not in part
            assert "Keep it private" not in part
            assert "<a " not in part


def test_order_emails_escape_in_html_what_the_text_part_shows_as_is() -> None:
    # given
    placed = {
        **GUEST_ORDER_PLACED,
        "name": "Tom & <Jerry>",
        "items": [
            {
                "title": "<script>alert(1)</script>",
                "variant": "A&B",
                "quantity": 1,
                "line_total": "37.50",
            }
        ],
        "order_url": 'https://tally.example/orders/1/?access_token=a&b="x"',
    }
    cancelled = {**CONTEXTS[NotificationKind.ORDER_CANCELLED], "reason": "<b>fraud</b> & more"}
    # when
    placed_email = notification_render(kind=NotificationKind.ORDER_PLACED, context=placed)
    cancelled_email = notification_render(kind=NotificationKind.ORDER_CANCELLED, context=cancelled)
    # then
    assert placed_email.text.startswith("Hello Tom & <Jerry>,\n")
    assert "- 1 x <script>alert(1)</script> (A&B): 37.50 USD\n" in placed_email.text
    assert 'https://tally.example/orders/1/?access_token=a&b="x"\n' in placed_email.text
    assert "Hello Tom &amp; &lt;Jerry&gt;," in placed_email.html
    assert "1 x &lt;script&gt;alert(1)&lt;/script&gt;" in placed_email.html
    assert "(A&amp;B)" in placed_email.html
    assert (
        '<a href="https://tally.example/orders/1/?access_token=a&amp;b=&quot;x&quot;"'
        in placed_email.html
    )
    assert "<script>" not in placed_email.html
    assert "<Jerry>" not in placed_email.html
    assert cancelled_email.text == (
        "Hello Ada Lovelace,\n\n"
        "Your order ORD-7K2M9QX4PD was cancelled: <b>fraud</b> & more.\n\n"
        "Thank you for choosing Tally.\n"
    )
    assert "cancelled: &lt;b&gt;fraud&lt;/b&gt; &amp; more.</p>" in cancelled_email.html
    assert "<b>fraud" not in cancelled_email.html


def test_a_stored_order_renders_the_same_as_the_callers() -> None:
    # given: as the database returns it (the moment as ISO 8601 text)
    stored = {**GUEST_ORDER_PLACED, "payment_due_at": "2026-12-01T18:30:00Z"}
    # when
    email = notification_render(kind=NotificationKind.ORDER_PLACED, context=stored)
    # then
    expected = notification_render(kind=NotificationKind.ORDER_PLACED, context=GUEST_ORDER_PLACED)
    assert (email.subject, email.text, email.html) == (
        expected.subject,
        expected.text,
        expected.html,
    )


def _line(**change: Any) -> dict[str, Any]:
    return {
        "title": "Home cleaning",
        "variant": "Standard",
        "quantity": 2,
        "line_total": "25.00",
        **change,
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"items": []}, "order_placed needs context keys ['items']"),
        (
            {"name": "", "total": None, "payment_due_at": None},
            "order_placed needs context keys ['name', 'total', 'payment_due_at']",
        ),
        ({"items": "2 x Home cleaning"}, "order_placed: items must be a list of at least one line"),
        (
            {"items": ["Home cleaning"]},
            "order_placed: items[0] must be a dict, not 'Home cleaning'",
        ),
        ({"items": [_line(), _line(title="")]}, "order_placed: items[1] needs title as text"),
        ({"items": [_line(line_total=25)]}, "order_placed: items[0] needs line_total as text"),
        ({"items": [_line(variant=3)]}, "order_placed: items[0].variant must be text"),
        (
            {"items": [_line(quantity=0)]},
            "order_placed: items[0].quantity must be a positive integer, not 0",
        ),
        (
            {"items": [_line(quantity="2")]},
            "order_placed: items[0].quantity must be a positive integer, not '2'",
        ),
        (
            {"items": [_line(quantity=True)]},
            "order_placed: items[0].quantity must be a positive integer, not True",
        ),
        ({"total": 37.5}, "order_placed: total must be text, not 37.5"),
        (
            {"payment_due_at": "2026-12-01T18:30:00"},
            "order_placed: payment_due_at must be a timezone-aware datetime or ISO 8601 text",
        ),
        (
            {"order_url": "javascript:alert(1)"},
            "order_placed: order_url must be an http(s) URL, not 'javascript:alert(1)'",
        ),
        (
            {"order_url": "/orders/1/?access_token=tok"},
            "order_placed: order_url must be an http(s) URL, not '/orders/1/?access_token=tok'",
        ),
    ],
)
def test_an_incomplete_order_context_is_refused(change: dict[str, Any], message: str) -> None:
    context = {
        key: value for key, value in {**GUEST_ORDER_PLACED, **change}.items() if value is not None
    }
    with pytest.raises(NotificationContextError) as raised:
        notification_context_check(kind=NotificationKind.ORDER_PLACED, context=context)
    assert str(raised.value) == message


def test_a_cancelled_order_needs_its_reason() -> None:
    context = {**CONTEXTS[NotificationKind.ORDER_CANCELLED], "reason": ""}
    with pytest.raises(NotificationContextError) as raised:
        notification_context_check(kind=NotificationKind.ORDER_CANCELLED, context=context)
    assert str(raised.value) == "order_cancelled needs context keys ['reason']"


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
