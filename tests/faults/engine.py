"""A Docker engine of the suite's own, to restart in the middle of a run without touching the engine
everybody else on the machine uses.

It is started the way scripts/ensure-docker.sh starts the machine's (dockerd in the background, no
systemd; ready once `docker info` answers), with its own socket, data and exec roots and a bridge of
its own (the default bridge's name, docker0, belongs to the machine's engine), gVisor's runsc
registered as in scripts/bootstrap.sh. The runner and assignment images are copied in with
`docker save | docker load`, so nothing needs building or pulling.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

RUNSC = {"runsc": {"path": "/usr/bin/runsc", "runtimeArgs": ["--network=none"]}}


@dataclass
class PrivateEngine:
    dir: Path
    bridge: str
    process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"unix://{self.dir / 'docker.sock'}"

    def _args(self) -> list[str]:
        return [
            "dockerd",
            "--host", self.host,
            "--data-root", str(self.dir / "data"),
            "--exec-root", str(self.dir / "exec"),
            "--pidfile", str(self.dir / "docker.pid"),
            "--config-file", str(self.dir / "daemon.json"),
            "--bridge", self.bridge,
            "--iptables=false",
            "--ip6tables=false",
            "--ip-masq=false",
        ]  # fmt: skip

    def docker(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["docker", "-H", self.host, *args], capture_output=True, text=True, timeout=timeout)

    def start(self) -> None:
        log = (self.dir / "dockerd.log").open("ab")
        self.process = subprocess.Popen(self._args(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.docker("info", timeout=10).returncode == 0:
                return
            assert self.process.poll() is None, (self.dir / "dockerd.log").read_text()[-3000:]
            time.sleep(0.5)
        raise AssertionError("the private dockerd did not answer `docker info` within 60 s")

    def stop(self) -> None:
        """SIGTERM, as a service manager stops it: the engine stops its containers, then exits."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def load(self, *tags: str) -> None:
        """Copy images from the machine's engine (the default DOCKER_HOST) into this one."""
        saver = subprocess.Popen(["docker", "save", *tags], stdout=subprocess.PIPE)
        loaded = subprocess.run(["docker", "-H", self.host, "load", "-q"], stdin=saver.stdout, capture_output=True)
        assert saver.wait(timeout=300) == 0 and loaded.returncode == 0, loaded.stderr


@contextmanager
def private_engine() -> Iterator[PrivateEngine]:
    # A short folder: a unix socket's path may be at most 107 bytes.
    folder = Path(tempfile.mkdtemp(prefix="gfe-", dir="/tmp"))
    bridge = f"gfe{os.getpid() % 1_000_000}"
    subnet = f"10.253.{os.getpid() % 250}.1/24"
    (folder / "daemon.json").write_text(json.dumps({"runtimes": RUNSC}))
    subprocess.run(["ip", "link", "add", "name", bridge, "type", "bridge"], check=True)
    engine = PrivateEngine(folder, bridge)
    try:
        subprocess.run(["ip", "addr", "add", subnet, "dev", bridge], check=True)
        subprocess.run(["ip", "link", "set", bridge, "up"], check=True)
        engine.start()
        yield engine
    finally:
        engine.stop()
        subprocess.run(["ip", "link", "del", bridge], check=False)
        subprocess.run(["umount", "-R", str(folder / "data")], check=False, capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
