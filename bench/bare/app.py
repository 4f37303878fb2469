"""The bare reference app's views and URLs: a sale, a balance read and a ping.

A sale is one transaction: the guarded ``UPDATE … WHERE credit >= amount RETURNING`` on the
account, then one ``INSERT`` of the sale row; 201 with the sale, or 422 when the guard
refuses. Plain SQL through Django's connection, JSON in and out, nothing else.
"""

from __future__ import annotations

import json

from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.http import require_GET, require_POST

SALE_SQL = (
    "UPDATE bare_account SET credit = credit - %s WHERE id = %s AND credit >= %s RETURNING credit"
)
INSERT_SQL = (
    "INSERT INTO bare_sale (account_id, amount, phone) VALUES (%s, %s, %s) RETURNING id, created_at"
)


@require_POST
def sale(request: HttpRequest, account_id: int) -> HttpResponse:
    try:
        body = json.loads(request.body)
        amount, phone = body["amount"], body["phone"]
    except (ValueError, KeyError, TypeError):
        return JsonResponse({"code": "invalid"}, status=400)
    if not isinstance(amount, int) or amount <= 0 or not isinstance(phone, str):
        return JsonResponse({"code": "invalid"}, status=400)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(SALE_SQL, [amount, account_id, amount])
        updated = cursor.fetchone()
        if updated is None:
            return JsonResponse({"code": "insufficient_funds"}, status=422)
        cursor.execute(INSERT_SQL, [account_id, amount, phone])
        sale_id, created_at = cursor.fetchone()
    return JsonResponse(
        {
            "id": sale_id,
            "account": account_id,
            "amount": amount,
            "phone": phone,
            "credit": updated[0],
            "created_at": created_at.isoformat(),
        },
        status=201,
    )


@require_GET
def balance(request: HttpRequest, account_id: int) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT credit FROM bare_account WHERE id = %s", [account_id])
        row = cursor.fetchone()
    if row is None:
        return JsonResponse({"code": "not_found"}, status=404)
    return JsonResponse({"account": account_id, "credit": row[0]})


@require_GET
def ping(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("sale/<int:account_id>/", sale),
    path("balance/<int:account_id>/", balance),
    path("ping/", ping),
]
