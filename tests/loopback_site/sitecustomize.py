"""Loaded at start-up by every Python process the end-to-end tests start (it is first on PYTHONPATH)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.loopback_resolver import install

install()
