"""A started run's command in its container (docker.py): its output from the attach stream,
its exit and its stop."""

from docker.errors import DockerException, NotFound
from requests.exceptions import RequestException

from .base import ExitInfo, SandboxError
from .frames import Extraction


class DockerExecution:
    def __init__(self, container, extraction: Extraction):
        self._container = container
        self._extraction = extraction

    def output(self):
        yield from self._extraction.output()

    def wait(self) -> ExitInfo:
        try:
            result = self._container.wait()
            self._container.reload()
        except (DockerException, RequestException) as exc:
            why = f"the Docker engine stopped answering or removed it ({type(exc).__name__})"
            raise SandboxError(f"Lost the sandbox while the command ran: {why}.") from exc
        state = self._container.attrs["State"]
        return ExitInfo(exit_code=result["StatusCode"], oom_killed=bool(state.get("OOMKilled")))

    def stop(self, grace_seconds: int) -> None:
        try:
            self._container.stop(timeout=grace_seconds)
        except NotFound:
            pass
