"""The build directory of a template version: a root filesystem that the builder enters with
chroot, with the host's network (DNS, proxies, CA bundle) lent to it during the build only, and
scrubbed of all of that before it becomes an image. The steps of images/python-node/build.sh,
which reads the same CROWNEST_DEBIAN_MIRROR."""

import os
import shutil
import subprocess
from pathlib import Path

SUITE = "bookworm"
MIRROR = os.environ.get("CROWNEST_DEBIAN_MIRROR", "http://deb.debian.org/debian").rstrip("/")
# The host's CA bundle: apt, pip and npm in the chroot trust what the host trusts (a TLS proxy).
HOST_CA = os.environ.get("CROWNEST_TEMPLATE_CA_FILE", "/etc/ssl/certs/ca-certificates.crt")
BUILD_DIR = os.environ.get("CROWNEST_TEMPLATE_BUILD_DIR", "/var/tmp")
LOG_LIMIT = 1024 * 1024
SANDBOX_UID = 1000
VENV = "/opt/crownest/venv"
NODE_PATH = "/usr/local/lib/node_modules"
IMAGE_PATH = f"{VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BUILD_TMP = "/tmp/.crownest-build"  # inside the chroot; removed before the import
CA_IN_CHROOT = f"{BUILD_TMP}/ca.crt"
# What the worker's environment may say about reaching package registries; nothing else of it
# enters the chroot.
PASSED_ENV = (
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_TRUSTED_HOST",
    "NPM_CONFIG_REGISTRY",
)
SLIM = [
    "path-exclude /usr/share/doc/*",
    "path-include /usr/share/doc/*/copyright",
    "path-exclude /usr/share/man/*",
    "path-exclude /usr/share/groff/*",
    "path-exclude /usr/share/info/*",
    "path-exclude /usr/share/lintian/*",
    "path-exclude /usr/share/locale/*",
    "path-include /usr/share/locale/locale.alias",
]
APT_CONF = [
    'APT::Install-Recommends "false";',
    'APT::Install-Suggests "false";',
    'Acquire::Languages "none";',
    'Dpkg::Use-Pty "false";',
]


def chroot_env() -> dict:
    env = {
        "PATH": IMAGE_PATH,
        "HOME": "/root",
        "LANG": "C.UTF-8",
        "DEBIAN_FRONTEND": "noninteractive",
        "PIP_CERT": CA_IN_CHROOT,
        "SSL_CERT_FILE": CA_IN_CHROOT,
        "REQUESTS_CA_BUNDLE": CA_IN_CHROOT,
        "NPM_CONFIG_CAFILE": CA_IN_CHROOT,
        "NODE_EXTRA_CA_CERTS": CA_IN_CHROOT,
        "NPM_CONFIG_UPDATE_NOTIFIER": "false",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    env.update({k: os.environ[k] for k in PASSED_ENV if os.environ.get(k)})
    return env


def debootstrap_argv(root: Path) -> list[str]:
    argv = ["debootstrap", "--variant=minbase", "--merged-usr", "--include=ca-certificates"]
    keyring = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
    if keyring.is_file():
        argv.append(f"--keyring={keyring}")
    return [*argv, SUITE, str(root), MIRROR]


def configure_fresh(root: Path) -> None:
    """What build.sh writes into a fresh debootstrap tree before apt runs."""
    mirror = MIRROR
    security = mirror.removesuffix("/debian") + "/debian-security"
    (root / "etc/dpkg/dpkg.cfg.d").mkdir(parents=True, exist_ok=True)
    (root / "etc/dpkg/dpkg.cfg.d/crownest-slim").write_text("\n".join(SLIM) + "\n")
    (root / "etc/apt/sources.list").write_text(
        f"deb {mirror} {SUITE} main\ndeb {mirror} {SUITE}-updates main\n"
        f"deb {security} {SUITE}-security main\n"
    )
    (root / "etc/apt/apt.conf.d/90crownest").write_text("\n".join(APT_CONF) + "\n")


def sandbox_user_argvs() -> list[list[str]]:
    return [
        ["groupadd", "--gid", str(SANDBOX_UID), "sandbox"],
        ["useradd", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--home-dir",
         "/home/sandbox", "--create-home", "--shell", "/bin/bash", "sandbox"],
        ["install", "-d", "-m", "0755", "-o", str(SANDBOX_UID), "-g", str(SANDBOX_UID),
         "/workspace"],
    ]  # fmt: skip


def lend_network(root: Path) -> None:
    """DNS and the host's CA bundle, for apt, pip and npm in the chroot (taken back in scrub)."""
    (root / BUILD_TMP.lstrip("/")).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(HOST_CA, root / CA_IN_CHROOT.lstrip("/"))
    resolv = root / "etc/resolv.conf"
    if resolv.is_symlink():
        resolv.unlink()
    shutil.copyfile("/etc/resolv.conf", resolv)
    policy = root / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")  # never start services in the chroot
    policy.chmod(0o755)
    (root / "proc").mkdir(exist_ok=True)
    subprocess.run(["mount", "-t", "proc", "proc", str(root / "proc")], check=True)


def mounts_below(root: Path) -> list[str]:
    top = str(root)
    found = []
    for line in Path("/proc/mounts").read_text().splitlines():
        point = line.split()[1].encode().decode("unicode_escape")
        if point == top or point.startswith(top + "/"):
            found.append(point)
    return sorted(found, reverse=True)


def unmount_all(root: Path) -> None:
    for point in mounts_below(root):
        if subprocess.run(["umount", point], capture_output=True).returncode:
            subprocess.run(["umount", "-l", point], capture_output=True)


SCRUB = [
    "var/lib/apt/lists",
    "var/cache/apt/archives",
    "var/cache/debconf/templates.dat-old",
    "root/.cache",
    "root/.npm",
    "root/.config",
    "debootstrap",
    "tmp",  # BUILD_TMP (the CA copy) is below it
    "var/tmp",
    "usr/sbin/policy-rc.d",
]


def scrub(root: Path, template_file: str) -> None:
    """Leave nothing of the build's host in the tree: DNS, CA copy, caches, setuid bits."""
    unmount_all(root)
    for rel in SCRUB:
        path = root / rel
        if path.is_dir() and not path.is_symlink():
            for child in path.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        elif path.exists() or path.is_symlink():
            path.unlink()
    (root / "etc/resolv.conf").write_text("")
    (root / "etc/crownest-template").write_text(template_file)
    for d in ("tmp", "var/tmp"):
        (root / d).mkdir(exist_ok=True)
        (root / d).chmod(0o1777)
    subprocess.run(
        ["find", str(root), "-xdev", "-type", "f", "-perm", "/6000", "-exec", "chmod", "ug-s",
         "{}", "+"],
        check=True,
    )  # fmt: skip


def tree_bytes(root: Path) -> int:
    out = subprocess.run(
        ["du", "-s", "-B1", "--one-file-system", str(root)], capture_output=True, text=True
    )
    return int(out.stdout.split()[0]) if out.returncode == 0 else 0


def remove_tree(root: Path) -> bool:
    unmount_all(root)
    if mounts_below(root):
        return False  # never delete through a mount
    shutil.rmtree(root, ignore_errors=True)
    return True
