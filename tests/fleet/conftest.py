"""Fixtures of the fleet service tests (the harness lives in fleet_harness.py)."""

from fleet_harness import fleet, store

__all__ = ["fleet", "store"]
