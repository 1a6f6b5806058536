"""Building one template version on a worker host (docs/templates.md): a root filesystem from
the base template's image (or a fresh debootstrap), apt, pip and npm packages installed in a
chroot with the host's network (the build's only network), then `docker import`. The log and the
phase go to the version row while it runs; every package name reaches its tool as one argv
entry, never through a shell."""

import logging
import os
import subprocess
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from ops import metrics

from ..worker.sandbox import get_sandbox
from ..worker.sandbox.base import SandboxError
from ..worker.sandbox.images import image_export, image_import, image_remove
from . import rootfs
from .models import TemplateVersion
from .registry import built_push
from .versions import template_mirror

log = logging.getLogger(__name__)
V = TemplateVersion.Status
APT = ["apt-get", "-q", "-y", "-o", "Dpkg::Options::=--force-unsafe-io"]


class BuildFailed(Exception):
    pass


class BuildLog:
    """The build's output, written to the version row at most once a second (and at the end)."""

    def __init__(self, version_id: int):
        self.version_id, self.text, self.progress = version_id, "", {}
        self._flushed = 0.0
        self._lock = threading.Lock()

    def line(self, text: str) -> None:
        with self._lock:
            self.text += text if text.endswith("\n") else text + "\n"
            limit = rootfs.LOG_LIMIT
            if len(self.text) > limit:  # the end of a failed build matters most
                self.text = "[earlier lines cut]\n" + self.text[-limit // 2 :]
        if time.monotonic() - self._flushed > 1:
            self.flush()

    def phase(self, name: str, step: int, steps: int) -> None:
        self.progress = {
            "phase": name,
            "step": step,
            "steps": steps,
            "percent": round(100 * (step - 1) / steps),
        }
        self.line(f"==> [{step}/{steps}] {name}")
        self.flush()

    def flush(self) -> None:
        self._flushed = time.monotonic()
        TemplateVersion.objects.filter(pk=self.version_id).update(
            build_log=self.text, progress=self.progress
        )


class Builder:
    def __init__(self, version: TemplateVersion, root: Path):
        self.version, self.root, self.recipe = version, root, version.recipe
        self.log = BuildLog(version.pk)
        self.deadline = time.monotonic() + settings.CROWNEST_TEMPLATE_BUILD_TIMEOUT
        self.base_digest = "debootstrap"

    def run(self, argv: list[str], what: str, *, chroot: bool = True) -> str:
        """One program, its output into the log; killed at the build's deadline."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise BuildFailed(self._too_long())
        full = ["chroot", str(self.root), *argv] if chroot else argv
        env = rootfs.chroot_env() if chroot else {**os.environ, "LANG": "C.UTF-8"}
        proc = subprocess.Popen(
            full, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True
        )
        timer = threading.Timer(left, proc.kill)
        timer.start()
        out = []
        try:
            for line in proc.stdout:
                out.append(line)
                self.log.line(line)
        finally:
            timer.cancel()
            rc = proc.wait()
        if time.monotonic() >= self.deadline:
            raise BuildFailed(self._too_long())
        if rc != 0:
            raise BuildFailed(f"{what} failed (exit status {rc}); the log above says why")
        return "".join(out)

    def _too_long(self) -> str:
        limit = settings.CROWNEST_TEMPLATE_BUILD_TIMEOUT
        return f"the build took longer than the limit of {limit} s"

    def phases(self) -> list[str]:
        names = ["rootfs"]
        names += ["apt"] if self.recipe.get("debianPackages") or not self.base else []
        names += ["pip"] if self.recipe.get("pipPackages") else []
        names += ["npm"] if self.recipe.get("npmPackages") else []
        pushed = ["push"] if settings.CROWNEST_REGISTRY else []
        return [*names, "finish", "import", *pushed]

    @property
    def base(self) -> str | None:
        return self.recipe.get("basedOnImage")

    def build(self) -> tuple[str, int, dict]:
        steps = self.phases()
        facts = {}
        for step, name in enumerate(steps, 1):
            self.log.phase(name, step, len(steps))
            if name == "import":
                imported = self.import_image(facts)
            elif name == "push":
                facts.update(self.push(imported[0]))
            else:
                facts.update(getattr(self, f"phase_{name}")() or {})
        return (*imported, facts)

    def phase_rootfs(self) -> None:
        if self.base:
            self.log.line(f"unpacking the base image {self.base}")
            self.base_digest = image_export(self.base, str(self.root), self._exported)
            self.log.line(f"base image digest: {self.base_digest}")
            recipe = {**self.recipe, "basedOnDigest": self.base_digest}
            TemplateVersion.objects.filter(pk=self.version.pk).update(recipe=recipe)
        else:
            self.run(rootfs.debootstrap_argv(self.root), "debootstrap", chroot=False)
            rootfs.configure_fresh(self.root)
        rootfs.lend_network(self.root)

    def _exported(self, done: int) -> None:
        self.log.progress["bytes"] = done
        if done % (64 * 1024 * 1024) < 1024 * 1024:
            self.log.line(f"{done // (1024 * 1024)} MiB unpacked")

    def phase_apt(self) -> None:
        self.run(["apt-get", "-q", "update"], "apt-get update")
        if not self.base:
            self.run([*APT, "upgrade"], "apt-get upgrade")
        packages = self.recipe.get("debianPackages") or []
        if not self.base:  # every run starts with the sandbox's bootstrap, a python3 script
            packages = ["python3", *(p for p in packages if p != "python3")]
        if packages:
            self.run([*APT, "install", *packages], "apt-get install")
        if not self.base:
            for argv in rootfs.sandbox_user_argvs():
                self.run(argv, argv[0])

    def phase_pip(self) -> None:
        if not (self.root / "usr/bin/python3").exists():
            raise BuildFailed("pip packages need python3 (and python3-venv) in the image")
        if not (self.root / rootfs.VENV.lstrip("/") / "bin/python").exists():
            # Debian's python3 is "externally managed" (PEP 668): pip packages go to a venv that
            # sees the Debian packages too, first on the image's PATH.
            venv = ["python3", "-m", "venv", "--system-site-packages", rootfs.VENV]
            self.run(venv, "creating the Python venv")
        pip = [f"{rootfs.VENV}/bin/pip", "install", "--no-cache-dir", "--no-input"]
        self.run([*pip, "--progress-bar", "off", *self.recipe["pipPackages"]], "pip install")

    def phase_npm(self) -> None:
        if not (self.root / "usr/bin/npm").exists():
            raise BuildFailed("npm packages need npm (and nodejs) in the image")
        npm = ["npm", "install", "--global", "--prefix", "/usr/local", "--no-audit", "--no-fund"]
        self.run([*npm, *self.recipe["npmPackages"]], "npm install")

    def phase_finish(self) -> dict:
        facts = {"python": "", "node": "", "npm": ""}
        if not (self.root / "usr/bin/python3").exists():
            raise BuildFailed("the image has no python3, which every run needs (the bootstrap)")
        code = "import platform; print(platform.python_version())"
        facts["python"] = self.run(["python3", "-c", code], "python3").strip()
        if (self.root / "usr/bin/node").exists():
            facts["node"] = self.run(["node", "--version"], "node").strip().removeprefix("v")
        if (self.root / "usr/bin/npm").exists():
            facts["npm"] = self.run(["npm", "--version"], "npm").strip()
        name, number = self.version.template_id, self.version.number
        stamp = [f"name={name}", f"version={number}", f"base={self.base_digest}"]
        stamp += [f"{k}={v}" for k, v in facts.items()]
        rootfs.scrub(self.root, "\n".join(stamp) + "\n")
        size = rootfs.tree_bytes(self.root)
        self.log.line(f"root filesystem: {size // (1024 * 1024)} MiB")
        if size > settings.CROWNEST_TEMPLATE_MAX_IMAGE_BYTES:
            raise BuildFailed(self._too_big(size))
        return facts

    def _too_big(self, size: int) -> str:
        limit = settings.CROWNEST_TEMPLATE_MAX_IMAGE_BYTES
        return f"the image would be {size} bytes, over the limit of {limit} bytes"

    def import_image(self, facts: dict) -> tuple[str, int]:
        v = self.version
        repo, tag = f"crownest/tpl-{v.template_id}", f"v{v.number}"
        changes = [
            f"USER {rootfs.SANDBOX_UID}:{rootfs.SANDBOX_UID}",
            "WORKDIR /workspace",
            f"ENV PATH={rootfs.IMAGE_PATH}",
            "ENV HOME=/home/sandbox",
            f"ENV NODE_PATH={rootfs.NODE_PATH}",
            f"LABEL org.crownest.template={v.template_id}",
            f"LABEL org.crownest.template-version={v.number}",
            f"LABEL org.crownest.based-on={self.base_digest}",
            *(f"LABEL org.crownest.{k}={facts[k]}" for k in ("python", "node", "npm") if facts[k]),
            'CMD ["/bin/bash"]',
        ]
        digest, size = image_import(str(self.root), repo, tag, changes)
        self.log.line(f"imported {repo}:{tag} as {digest} ({size // (1024 * 1024)} MiB)")
        if size > settings.CROWNEST_TEMPLATE_MAX_IMAGE_BYTES:
            image_remove(f"{repo}:{tag}")
            raise BuildFailed(self._too_big(size))
        return digest, size

    def push(self, digest: str) -> dict:
        return built_push(get_sandbox(), self.version, digest, self.log.line)


def _stale() -> Q:
    """Builds that no live worker can still be running (past the time limit, with a margin)."""
    cutoff = timezone.now() - timedelta(seconds=settings.CROWNEST_TEMPLATE_BUILD_TIMEOUT + 600)
    return Q(started_at__lt=cutoff) | Q(started_at__isnull=True, created_at__lt=cutoff)


def stale_builds() -> list[int]:
    """For the reaper: versions to send to a worker again (their worker or message was lost)."""
    return list(
        TemplateVersion.objects.filter(_stale(), status=V.BUILDING).values_list("pk", flat=True)
    )


def _claim(version_id: int) -> TemplateVersion | None:
    """Only one worker builds a version; a build whose worker died long ago may be taken over."""
    claimed = TemplateVersion.objects.filter(
        Q(started_at__isnull=True) | _stale(), pk=version_id, status=V.BUILDING
    ).update(started_at=timezone.now())
    return TemplateVersion.objects.get(pk=version_id) if claimed == 1 else None


def template_build(*, version_id: int) -> None:
    version = _claim(version_id)
    if version is None:
        return
    started = time.monotonic()
    base_dir = rootfs.BUILD_DIR
    root = Path(tempfile.mkdtemp(prefix=f"crownest-tpl-{version.template_id}.", dir=base_dir))
    root.chmod(0o755)  # it becomes the chroot's /; apt's _apt user must traverse it
    builder = Builder(version, root)
    error, done = "", {}
    try:
        if os.geteuid() != 0:
            raise BuildFailed("template builds need a worker running as root (chroot, mount)")
        digest, size, facts = builder.build()
        image = f"crownest/tpl-{version.template_id}:v{version.number}"
        done = {"image": image, "digest": digest, "size": size, **facts}
    except (BuildFailed, SandboxError, OSError, subprocess.SubprocessError) as exc:
        error = str(exc) or type(exc).__name__
    finally:
        # The tree goes before the version ends: whoever waits for the end finds it gone.
        if not rootfs.remove_tree(root):
            log.error("mounts remain below %s; not removed", root)
    _end(builder, version, started, error=error, **done)


def _end(builder: Builder, version, started: float, *, error: str = "", **done) -> None:
    took = round(time.monotonic() - started, 1)
    builder.log.line(f"==> FAILED after {took} s: {error}" if error else f"==> ready in {took} s")
    if not error:
        builder.log.progress["percent"] = 100
    builder.log.progress["seconds"] = took
    metrics.template_built(error, took)
    builder.log.flush()
    fields = {"status": V.FAILED, "error": error} if error else {"status": V.READY}
    if not error:
        fields.update(
            image=done["image"],
            image_digest=done["digest"],
            size_bytes=done["size"],
            python=done.get("python", ""),
            node=done.get("node", ""),
            registry_ref=done.get("registry_ref", ""),
            registry_digest=done.get("registry_digest", ""),
        )
    TemplateVersion.objects.filter(pk=version.pk, status=V.BUILDING).update(
        finished_at=timezone.now(), **fields
    )
    template_mirror(version.template)
