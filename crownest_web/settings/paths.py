"""Where the installation lives, shared by the parts."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]
VAR_DIR = Path(os.environ.get("CROWNEST_VAR_DIR", BASE_DIR / "var"))
MIB = 1024 * 1024
