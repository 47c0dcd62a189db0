"""Which implementation the wire selectors pick, decided once at import.

``MCPFAST_NO_EXTENSIONS`` set to anything but "" or "0" forces the pure-Python twins; on
interpreters other than CPython the compiled modules are never tried.
"""

from __future__ import annotations

import os
import sys

NO_EXTENSIONS: bool = os.environ.get("MCPFAST_NO_EXTENSIONS", "") not in ("", "0") or (
    sys.implementation.name != "cpython"
)
