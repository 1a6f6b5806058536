"""Safe settings: no debug, no fixed secret, deploy checks clean for a production-style setup."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def manage(*args, **env) -> subprocess.CompletedProcess:
    base = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")}
    if "DATABASE_URL" in os.environ:
        base["DATABASE_URL"] = os.environ["DATABASE_URL"]
    return subprocess.run(
        [sys.executable, "manage.py", *args, *(["--no-imports"] if args[0] == "shell" else [])],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_without_a_secret_nothing_starts(tmp_path):
    result = manage("check", CROWNEST_SECRET_KEY_FILE=str(tmp_path / "missing"))
    assert result.returncode != 0
    assert "Set CROWNEST_SECRET_KEY" in result.stderr


def test_debug_is_off_unless_asked_for(tmp_path):
    key = tmp_path / "key"
    key.write_text(secrets.token_urlsafe(50))
    code = "from django.conf import settings; print(settings.DEBUG, settings.SECRET_KEY[:6])"
    off = manage("shell", "-c", code, CROWNEST_SECRET_KEY_FILE=str(key))
    assert off.stdout.split() == ["False", key.read_text()[:6]], off.stderr
    on = manage("shell", "-c", code, CROWNEST_SECRET_KEY_FILE=str(key), CROWNEST_DEBUG="true")
    assert on.stdout.split()[0] == "True", on.stderr


def test_hosts_and_origins_come_from_the_environment(tmp_path):
    code = (
        "from django.conf import settings; "
        "print(settings.ALLOWED_HOSTS, settings.CSRF_TRUSTED_ORIGINS)"
    )
    result = manage(
        "shell",
        "-c",
        code,
        CROWNEST_SECRET_KEY=secrets.token_urlsafe(50),
        CROWNEST_ALLOWED_HOSTS="runs.example.com, api.example.com",
        CROWNEST_CSRF_TRUSTED_ORIGINS="https://runs.example.com",
    )
    assert result.stdout.strip() == (
        "['runs.example.com', 'api.example.com'] ['https://runs.example.com']"
    ), result.stderr


def test_check_deploy_is_clean_for_a_production_configuration():
    production = {
        "CROWNEST_SECRET_KEY": secrets.token_urlsafe(50),
        "CROWNEST_ALLOWED_HOSTS": "runs.example.com",
        "CROWNEST_CSRF_TRUSTED_ORIGINS": "https://runs.example.com",
        "CROWNEST_HTTPS": "true",
    }
    result = manage("check", "--deploy", "--fail-level", "WARNING", **production)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
    # and the same check fails loudly when TLS settings are forgotten
    plain = manage(
        "check", "--deploy", "--fail-level", "WARNING", **{**production, "CROWNEST_HTTPS": "false"}
    )
    assert plain.returncode != 0 and "security.W008" in plain.stderr + plain.stdout


def test_a_visibility_timeout_below_the_longest_run_is_an_error():
    """Redis would hand a still-running run's task to a second worker."""
    from django.core import checks
    from django.test import override_settings

    with override_settings(
        CROWNEST_MAX_TIMEOUT=7200, CELERY_BROKER_TRANSPORT_OPTIONS={"visibility_timeout": 3600}
    ):
        assert "crownest.E001" in [e.id for e in checks.run_checks()]
    with override_settings(
        CROWNEST_MAX_TIMEOUT=3600, CELERY_BROKER_TRANSPORT_OPTIONS={"visibility_timeout": 7200}
    ):
        assert "crownest.E001" not in [e.id for e in checks.run_checks()]
