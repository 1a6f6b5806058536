"""Images on the Docker engine, for the template builder (runs/sandbox_templates/build.py): a
base image's filesystem into a directory, and a directory back into an image (`docker import`,
no registry). Lives under sandbox/, the only part that imports docker."""

import subprocess
from collections.abc import Callable

import docker
from docker.errors import DockerException, NotFound
from requests.exceptions import RequestException

from .base import SandboxError

CHUNK = 1024 * 1024


def _client():
    try:
        return docker.from_env(timeout=600)
    except DockerException as exc:
        raise SandboxError(f"Docker engine unavailable: {exc}") from exc


def image_export(image: str, dest: str, on_bytes: Callable[[int], None]) -> str:
    """Unpack the filesystem of `image` into `dest` (docker create + export, never started);
    returns the image's id, its digest."""
    client = _client()
    try:
        container = client.containers.create(image, command=["/bin/true"], network_disabled=True)
    except DockerException as exc:
        raise SandboxError(f"cannot use base image {image}: {exc}") from exc
    tar = subprocess.Popen(
        ["tar", "-x", "--numeric-owner", "-C", dest, "-f", "-"],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    done = 0
    try:
        for chunk in container.export(chunk_size=CHUNK):
            tar.stdin.write(chunk)
            done += len(chunk)
            on_bytes(done)
        tar.stdin.close()
    except (DockerException, RequestException, BrokenPipeError) as exc:
        tar.kill()
        raise SandboxError(f"exporting {image} failed: {exc}") from exc
    finally:
        try:
            container.remove(force=True)
        except NotFound:
            pass
        rc = tar.wait()
    if rc != 0:
        raise SandboxError(f"unpacking {image} failed: {tar.stderr.read().decode()[-500:]}")
    return container.attrs["Image"]


def image_import(src: str, repository: str, tag: str, changes: list[str]) -> tuple[str, int]:
    """`tar -C src -c . | docker import`; the new image's id (its digest) and size in bytes."""
    client = _client()
    tar = subprocess.Popen(
        ["tar", "--numeric-owner", "-C", src, "-c", "."],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        client.api.import_image_from_stream(tar.stdout, repository, tag, changes=changes)
    except (DockerException, RequestException) as exc:
        tar.kill()
        raise SandboxError(f"docker import failed: {exc}") from exc
    finally:
        rc = tar.wait()
    if rc != 0:
        raise SandboxError(f"packing the image failed: {tar.stderr.read().decode()[-500:]}")
    try:
        img = client.images.get(f"{repository}:{tag}")
    except DockerException as exc:
        raise SandboxError(f"the imported image is missing: {exc}") from exc
    return img.id, int(img.attrs.get("Size") or 0)


def image_remove(ref: str) -> None:
    try:
        _client().images.remove(ref, noprune=False)
    except (NotFound, DockerException):
        pass
