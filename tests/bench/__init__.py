"""pytest-benchmark suites of the wire core (compiled and pure twins side by side)."""
