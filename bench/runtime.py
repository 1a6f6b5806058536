"""What gVisor (runsc) costs against Docker's default runtime (runc), side by side in one run:
container start (`true`), CPU (a Python loop), file writes to a loop-mounted ext4 workspace
(as runs get), and process start (100 × `/bin/true`). Needs Docker with the runsc runtime
(`make setup` registers it). Usage: .venv/bin/python bench/runtime.py [--reps N] [--image IMG]
"""

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

HARDENING = [
    "--network", "none", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
    "--read-only", "--tmpfs", "/tmp:rw,exec,size=64m,mode=1777", "--user", "1000:1000",
    "--init", "--log-driver", "none", "--pids-limit", "256", "--memory", "1g", "--cpus", "1",
]  # fmt: skip
WORKLOADS = {
    "start (true)": "true",
    "cpu (python loop 3e6)": "python3 -c 'sum(i*i for i in range(3_000_000))'",
    "write 256 MiB to /workspace": "dd if=/dev/zero of=/workspace/f bs=1M count=256 2>/dev/null",
    "100 process starts": "for i in $(seq 100); do /bin/true; done",
}


def volume(tmp: Path) -> tuple[str, str]:
    img = tmp / "ws.img"
    subprocess.run(["truncate", "-s", "1G", str(img)], check=True)
    subprocess.run(
        ["mkfs.ext4", "-q", "-F", "-m", "0", "-O", "^has_journal",
         "-E", "root_owner=1000:1000", str(img)], check=True,
    )  # fmt: skip
    dev = subprocess.run(
        ["losetup", "-f", "--show", str(img)], check=True, capture_output=True, text=True
    ).stdout.strip()
    name = f"bench-runtime-{tmp.name}"
    subprocess.run(
        ["docker", "volume", "create", "--opt", "type=ext4", "--opt", f"device={dev}", name],
        check=True, capture_output=True,
    )  # fmt: skip
    return name, dev


def timed(runtime: str, vol: str, image: str, command: str) -> float:
    argv = ["docker", "run", "--rm", "--runtime", runtime, *HARDENING, "-v", f"{vol}:/workspace"]
    start = time.perf_counter()
    subprocess.run([*argv, image, "/bin/sh", "-c", command], check=True, capture_output=True)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--image", default="crownest/python-node:latest")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        vol, dev = volume(Path(tmp))
        try:
            print(f"{'workload':32s} {'runc':>10s} {'runsc':>10s} {'ratio':>7s}   (medians)")
            for label, command in WORKLOADS.items():
                medians = {}
                for runtime in ("runc", "runsc"):
                    timed(runtime, vol, args.image, command)  # warm-up
                    values = [timed(runtime, vol, args.image, command) for _ in range(args.reps)]
                    medians[runtime] = statistics.median(values)
                ratio = medians["runsc"] / medians["runc"]
                print(f"{label:32s} {medians['runc']:9.3f}s {medians['runsc']:9.3f}s {ratio:6.2f}×")
        finally:
            subprocess.run(["docker", "volume", "rm", vol], capture_output=True)
            subprocess.run(["losetup", "-d", dev], capture_output=True)


if __name__ == "__main__":
    main()
