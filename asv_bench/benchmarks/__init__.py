"""asv benchmarks of mcpfast's wire core: framing, jsonrpc, pool, counters, import time."""
