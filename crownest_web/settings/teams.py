"""Sharing the service: quota defaults, per-run resource defaults and maximums, what a worker
host lends to sandboxes, and the installation's registry (docs/operations.md, "Quotas")."""

from ..env import env_bool, env_int, env_str

# Quota defaults for every user and every team that has no limit of its own (0: no limit).
CROWNEST_QUOTA_MAX_RUNNING = env_int("CROWNEST_QUOTA_MAX_RUNNING", 0)
CROWNEST_QUOTA_TEAM_MAX_RUNNING = env_int("CROWNEST_QUOTA_TEAM_MAX_RUNNING", 0)
CROWNEST_QUOTA_RUN_MINUTES_PER_DAY = env_int("CROWNEST_QUOTA_RUN_MINUTES_PER_DAY", 0)
CROWNEST_QUOTA_RUN_MINUTES_PER_MONTH = env_int("CROWNEST_QUOTA_RUN_MINUTES_PER_MONTH", 0)
CROWNEST_QUOTA_STORED_BYTES = env_int("CROWNEST_QUOTA_STORED_BYTES", 0)
CROWNEST_QUOTA_RETRY_SECONDS = env_int("CROWNEST_QUOTA_RETRY_SECONDS", 60)

# The most one run may ask for in `resources` (a template's or a team's own maximum may be
# lower); a run that asks for nothing gets CROWNEST_SANDBOX_CPUS / _MEMORY / _DISK.
CROWNEST_RUN_MAX_CPUS = float(env_str("CROWNEST_RUN_MAX_CPUS", "4"))
CROWNEST_RUN_MAX_MEMORY_MIB = env_int("CROWNEST_RUN_MAX_MEMORY_MIB", 8192)
CROWNEST_RUN_MAX_DISK_MIB = env_int("CROWNEST_RUN_MAX_DISK_MIB", 16384)

# What this worker host lends to sandboxes at once (0: not bounded, the default: its slots
# alone bound it, and a run's CPUs are a CFS quota that runs may over-commit; set them to
# reserve, e.g. CROWNEST_HOST_CPUS to the host's cores).
CROWNEST_HOST_CPUS = float(env_str("CROWNEST_HOST_CPUS", "0"))
CROWNEST_HOST_MEMORY_MIB = env_int("CROWNEST_HOST_MEMORY_MIB", 0)
CROWNEST_HOST_DISK_MIB = env_int("CROWNEST_HOST_DISK_MIB", 0)

# false: queued runs start in the order they were queued (first in, first out), ignoring
# how many runs their owners and teams already have running (a baseline for bench/fairness.py).
CROWNEST_FAIR_QUEUE = env_bool("CROWNEST_FAIR_QUEUE", True)

# The installation's registry (host:port) that carries template images to every worker host;
# "" keeps images on the engine that built them (one host).
CROWNEST_REGISTRY = env_str("CROWNEST_REGISTRY", "")
