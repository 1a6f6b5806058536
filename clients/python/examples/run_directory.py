"""Run a command on a directory with the Python SDK (docs/sdk-python.md).

    CROWNEST_URL=http://127.0.0.1:8000 CROWNEST_TOKEN=cn_... \
        python run_directory.py ./my-project out/
"""

import os
import sys

from crownest_client import Client, run_archive


def main(project: str, out_dir: str) -> int:
    with Client(os.environ["CROWNEST_URL"], os.environ["CROWNEST_TOKEN"]) as client:
        result = run_archive(
            client,
            project,
            template="python-node",
            command="python3 build.py && ls dist",
            artifact_paths=["dist/"],
            timeout_seconds=120,
            out_dir=out_dir,
            on_event=lambda e: e.type == "stdout" and print(e.data["text"], end=""),
        )
    print(f"{result.run.id}: {result.status} (exit code {result.exit_code})")
    for artifact in result.artifacts:
        print(f"artifact {artifact.path} sha256 {artifact.sha256}")
    print(f"evidence events sha256 {result.evidence.events['sha256']}")
    return 0 if result.status == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
