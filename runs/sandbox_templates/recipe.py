"""What a template recipe may name (http/inputs.py, the admin's form). Package names
reach apt-get, pip and npm as single argv entries, never through a shell, and these patterns keep
out options (a leading '-'), URLs, paths and anything a resolver would read as more than a package
name and a version."""

import re

TEMPLATE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


def _anycase(word: str) -> str:
    """`tgz` as `[tT][gG][zZ]`: the patterns are also JSON Schema's (ECMAScript, no (?i))."""
    return "".join(f"[{c}{c.upper()}]" if c.isalpha() else re.escape(c) for c in word)


# Debian policy: lowercase letters, digits, + - .; at least two characters, starting with an
# alphanumeric; an optional =version (epoch:upstream-revision, letters digits . + ~ - :). Never
# ending in '-' or '+': apt-get reads `jq-` as "remove jq" and `jq+` as "install jq", so a
# recipe could remove a package of its base. (A name such as g++ is named with its =version.)
DEBIAN = re.compile(
    r"^([a-z0-9][a-z0-9+.-]*[a-z0-9]|[a-z0-9][a-z0-9+.-]+=[0-9]([A-Za-z0-9.+~:-]*[A-Za-z0-9.~:])?)$"
)
# PEP 508 names (letters, digits, . _ -), optional extras, and simple version specifiers
# separated by commas: no URLs ("@ https://..."), no markers, no paths, no options. Never ending
# like an archive (`x.whl`, `six==1.0.zip`, `a.tar.gz`): pip takes such an argument for a file
# path in its working directory.
_PEP440 = r"[A-Za-z0-9][A-Za-z0-9.+!*_-]*"
_PIP_FILES = "|".join(
    [*map(_anycase, ("zip", "whl", "tbz", "txz", "tlz", "tgz", "tar"))]
    + [_anycase("tar") + r"\." + _anycase(ext) for ext in ("bz2", "xz", "lz", "lzma", "gz")]
)
PIP = re.compile(
    rf"^(?!.*\.({_PIP_FILES})$)"
    r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?"
    r"(\[[A-Za-z0-9._-]+(,[A-Za-z0-9._-]+)*\])?"
    rf"((===?|~=|!=|<=?|>=?){_PEP440}(,(===?|~=|!=|<=?|>=?){_PEP440})*)?$"
)
# npm names, scoped or not (lowercase, digits, - . _ ~), and an optional @version or dist-tag
# made of semver characters: no git:, file:, http(s): or path specs. npm reads a spec ending in
# .tgz, .tar or .tar.gz (`x.tgz`, `x@1.tgz`) as a file, and a version starting with '.' (`x@..`)
# as a folder: neither is taken.
_NPM_FILES = f"{_anycase('tgz')}|{_anycase('tar')}(.{_anycase('gz')})?"
NPM = re.compile(
    rf"^(?!.*[.]({_NPM_FILES})$)"
    r"(@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]*(@[A-Za-z0-9^~<>=*][A-Za-z0-9^~<>=.*+-]*)?$"
)
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
