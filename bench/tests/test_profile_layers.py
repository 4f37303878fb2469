"""py-spy's collapsed stacks split into the layers of a request."""

from __future__ import annotations

from bench.profile import FRAMEWORK, SERVER, layer_of, layer_shares

WSGI = "WSGIHandler.__call__ (django/core/handlers/wsgi.py:124)"
SERVER_FRAMES = "run (gunicorn/workers/sync.py:132);handle (gunicorn/workers/sync.py:166)"


def _stack(*frames: str) -> str:
    return ";".join([SERVER_FRAMES, WSGI, *frames])


def test_a_sample_counts_in_the_outermost_layer_on_its_stack() -> None:
    # SQL sent by authentication is authentication's, not the database's
    auth_sql = _stack(
        "ApiKeyAuthentication.authenticate (tally/identity/authentication.py:30)",
        "api_key_get_by_prefix (tally/identity/selectors.py:216)",
        "Cursor.execute (psycopg/cursor.py:97)",
    )
    assert layer_of(auth_sql.split(";")) == "authentication (API key)"
    sale = _stack("charge_sale_create (tally/topups/services.py:120)")
    assert layer_of(sale.split(";")) == "service and its SQL (accounts, transfer, sale)"
    assert layer_of(_stack("resolve (django/urls/resolvers.py:660)").split(";")) == FRAMEWORK
    assert layer_of(SERVER_FRAMES.split(";")) == SERVER


def test_shares_add_up_over_the_samples() -> None:
    collapsed = "\n".join(
        [
            f"{_stack('charge_sale_create (tally/topups/services.py:120)')} 6",
            f"{_stack('RouteClassThrottle.allow_request (tally/platform/ratelimit/throttles.py:40)')} 2",
            f"{SERVER_FRAMES} 2",
        ]
    )
    shares = layer_shares(collapsed)
    assert shares["service and its SQL (accounts, transfer, sale)"] == 0.6
    assert shares["rate limit (Redis)"] == 0.2
    assert shares[SERVER] == 0.2
    assert sum(shares.values()) == 1.0
