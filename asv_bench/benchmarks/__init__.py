"""asv benchmarks of mcpfast's wire core: framing, jsonrpc, counters, import time."""
