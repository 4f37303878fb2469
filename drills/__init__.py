"""Fault drills: see drills/__main__.py and docs/reliability.md."""
