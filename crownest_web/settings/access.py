"""Signing in, passwords, and how much one user may hold or try at once."""

from datetime import timedelta

from ..env import env_int, env_str

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"

_VALIDATION = "django.contrib.auth.password_validation"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"{_VALIDATION}.UserAttributeSimilarityValidator"},
    {
        "NAME": f"{_VALIDATION}.MinimumLengthValidator",
        "OPTIONS": {"min_length": env_int("CROWNEST_PASSWORD_MIN_LENGTH", 12)},
    },
    {"NAME": f"{_VALIDATION}.CommonPasswordValidator"},
    {"NAME": f"{_VALIDATION}.NumericPasswordValidator"},
]

# Sign-in throttling (django-axes): after CROWNEST_LOGIN_FAILURE_LIMIT failed sign-ins for one
# username from one address, that pair is refused (429; the sign-in page says for how long) for
# CROWNEST_LOGIN_COOLOFF_SECONDS, even with the right password; another failure meanwhile starts
# the cool-off again. The address is the connection's (REMOTE_ADDR; behind a proxy, the web runs
# with --proxy-headers). crownest_web/signin.py has the page and the backend.
AUTHENTICATION_BACKENDS = [
    "crownest_web.signin.SignInLockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("CROWNEST_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(seconds=env_int("CROWNEST_LOGIN_COOLOFF_SECONDS", 900))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "crownest_web.signin.lockout_response"
AXES_VERBOSE = False  # no start-up banner; lockouts are still logged (warnings)

# Queued + running runs per user (POST .../start past it: 429 throttled, Retry-After: 5).
CROWNEST_MAX_ACTIVE_RUNS = env_int("CROWNEST_MAX_ACTIVE_RUNS", 20)
# Runs of one user still waiting for their archive; past it, creating (or re-running) one answers
# 429 throttled with this Retry-After, until an archive arrives or a waiting run is canceled or
# deleted.
CROWNEST_MAX_AWAITING_ARCHIVE = env_int("CROWNEST_MAX_AWAITING_ARCHIVE", 50)
CROWNEST_AWAITING_ARCHIVE_RETRY_SECONDS = env_int("CROWNEST_AWAITING_ARCHIVE_RETRY_SECONDS", 60)
# Requests with a bad bearer token from one address (API, SSE, websocket), at most this many per
# period (s, min, hour, day); past it that address is refused with 429 throttled (Retry-After)
# before any token is looked up, until its oldest failure leaves the period.
CROWNEST_BAD_TOKEN_RATE = env_str("CROWNEST_BAD_TOKEN_RATE", "30/min")
