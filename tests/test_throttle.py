"""Sign-in throttling (django-axes: lockout per username and address), bad-token throttling (429
`throttled` with Retry-After for an address that keeps sending bad tokens), and Django's
password validators."""

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import password_validation
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.utils import timezone
from rest_framework.test import APIClient

from .helpers import client_for, error_of

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


@pytest.fixture(autouse=True)
def clean_counts():
    cache.clear()  # the bad-token counts of earlier tests
    yield
    cache.clear()


@pytest.fixture
def limits(settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.CROWNEST_BAD_TOKEN_RATE = "5/min"


def sign_in(client, password, username="alice", address="10.0.0.1"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_the_sign_in_page_states_the_rule(client, limits, settings):
    page = client.get(LOGIN).content.decode()
    assert "After 3 failed sign-ins for one username from one address" in page
    assert "paused for 15 minutes" in page
    settings.AXES_COOLOFF_TIME = timezone.timedelta(hours=1)
    assert "paused for 1 hour." in client.get(LOGIN).content.decode()


def test_lockout_then_the_right_password_is_refused_until_the_cooloff(client, user, limits):
    for _ in range(2):
        resp = sign_in(client, "wrong")
        assert resp.status_code == 200 and "did not match" in resp.content.decode()
    locked = sign_in(client, "wrong")  # the third failure locks the pair
    assert locked.status_code == 429
    assert int(locked["Retry-After"]) == 900
    text = locked.content.decode()
    assert "Too many failed sign-ins for this username from your address" in text
    assert "paused for 15 minutes" in text
    # The right password now: refused, the same page, nobody signed in.
    resp = sign_in(client, "pw-alice")
    assert resp.status_code == 429 and "Too many failed sign-ins" in resp.content.decode()
    assert not signed_in(client)
    # Another address, and another username from this one, are not locked.
    assert sign_in(client, "pw-alice", address="10.0.0.2").status_code == 302
    client.logout()
    assert sign_in(client, "nope", username="bob").status_code == 200
    # Once the cool-off has passed (the attempts made 16 minutes ago), the password works.
    earlier = timezone.now() - timezone.timedelta(minutes=16)
    AccessAttempt.objects.update(attempt_time=earlier)
    resp = sign_in(client, "pw-alice")
    assert resp.status_code == 302 and signed_in(client)


def test_a_success_clears_the_failures(client, user, limits):
    for _ in range(2):
        sign_in(client, "wrong")
    assert sign_in(client, "pw-alice").status_code == 302
    client.logout()
    for _ in range(2):
        assert sign_in(client, "wrong").status_code == 200  # counting from zero again


def test_the_admin_sign_in_is_throttled_too(client, django_user_model, limits):
    django_user_model.objects.create_superuser("root", password="pw-root-long")
    for _ in range(3):
        client.post("/admin/login/", {"username": "root", "password": "x"}, REMOTE_ADDR="10.9.0.1")
    resp = client.post(
        "/admin/login/", {"username": "root", "password": "pw-root-long"}, REMOTE_ADDR="10.9.0.1"
    )
    assert resp.status_code == 429 and "_auth_user_id" not in client.session


def bad(address="10.1.0.1", token="cn_not-a-token"):
    api = APIClient(REMOTE_ADDR=address)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api


def test_bad_tokens_from_one_address_get_429(api, limits, user):
    for _ in range(5):
        resp = bad().get("/api/v1/workspace-runs")
        assert resp.status_code == 401 and error_of(resp)["code"] == "not_authenticated"
    resp = bad().get("/api/v1/workspace-runs")
    assert resp.status_code == 429, resp.content
    err = error_of(resp)
    assert err["code"] == "throttled" and err["details"]["reason"] == "bad_credentials"
    retry = int(resp["Retry-After"])
    assert 1 <= retry <= 60 and err["details"]["retryAfterSeconds"] == retry
    assert "invalid or revoked token" in err["message"]
    # Refused before the token is looked up: a good token from that address waits as well.
    good = client_for(user)
    assert good.get("/api/v1/workspace-runs", REMOTE_ADDR="10.1.0.1").status_code == 429
    # The SSE stream counts and refuses the same way.
    stream = bad().get("/api/v1/workspace-runs/wr_x/events/stream")
    assert stream.status_code == 429 and stream["Retry-After"]
    # Other addresses, and requests without credentials, are not affected.
    assert bad(address="10.1.0.2").get("/api/v1/templates").status_code == 401
    assert api.get("/api/v1/templates").status_code == 200
    assert APIClient(REMOTE_ADDR="10.1.0.1").get("/api/v1/templates").status_code == 401


def test_the_bad_token_window_frees_again(limits, monkeypatch):
    import runs.token_guard as guard

    now = [1_000_000.0]
    monkeypatch.setattr(guard.time, "time", lambda: now[0])
    codes = [bad().get("/api/v1/templates").status_code for _ in range(6)]
    assert codes == [401] * 5 + [429]
    now[0] += 61
    assert bad().get("/api/v1/templates").status_code == 401


def test_missing_credentials_do_not_count(limits):
    anonymous = APIClient(REMOTE_ADDR="10.2.0.1")
    assert {anonymous.get("/api/v1/templates").status_code for _ in range(10)} == {401}
    assert bad(address="10.2.0.1").get("/api/v1/templates").status_code == 401


def test_password_validators_are_on(user):
    for weak, why in (
        ("short-one", "at least 12 characters"),
        ("123456789012", "entirely numeric"),
        ("password1234", "too common"),
    ):
        with pytest.raises(ValidationError) as info:
            password_validation.validate_password(weak, user)
        assert why in " ".join(info.value.messages)
    password_validation.validate_password("correct horse battery staple", user)
    names = [v.__class__.__name__ for v in password_validation.get_default_password_validators()]
    assert "UserAttributeSimilarityValidator" in names
