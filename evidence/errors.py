"""The evidence app's domain errors; evidence/apps.py adds them to the API's error table."""

from runs.errors import DomainError


class EvidenceNotReady(DomainError):
    """Evidence (the bundle, the attestation, the event log export) asked for before the run
    ended and its evidence was written: 409 evidence_not_ready."""
