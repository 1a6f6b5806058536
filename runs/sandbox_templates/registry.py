"""The installation's registry (CROWNEST_REGISTRY, docs/operations.md "The registry"): it carries
each template version's image to the worker hosts that lack it. A version is pushed once (after
its build, or by `make setup` for images built under images/) and recorded as registry_ref plus
the registry's manifest digest; a host pulls exactly that manifest and checks that the image id
it got is the version's pinned image_digest (the manifest digest is not the image id: runs keep
pinning the id, the evidence names both). Each host's reaper removes the images of retired
versions that no run still needs. The sandbox (the only importer of docker) is handed in."""

import logging
import time
import urllib.error
import urllib.request

from django.conf import settings
from django.db.models import Q

from ..models import Run
from ..stream import events
from ..worker.command import touch
from ..worker.sandbox.base import SandboxError
from .models import TemplateVersion

log = logging.getLogger(__name__)
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
    ]
)


class ImageMismatch(SandboxError):
    """The registry gave an image whose id is not the version's pinned digest."""


def registry_ref_for(version: TemplateVersion, registry: str) -> str:
    """Where `version` lives in `registry`: its image's name (a worker build's
    crownest/tpl-NAME:vN, or images/'s crownest/NAME:TAG) below the registry's address."""
    name = version.image or f"crownest/tpl-{version.template_id}:v{version.number}"
    return f"{registry}/{name.split('/', 1)[1] if _has_host(name) else name}"


def _has_host(name: str) -> bool:
    first = name.split("/", 1)[0]
    return "/" in name and ("." in first or ":" in first or first == "localhost")


def registry_push(
    *, sandbox, version: TemplateVersion, registry: str | None = None, save: bool = True
) -> str:
    """Push the version's image (its pinned id) to the registry and record where (on the row
    too, with `save`); the manifest digest. Nothing when no registry is configured."""
    registry = settings.CROWNEST_REGISTRY if registry is None else registry
    if not registry or not version.image_digest:
        return ""
    ref = registry_ref_for(version, registry)
    started = time.monotonic()
    digest = sandbox.push_image(version.image_digest, ref)
    log.info("pushed %s as %s in %.1f s", ref, digest, time.monotonic() - started)
    if save:
        TemplateVersion.objects.filter(pk=version.pk, image_digest=version.image_digest).update(
            registry_ref=ref, registry_digest=digest
        )
    version.registry_ref, version.registry_digest = ref, digest
    return digest


def built_push(sandbox, building: TemplateVersion, digest: str, say) -> dict:
    """A build's last phase: its new image into the registry, so that every host can run it;
    the fields to record with the ready version. A failed push leaves a version this host alone
    can run: said in the build log (`say`), not fatal (`manage.py template_registry push`)."""
    number, name = building.number, building.template_id
    version = TemplateVersion(
        pk=building.pk,
        template_id=name,
        number=number,
        image_digest=digest,
        image=f"crownest/tpl-{name}:v{number}",
    )
    started = time.monotonic()
    try:
        registry_push(sandbox=sandbox, version=version, save=False)
    except SandboxError as exc:
        say(f"push failed, this host alone has the image: {exc}")
        return {}
    took = time.monotonic() - started
    say(f"pushed {version.registry_ref} as {version.registry_digest} in {took:.1f} s")
    return {"registry_ref": version.registry_ref, "registry_digest": version.registry_digest}


def registry_manifest_digest(ref: str) -> str:
    """The manifest digest the registry answers for `ref`'s tag; "" when it has none (or asks
    for credentials: then a push, which has them, decides). Plain HTTP for a loopback registry
    only, as Docker itself does."""
    host, _, rest = ref.partition("/")
    name, _, tag = rest.rpartition(":")
    scheme = "http" if host.split(":")[0] in ("127.0.0.1", "localhost") else "https"
    url = f"{scheme}://{host}/v2/{name}/manifests/{tag}"
    request = urllib.request.Request(url, method="HEAD", headers={"Accept": MANIFEST_TYPES})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.headers.get("Docker-Content-Digest", "")
    except (urllib.error.URLError, OSError):
        return ""


def versions_push(*, sandbox, registry: str) -> list[str]:
    """Every ready version not retired whose image this engine has, into `registry` unless it
    already holds that very image under the version's reference (`make setup`, and after a
    failed push). Lines saying what was done."""
    said = []
    ready = TemplateVersion.objects.filter(status="ready", retired_at__isnull=True)
    for version in ready.exclude(image_digest="").order_by("pk"):
        if not sandbox.image_id(version.image_digest):
            continue
        ref = registry_ref_for(version, registry)
        digest = registry_manifest_digest(ref)
        if digest and sandbox.has_repo_digest(
            version.image_digest, f"{ref.rpartition(':')[0]}@{digest}"
        ):
            TemplateVersion.objects.filter(pk=version.pk).update(
                registry_ref=ref, registry_digest=digest
            )
            said.append(f"{version}: {ref} already holds it ({digest})")
            continue
        started = time.monotonic()
        digest = registry_push(sandbox=sandbox, version=version, registry=registry)
        said.append(f"{version}: pushed {ref} ({digest}) in {time.monotonic() - started:.1f} s")
    return said


class RunPull:
    """A run's view of a pull: archive_progress events with phase "pull" (the run page's bar),
    a heartbeat so that a long pull is not a lost worker, and the seconds it took."""

    def __init__(self, run_id: str):
        self.run_id, self.seconds, self.started = run_id, None, None

    def begin(self) -> None:
        self.started = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        data = {"phase": "pull", "bytesDone": done, "bytesTotal": max(total, done)}
        events.append(self.run_id, [("archive_progress", data)])
        touch(self.run_id)

    def end(self) -> None:
        self.seconds = round(time.monotonic() - self.started, 4)


def version_pull(sandbox, version: TemplateVersion, report=None) -> str:
    """Pull the version's image from the registry onto this host's engine; refuse an image
    whose id is not the pinned digest (SandboxError). Returns the id."""
    if not version.registry_ref or not version.registry_digest:
        raise SandboxError(
            f"template {version.template_id} version {version.number} "
            f"({version.image_digest}) is not on this worker's Docker engine and not in the "
            'registry (CROWNEST_REGISTRY; docs/operations.md, "The registry")'
        )
    report = report or (lambda done, total: None)
    got = sandbox.pull_image(version.registry_ref, version.registry_digest, report)
    if got != version.image_digest:
        sandbox.remove_image(got)
        raise ImageMismatch(
            f"the registry's {version.registry_ref}@{version.registry_digest} is image {got}, "
            f"not the pinned {version.image_digest} of template {version.template_id} version "
            f"{version.number}: refused"
        )
    return got


class WarmPulls:
    """The warm pool keeper's pulls: the current version of each warm template that this host
    lacks is pulled ahead of its first run, so the pool fills without waiting for a run to pull
    it. A failed pull is tried again after RETRY seconds, not on every round of the keeper."""

    RETRY = 60.0

    def __init__(self, sandbox):
        self.sandbox, self.failed = sandbox, {}  # image id -> monotonic time of the failure

    def __call__(self, images: list[str]) -> None:
        wanted = TemplateVersion.objects.filter(image_digest__in=images).exclude(registry_digest="")
        for version in wanted.order_by("-pk"):
            digest = version.image_digest
            if time.monotonic() - self.failed.get(digest, -self.RETRY) < self.RETRY:
                continue
            try:
                if not self.sandbox.image_id(digest):
                    version_pull(self.sandbox, version)
                    log.info("pulled %s for the warm pool", digest)
            except SandboxError as exc:
                self.failed[digest] = time.monotonic()
                log.error("warm pool: %s", exc)


def prunable_versions():
    """Retired versions built by the workers whose image no run waiting or running still needs
    and no version in use shares. Images made under images/ are their build script's to keep."""
    live = Run.objects.exclude(status__in=Run.TERMINAL).exclude(image_digest="")
    in_use = set(live.values_list("image_digest", flat=True))
    in_use |= set(
        Run.objects.exclude(status__in=Run.TERMINAL)
        .filter(template_version__isnull=False)
        .values_list("template_version__image_digest", flat=True)
    )
    in_use |= set(
        TemplateVersion.objects.filter(retired_at__isnull=True).values_list(
            "image_digest", flat=True
        )
    )
    retired = TemplateVersion.objects.filter(
        ~Q(image_digest=""), retired_at__isnull=False, source="worker"
    )
    return [v for v in retired.order_by("pk") if v.image_digest not in in_use]


def images_prune(sandbox) -> list[str]:
    """This host's pass (the reaper): remove the images of prunable versions that its engine
    still has. The ids removed."""
    removed = []
    for version in prunable_versions():
        try:
            if sandbox.image_id(version.image_digest) and sandbox.remove_image(
                version.image_digest
            ):
                removed.append(version.image_digest)
        except SandboxError as exc:
            log.warning("could not prune %s: %s", version.image_digest, exc)
    return sorted(set(removed))
