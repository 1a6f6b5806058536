"""The web server (crownest_web/serve.py, uvicorn) and the guard that checks every request
before its body is read (crownest_web/ingress.py; docs/operations.md, "Limits")."""

from ..env import env_int, env_str

# The longest wait for the next piece of a request body; past it: 408 and the connection closes.
CROWNEST_BODY_TIMEOUT_SECONDS = float(env_str("CROWNEST_BODY_TIMEOUT_SECONDS", "30"))
# After refusing a body that is still arriving, the server reads on (and discards) this long
# before it closes, so that the client reads the answer rather than a connection reset.
CROWNEST_BODY_LINGER_SECONDS = float(env_str("CROWNEST_BODY_LINGER_SECONDS", "2"))
# An idle keep-alive connection is closed after this long.
CROWNEST_WEB_KEEPALIVE_SECONDS = env_int("CROWNEST_WEB_KEEPALIVE_SECONDS", 5)
# On SIGTERM, open requests (live streams too) get this long before they are cut.
CROWNEST_WEB_SHUTDOWN_SECONDS = env_int("CROWNEST_WEB_SHUTDOWN_SECONDS", 5)
