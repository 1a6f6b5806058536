"""What a template recipe may name (http/inputs.py, the admin's form). Package names
reach apt-get, pip and npm as single argv entries, never through a shell, and these patterns keep
out options (a leading '-'), URLs, paths and anything a resolver would read as more than a package
name and a version."""

import re

TEMPLATE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
# Debian policy: lowercase letters, digits, + - .; at least two characters, starting with an
# alphanumeric; an optional =version (epoch:upstream-revision, letters digits . + ~ - :).
DEBIAN = re.compile(r"^[a-z0-9][a-z0-9+.-]+(=[0-9][A-Za-z0-9.+~:-]*)?$")
# PEP 508 names (letters, digits, . _ -), optional extras, and simple version specifiers
# separated by commas: no URLs ("@ https://..."), no markers, no paths, no options.
_PEP440 = r"[A-Za-z0-9][A-Za-z0-9.+!*_-]*"
PIP = re.compile(
    r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?"
    r"(\[[A-Za-z0-9._-]+(,[A-Za-z0-9._-]+)*\])?"
    rf"((===?|~=|!=|<=?|>=?){_PEP440}(,(===?|~=|!=|<=?|>=?){_PEP440})*)?$"
)
# npm names, scoped or not (lowercase, digits, - . _ ~), and an optional @version or dist-tag
# made of semver characters: no git:, file:, http(s): or path specs.
NPM = re.compile(r"^(@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]*(@[A-Za-z0-9^~<>=.*+-]+)?$")
KINDS = {
    "debianPackages": (
        DEBIAN,
        "a Debian package name, optionally =version (e.g. jq, curl=7.88.1-10)",
    ),
    "pipPackages": (PIP, "a PyPI name with optional version specifiers (e.g. six, idna>=3,<4)"),
    "npmPackages": (NPM, "an npm package name with an optional @version (e.g. is-number@7)"),
}


def bad_package(kind: str, value: str) -> str | None:
    """Why `value` is not a package of `kind`, or None."""
    pattern, what = KINDS[kind]
    if not isinstance(value, str) or "\n" in value or not pattern.fullmatch(value):
        return f"{value!r} is not {what}"
    return None
