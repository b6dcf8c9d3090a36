"""Where the tests' data files are."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
ECB_SAMPLE = DATA / "eurofxref-sample.csv"
