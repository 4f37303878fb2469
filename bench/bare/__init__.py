"""The bare reference: the least a Django app on this machine can do for a sale.

A standalone WSGI app (``bench.bare.wsgi``) with settings of its own (no Tally settings, no
middleware, no DRF, no authentication, persistent database connections) and two tables of
its own in the bench database. Served by the same server with the same worker count and
driven by the same load generator as Tally, it gives the bench a bound measured through the
same HTTP path: Tally's figures are reported as ratios to it (bench/bare/references.py).
"""
