"""Live output, from the worker's flushes to the web processes' viewers (docs/architecture.md,
"Live output"; docs/operations.md, "Limits")."""

from ..env import env_int, env_str

# The least gap between two flushes of a run's output: output read after a quiet spell is
# written at once, a flood in batches of what arrived during the previous commit and this gap.
CROWNEST_FLUSH_SECONDS = float(env_str("CROWNEST_FLUSH_SECONDS", "0.005"))
# Event JSON each web process keeps per followed run for its live viewers; a live viewer that
# falls further behind is cut off to resume from its last seq (slow_viewer).
CROWNEST_STREAM_WINDOW_BYTES = env_int("CROWNEST_STREAM_WINDOW_BYTES", 8 * 1024 * 1024)
# The most one viewer is handed at a time: what it holds beyond the shared window.
CROWNEST_STREAM_SEND_BYTES = env_int("CROWNEST_STREAM_SEND_BYTES", 256 * 1024)
# SSE streams a web process sets up at once (each on a database connection closed before it
# streams): bounds the connections when a crowd of viewers opens together.
CROWNEST_STREAM_SETUPS = env_int("CROWNEST_STREAM_SETUPS", 4)
