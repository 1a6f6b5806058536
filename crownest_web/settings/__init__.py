"""The one settings module (DJANGO_SETTINGS_MODULE = crownest_web.settings): every knob is an
environment variable with a safe default. The package only splits it by subject; nothing else
in the project reads the environment for settings, and no part overrides another's names."""

from .access import *  # noqa: F403 (signing in, passwords, per-user caps)
from .core import *  # noqa: F403 (Django and its libraries)
from .egress import *  # noqa: F403 (the egress proxy: CROWNEST_EGRESS_*)
from .ops import *  # noqa: F403 (metrics, the audit log, logging)
from .paths import *  # noqa: F403
from .runs import *  # noqa: F403 (Workspace Runs: sandboxes, archives, limits, workers, storage)
from .stream import *  # noqa: F403 (live output: flushes, viewers' window and set-ups)
from .teams import *  # noqa: F403 (quotas, per-run resources, host capacity, the registry)
from .web import *  # noqa: F403 (the web server: body timeouts, keep-alive, shutdown)
