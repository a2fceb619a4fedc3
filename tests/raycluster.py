"""A real two-node Ray cluster on loopback, for tests: `with local_cluster() as cluster: ...`.

Both nodes are `ray start --block` subprocesses on this machine, each in its own session and temp
dir, with a fresh auth token, free ports, and every listener on 127.0.0.1. Drivers are subprocesses
run with `cluster.env`: the test process never calls `ray.init` (it must not become a Ray driver,
and other tests of the same pytest-xdist run may have their own Ray at the same time).

Teardown kills only this cluster's processes, found by session, process group, descendants and
use of the cluster's temp dir (a driver still attached at teardown is one of them). It never runs
`ray stop`, which kills every Ray process of the user. Linux only: it reads /proc.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
SECOND_NODE_RESOURCE = "second_node"  # custom resource of the second node, to pin work there
START_TIMEOUT_S = 90.0  # the two `ray start`s take ~10 s on 2 idle cores; leave room for a busy machine
TERM_GRACE_S = 4.0  # after SIGTERM, how long the `ray start`s may take to stop their nodes (~3 s)

# Ray binds its listeners (GCS, raylet, agents, metrics) to 127.0.0.1 only when the node's IP is
# exactly that, and otherwise to the node's IP or to all interfaces. But `ray start` and ray.init()
# replace 127.0.0.1, as node IP and in an address, with the machine's outward IP, except when this
# variable (meant for Windows and macOS) says Ray runs without a multi-node cluster. So every process
# of the cluster, and every driver, gets it. Only Python reads it (ray_constants.ENABLE_RAY_CLUSTER).
_LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}

# `ray start`, except that _LOOPBACK does not make it refuse to join a cluster ("multi-node Ray
# clusters are not supported on Windows and OSX"): only its own check sees ENABLE_RAY_CLUSTER true.
_RAY_START = """
import sys, types
import ray._private.ray_constants as constants
import ray.scripts.scripts as scripts
scripts.ray_constants = types.SimpleNamespace(**{**vars(constants), "ENABLE_RAY_CLUSTER": True})
sys.argv[0] = "ray"
scripts.main()
"""

# Asks the GCS, from a subprocess (the test process must not become a Ray client), for the total
# resources of each alive node, as JSON: once argv[2] nodes are alive or argv[3] seconds passed.
_ALIVE_NODES = """
import json, sys, time
from ray._raylet import GcsClient
from ray.core.generated.gcs_pb2 import GcsNodeInfo
address, want, deadline = sys.argv[1], int(sys.argv[2]), time.monotonic() + float(sys.argv[3])
while True:
    try:
        infos = GcsClient(address=address).get_all_node_info(
            timeout=5, state_filter=GcsNodeInfo.GcsNodeState.ALIVE).values()
        nodes = [dict(info.resources_total) for info in infos]
    except Exception:  # the GCS does not answer yet
        nodes = []
    if len(nodes) >= want or time.monotonic() > deadline:
        print(json.dumps(nodes))
        break
    time.sleep(0.2)
"""


@dataclass
class Cluster:
    """A running cluster: where it is, how a driver joins it, and the second node's fate."""

    address: str  # "127.0.0.1:PORT" of the head's GCS
    env: dict[str, str]  # os.environ plus what a driver subprocess needs to join: RAY_ADDRESS, token...
    temp_dir: Path  # the nodes' temp dirs head/ and node2/ (sessions, logs, sockets) and their output
    head: subprocess.Popen[bytes]  # `ray start --head --block`
    worker: subprocess.Popen[bytes]  # `ray start --address ... --block` of the second node

    def kill_worker_node(self) -> None:
        """SIGKILL every process of the second node (`ray start`, the raylet with its object store,
        agents, workers), as a machine crash would; the head and the drivers keep running. The GCS
        marks the node dead within about a second; Ray retries its tasks (Ray Data's too) elsewhere."""
        _kill_all({self.worker.pid}, self.temp_dir / "node2")
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.worker.wait(5)

    def worker_node_alive(self) -> bool:
        """Whether the second node's `ray start` and raylet run (`ray start --block` stops the whole
        node within a second when one of its processes dies)."""
        return self.worker.poll() is None and any(
            Path(args[0]).name == "raylet" for args in _args_of(_pids_of({self.worker.pid}, self.temp_dir / "node2")))

    def worker_node_processes(self) -> list[str]:
        """The process names of the second node: Ray names a worker after what it runs
        (`ray::MapBatches(...)` for a Ray Data task, `ray::MapWorker(...)` for an actor)."""
        return [args[0] for args in _args_of(_pids_of({self.worker.pid}, self.temp_dir / "node2")) if args]

    def alive_nodes(self, wait_for: int = 0, timeout: float = 0.0) -> list[dict[str, float]]:
        """The total resources of each node that the GCS counts as alive: at once, or as soon as at
        least `wait_for` are, or after `timeout` seconds."""
        out = subprocess.run([sys.executable, "-c", _ALIVE_NODES, self.address, str(wait_for), str(timeout)],
                             env=self.env, capture_output=True, text=True, timeout=timeout + 60)
        lines = out.stdout.strip().splitlines()
        return json.loads(lines[-1]) if out.returncode == 0 and lines else []


@contextlib.contextmanager
def local_cluster(head_cpus: int = 4, worker_cpus: int = 2, object_store_bytes: int = 300 * 2**20) -> Iterator[Cluster]:
    """Start a head and a second node (which alone has the resource `second_node`), wait until the
    GCS counts both alive, yield the cluster, and on exit, whether the test passed or not, kill all
    of it and remove its temp dir."""
    temp_dir = Path(tempfile.mkdtemp(prefix="lzr", dir="/tmp"))  # short: unix socket paths max 107 chars
    port = _free_port()
    token = secrets.token_hex(32)
    env = _cluster_env(token)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        head = _ray_start(temp_dir / "head", env, "--head", f"--port={port}", *_head_only_flags(),
                          f"--num-cpus={head_cpus}", f"--object-store-memory={object_store_bytes}")
        procs.append(head)
        _wait_for_port(port, head, temp_dir)  # a joining node needs the head's GCS
        worker = _ray_start(temp_dir / "node2", env, f"--address={HOST}:{port}",
                            f"--num-cpus={worker_cpus}", f"--object-store-memory={object_store_bytes}",
                            "--resources", json.dumps({SECOND_NODE_RESOURCE: 100}))
        procs.append(worker)
        cluster = Cluster(f"{HOST}:{port}", os.environ | _driver_env(token, port), temp_dir, head, worker)
        _wait_for_nodes(cluster)
        yield cluster
    finally:
        _teardown(procs, temp_dir)


def _cluster_env(token: str) -> dict[str, str]:
    """Environment of both `ray start`s, which pass it on to their nodes' processes and workers."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # a test's RAY_ADDRESS is not ours
    return env | _LOOPBACK | {
        # Our own token, explicitly: without RAY_AUTH_MODE, `ray start --head` turns token auth on
        # only if ~/.ray/auth_token exists, and a joining node never does, so they would disagree.
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": token,
        "RAY_DISABLE_USAGE_STATS": "1",
        "RAY_worker_niceness": "0",  # Ray's workers run at nice 15 by default: slow on a busy machine
        # On SIGTERM `ray start --block` drains the node for up to 30 s first; 0 stops it at once.
        "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0",
    }


def _driver_env(token: str, port: int) -> dict[str, str]:
    """What a driver subprocess needs on top of os.environ: ray.init() reads RAY_ADDRESS (kept as
    127.0.0.1 only with _LOOPBACK), and an explicit address never turns token auth on by itself."""
    return _LOOPBACK | {"RAY_ADDRESS": f"{HOST}:{port}", "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token,
                        "RAY_DISABLE_USAGE_STATS": "1", "RAY_worker_niceness": "0"}


def _head_only_flags() -> list[str]:
    flags = ["--include-dashboard=false", f"--dashboard-host={HOST}"]
    if importlib.util.find_spec("grpc") is not None:
        # With grpcio installed the head also starts a Ray Client server, on 10001 by default: two
        # clusters would collide. (Without grpcio, Ray refuses the flag.)
        flags.append(f"--ray-client-server-port={_free_port()}")
    return flags


def _ray_start(temp_dir: Path, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    """`ray start --block` of one node in its own session, so that its process group can be
    signalled as one, and its own temp dir, by which its processes can be told apart."""
    temp_dir.mkdir()
    with (temp_dir.parent / f"{temp_dir.name}.log").open("wb") as log:
        return subprocess.Popen([sys.executable, "-c", _RAY_START, "start", "--block", "--disable-usage-stats",
                                 f"--temp-dir={temp_dir}", f"--node-ip-address={HOST}", *args],
                                env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=_die_with_parent())


def _die_with_parent() -> Callable[[], object]:
    """A preexec_fn that has the kernel SIGKILL the child when this thread dies, even by SIGKILL
    (a crashed or killed pytest worker): `ray start` takes the rest of its node with it."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork, not in the child
    return lambda: prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, head: subprocess.Popen[bytes], temp_dir: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1):
            return
        _check_running(head, temp_dir)
        time.sleep(0.2)
    raise TimeoutError(f"Ray head's GCS not listening on {HOST}:{port} after {START_TIMEOUT_S:.0f} s\n{_logs(temp_dir)}")


def _wait_for_nodes(cluster: Cluster) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        nodes = cluster.alive_nodes(wait_for=2, timeout=5)
        if len(nodes) == 2 and any(SECOND_NODE_RESOURCE in node for node in nodes):
            return
        for proc in (cluster.head, cluster.worker):
            _check_running(proc, cluster.temp_dir)
    raise TimeoutError(f"Ray cluster at {cluster.address} has not 2 alive nodes after {START_TIMEOUT_S:.0f} s\n{_logs(cluster.temp_dir)}")


def _check_running(proc: subprocess.Popen[bytes], temp_dir: Path) -> None:
    if proc.poll() is not None:
        raise RuntimeError(f"`ray start` exited with {proc.returncode} while the cluster started\n{_logs(temp_dir)}")


def _logs(temp_dir: Path) -> str:
    """The end of each `ray start`'s output, for an error message."""
    return "\n".join(f"--- {p.name}:\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(temp_dir.glob("*.log")))


def _teardown(procs: list[subprocess.Popen[bytes]], temp_dir: Path) -> None:
    """SIGTERM each node's process group (a graceful stop tidies up shared memory), then SIGKILL
    whatever of the cluster is left, and remove its temp dir. A few seconds in all."""
    for proc in procs:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + TERM_GRACE_S
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(max(0.0, deadline - time.monotonic()))
    _kill_all({proc.pid for proc in procs}, temp_dir)
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)  # reap: no zombie of ours outlives the test
    shutil.rmtree(temp_dir, ignore_errors=True)


def _kill_all(sessions: set[int], directory: Path, rounds: int = 20) -> None:
    """SIGKILL what _pids_of finds, again until nothing is left: a raylet may be forking a worker."""
    for _ in range(rounds):
        pids = _pids_of(sessions, directory)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)


def _pids_of(sessions: set[int], directory: Path) -> set[int]:
    """Live processes whose session or process group is one of `sessions`, or that use `directory`
    (in an argument, as working dir or an open file), with all their descendants; never this process
    or its ancestors. Ray's actors get their own process group, and Ray's workers rename themselves
    (`ray::IDLE`) over their arguments, but they keep their log files open in the session dir."""
    procs = {pid: info for pid in _all_pids() if (info := _proc_info(pid)) is not None}
    found = {pid for pid, (_, pgid, sid, uses) in procs.items()
             if pgid in sessions or sid in sessions or any(_inside(use, str(directory)) for use in uses)}
    children: dict[int, list[int]] = {}
    for pid, (ppid, *_) in procs.items():
        children.setdefault(ppid, []).append(pid)
    todo = list(found)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found - _self_and_ancestors()


def _inside(text: str, directory: str) -> bool:
    """Whether `text` names `directory` or a path in it (/tmp/lzrX2 is not in /tmp/lzrX)."""
    start = text.find(directory)
    while start >= 0:
        if text[start + len(directory) : start + len(directory) + 1] in ("", "/"):
            return True
        start = text.find(directory, start + 1)
    return False


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _proc_info(pid: int) -> tuple[int, int, int, list[str]] | None:
    """(ppid, pgid, sid, [each argument, working dir, each open file]) of a live process, or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        state, ppid, pgid, sid = stat[stat.rindex(")") + 2 :].split()[:4]  # the name may hold spaces and ')'
        if state in ("Z", "X"):  # dead already: its parent reaps it
            return None
        uses = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
        with contextlib.suppress(OSError):
            uses.append(os.readlink(f"/proc/{pid}/cwd"))
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    uses.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        return int(ppid), int(pgid), int(sid), uses
    except (OSError, ValueError):
        return None  # gone meanwhile, or not ours to read


def _args_of(pids: set[int]) -> list[list[str]]:
    args = []
    for pid in pids:
        with contextlib.suppress(OSError):
            args.append(Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0"))
    return args


def _self_and_ancestors() -> set[int]:
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        info = _proc_info(pid)
        pid = info[0] if info else 0
    return pids
