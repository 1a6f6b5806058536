"""Template images between a Docker engine and the installation's registry (docs/operations.md,
"The registry"): push a version's image under its registry reference, pull one by its manifest
digest, look an image up by id, remove one. A mixin of DockerSandbox (its `client`); lives
under sandbox/, the only package that imports docker."""

import contextlib
import time
from collections.abc import Callable

from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from requests.exceptions import RequestException

from .base import SandboxError

# An engine that is away answers with a connection error of requests, not a DockerException.
ENGINE_ERRORS = (DockerException, RequestException)
# Progress reports during a pull at most this often (seconds): the run's events stay few.
PROGRESS_EVERY = 0.5


def split_ref(ref: str) -> tuple[str, str]:
    """ "host:port/name:tag" -> ("host:port/name", "tag"); the port's colon is not a tag's."""
    repo, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag:
        return ref, "latest"
    return repo, tag


class PullProgress:
    """A pull's progress over every layer, from the engine's messages: of the layers' compressed
    bytes, the mean of those downloaded and those extracted (the engine counts both in compressed
    bytes; extraction is most of a fast pull's time: 733 MB unpacked after a 220 MB download)."""

    def __init__(self, report: Callable[[int, int], None]):
        self.report, self.last = report, 0.0
        self.layers: dict[str, list[int]] = {}  # id -> [downloaded, extracted, total]

    def __call__(self, message: dict) -> None:
        detail, layer = message.get("progressDetail") or {}, message.get("id")
        status = message.get("status", "")
        if layer and detail.get("total"):
            row = self.layers.setdefault(layer, [0, 0, detail["total"]])
            row[2] = detail["total"]
            if status == "Downloading":
                row[0] = detail.get("current", 0)
            elif status == "Extracting":
                row[0], row[1] = row[2], detail.get("current", 0)
        elif layer in self.layers and status == "Pull complete":
            row = self.layers[layer]
            row[0] = row[1] = row[2]
        if time.monotonic() - self.last >= PROGRESS_EVERY:
            self.last = time.monotonic()
            self.report(*self.totals())

    def totals(self) -> tuple[int, int]:
        rows = self.layers.values()
        return sum((d + x) // 2 for d, x, _ in rows), sum(t for _, _, t in rows)


class ImageTransfer:
    client = None  # the engine's docker client (DockerSandbox sets it)

    def image_id(self, image: str) -> str:
        """The engine's id of `image` (a reference or an id); "" when the engine lacks it."""
        try:
            return self.client.images.get(image).id
        except ImageNotFound:
            return ""
        except ENGINE_ERRORS as exc:
            raise SandboxError(f"Docker engine unavailable: {exc}") from exc

    def has_repo_digest(self, image: str, repo_digest: str) -> bool:
        """Whether this engine knows `image` as pushed to or pulled from name@digest."""
        try:
            return repo_digest in (self.client.images.get(image).attrs.get("RepoDigests") or [])
        except ENGINE_ERRORS:
            return False

    def push_image(self, image: str, ref: str) -> str:
        """Tag `image` as `ref` (registry/name:tag) and push it; the registry's manifest digest."""
        repo, tag = split_ref(ref)
        digest = ""
        try:
            self.client.api.tag(image, repo, tag)
            for message in self.client.api.push(repo, tag=tag, stream=True, decode=True):
                if message.get("error"):
                    raise SandboxError(f"pushing {ref} failed: {message['error']}")
                digest = (message.get("aux") or {}).get("Digest") or digest
        except ENGINE_ERRORS as exc:
            raise SandboxError(f"pushing {ref} failed: {exc}") from exc
        if not digest:
            raise SandboxError(f"pushing {ref} gave no manifest digest")
        return digest

    def pull_image(self, ref: str, digest: str, on_bytes: Callable[[int, int], None]) -> str:
        """Pull `ref`'s repository at manifest `digest` (never a tag that may have moved); the
        pulled image's id. on_bytes(done, total) reports the layers' download."""
        repo, _tag = split_ref(ref)
        progress = PullProgress(on_bytes)
        try:
            for message in self.client.api.pull(repo, tag=digest, stream=True, decode=True):
                if message.get("error"):
                    raise SandboxError(f"pulling {repo}@{digest} failed: {message['error']}")
                progress(message)
            image = self.client.images.get(f"{repo}@{digest}")
        except ENGINE_ERRORS as exc:
            raise SandboxError(f"pulling {repo}@{digest} failed: {exc}") from exc
        on_bytes(*progress.totals())
        return image.id

    def remove_image(self, image_id: str) -> bool:
        """Remove the image with this id and every name it has here; False when a container
        still uses it (it stays) or the engine had none."""
        try:
            image = self.client.images.get(image_id)
        except ImageNotFound:
            return False
        except ENGINE_ERRORS as exc:
            raise SandboxError(f"Docker engine unavailable: {exc}") from exc
        names = list(image.tags) + list(image.attrs.get("RepoDigests") or [])
        try:
            for name in names:  # untagging one name at a time never forces past a container
                with contextlib.suppress(NotFound):
                    self.client.images.remove(name, noprune=False)
            with contextlib.suppress(NotFound):
                self.client.images.remove(image_id, noprune=False)
        except APIError as exc:
            if exc.status_code == 409:  # in use by a container (a kept sandbox)
                return False
            raise SandboxError(f"removing {image_id} failed: {exc}") from exc
        except ENGINE_ERRORS as exc:
            raise SandboxError(f"removing {image_id} failed: {exc}") from exc
        return not self.image_id(image_id)
