"""Shared pytest configuration: deterministic, small, CPU-only."""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "2")
