"""Sharing the service between teams: quotas and usage, fair dispatch of queued runs, per-run
resources and the capacity each worker host lends (docs/architecture.md, "Scheduling")."""
