"""Requests/s through hostd's router to 1 vs N replicas of a CPU-bound app (issue 26).

    .venv/bin/python bench/replicas.py [--mode processes|containers] [--replicas 3]
        [--seconds 5] [--rounds 3] [--concurrency 12] [--work 8000] [--workers 1]
    .venv/bin/python bench/replicas.py --hostd …   (a real hostd project: replicas_hostd.py)

The app answers each GET after `--work` rounds of PBKDF2-SHA256 (a few ms of one CPU);
its replicas are either processes each pinned to one CPU (`processes`, the default:
os.sched_setaffinity, replica i on CPU i mod the CPUs this bench may use) or containers of
hostd/python:3.13 limited to one CPU each (`containers`: --cpus 1, published on 127.0.0.1,
labelled hostd.bench=<run id> and removed at the end).

The router is the real one as the daemon runs it: `--workers` router worker processes
(hostd.router.pool.WorkerPool) reading their routes from a real, migrated hostd database
(SQLite in a temporary folder) where the project has a `process_replicas` row per
replica. First only web.1 is serving, then all of them (the control plane's switch: rows
updated, then a `status_changed` to the workers), in turns for `--rounds` rounds. Each
phase: a second of warm-up, then `--concurrency` keep-alive clients for `--seconds`.
Prints per phase req/s, failures, the CPU the replicas used (in cores: CPU seconds per
second), the router's and the load client's CPU per request, and the requests each
replica answered; then the medians and their ratio. On a busy machine the app's cores
show how much CPU the replicas could get: the ratio is bounded by theirs. "Spare CPU"
(before and after: a busy loop pinned to each CPU for a second, their CPU seconds summed)
says how much the machine had to give. Asserts nothing. Every loop is bounded in count
and time; the replicas exit by themselves after MAX_LIFE_S.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Engine, update
from sqlmodel import Session, col

from hostd.events import STATUS_CHANGED, Event
from hostd.router.counts import RequestCounter
from hostd.router.pool import WorkerPool
from hostd.store import db
from hostd.store.models import ProcessReplica, Project, User
from tests.support import free_port

RUN_ID = uuid.uuid4().hex[:8]
MAX_LIFE_S = 600  # a replica exits after this long whatever happens to the bench
MAX_REQUESTS = 1_000_000
HOST = "cpu.bench.localhost"
IMAGE = "hostd/python:3.13"
TICKS = os.sysconf("SC_CLK_TCK")
Replicas = tuple[list[int], list[int]]  # their ports, their processes' pids
# The app: stdlib only, so the same source runs as a process and in the image.
APP = r"""
import asyncio, hashlib, sys
port, work, name = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].encode()
bind, life = sys.argv[4], float(sys.argv[5])
answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(name), name)
class App(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buffer = transport, b""
    def data_received(self, data):
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            _, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
            hashlib.pbkdf2_hmac("sha256", b"hostd", b"bench", work)
            self.transport.write(answer)
async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(App, bind, port)
    loop.call_later(life, server.close)
    async with server:
        await server.wait_closed()
asyncio.run(main())
"""


# --- replicas -------------------------------------------------------------------------------

@contextlib.contextmanager
def process_replicas(count: int, work: int) -> Iterator[Replicas]:
    """`count` app processes on loopback ports, each pinned to one CPU; killed after."""
    cpus = sorted(os.sched_getaffinity(0))
    made: list[subprocess.Popen[bytes]] = []
    ports = [free_port() for _ in range(count)]
    try:
        for index, port in enumerate(ports):
            process = subprocess.Popen(
                [sys.executable, "-c", APP, str(port), str(work), f"web.{index + 1}",
                 "127.0.0.1", str(MAX_LIFE_S)], stdin=subprocess.DEVNULL)
            made.append(process)
            os.sched_setaffinity(process.pid, {cpus[index % len(cpus)]})
        for port in ports:
            wait_port(port)
        yield ports, [process.pid for process in made]
    finally:
        for process in made:
            process.kill()
            process.wait(10)


@contextlib.contextmanager
def container_replicas(count: int, work: int) -> Iterator[Replicas]:
    """`count` containers of the app, one CPU each, on ports published on 127.0.0.1."""
    import docker

    client = docker.from_env()
    made = []
    try:
        for index in range(count):
            made.append(client.containers.run(
                IMAGE, ["python3", "-c", APP, "8000", str(work), f"web.{index + 1}",
                        "0.0.0.0",  # noqa: S104 - in the container; published on 127.0.0.1
                        str(MAX_LIFE_S)],
                detach=True, labels={"hostd.bench": RUN_ID}, nano_cpus=1_000_000_000,
                mem_limit="256m", pids_limit=64, ports={"8000/tcp": ("127.0.0.1", None)}))
        ports, pids = [], []
        for container in made:
            container.reload()
            ports.append(int(container.attrs["NetworkSettings"]["Ports"]["8000/tcp"][0]
                             ["HostPort"]))
            pids.append(int(container.attrs["State"]["Pid"]))  # the app is its process 1
        for port in ports:
            wait_port(port)
        yield ports, pids
    finally:
        for container in made:
            with contextlib.suppress(docker.errors.APIError):
                container.remove(force=True)
        client.close()


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of these processes (0 for one that is gone)."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def router_pids() -> list[int]:
    """This bench's router worker processes."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == os.getpid() and \
                    b"hostd.router.worker" in (stat.parent / "cmdline").read_bytes():
                pids.append(int(stat.parent.name))
    return pids


BURN = "import time\nend = time.monotonic() + 1\nwhile time.monotonic() < end: pass\n" \
    "print(time.process_time())"


def spare_cores() -> float:
    """How much CPU this machine can give right now: one busy loop pinned to each CPU for a
    second, their CPU seconds summed (2.0 on an idle 2-core machine)."""
    loops = []
    for cpu in sorted(os.sched_getaffinity(0)):
        loop = subprocess.Popen([sys.executable, "-c", BURN], stdout=subprocess.PIPE)
        os.sched_setaffinity(loop.pid, {cpu})
        loops.append(loop)
    return sum(float(loop.communicate(timeout=30)[0]) for loop in loops)


def wait_port(port: int, timeout_s: float = 30.0) -> None:
    """Until the app on `port` answers a request."""
    async def once() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            await exchange(reader, writer, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        finally:
            writer.close()

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            asyncio.run(asyncio.wait_for(once(), 5))
            return
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the app on port {port} never answered") from None
            time.sleep(0.1)


# --- the database the router reads ------------------------------------------------------------

def make_database(folder: Path, ports: list[int]) -> tuple[str, Engine]:
    """A migrated hostd database with one running project and a web replica per port."""
    uri = f"sqlite:///{folder / 'hostd.db'}"
    engine = db.make_engine(uri, 2)
    db.migrate(engine)
    with Session(engine) as session:
        user = User(email="bench@example.com", name="Bench", handle="bench", password_hash="x")  # noqa: S106
        session.add(user)
        session.commit()
        project = Project(user_id=user.id, name="cpu", template="flask", status="running",
                          github_url="https://example.com/cpu.git", container_id="bench",
                          host_port=ports[0], release_version=1)
        session.add(project)
        session.commit()
        session.add_all(ProcessReplica(id=f"bench-web-{n}", project_id=project.id,
                                       process="web", number=n, release_version=1,
                                       host_port=port, serving=n == 1)
                        for n, port in enumerate(ports, start=1))
        session.commit()
    return uri, engine


def serve_replicas(engine: Engine, serving: int) -> None:
    """web.1 … web.`serving` serving, the others not (as the control plane would)."""
    with Session(engine) as session:
        session.execute(update(ProcessReplica).values(
            serving=col(ProcessReplica.number) <= serving))
        session.commit()


# --- load -----------------------------------------------------------------------------------

async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                   request: bytes) -> tuple[int, bytes]:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return int(head[9:12]), await reader.readexactly(length)


async def load(port: int, concurrency: int, seconds: float,
               host: str = HOST) -> tuple[float, int, Counter[str]]:
    """(requests/s, failures, answers per replica) of `concurrency` keep-alive clients."""
    request = f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    answered: Counter[str] = Counter()
    failed = 0
    deadline = time.monotonic() + seconds

    async def client() -> None:
        nonlocal failed
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.monotonic() < deadline and answered.total() + failed < MAX_REQUESTS:
                status, body = await exchange(reader, writer, request)
                if status == 200:
                    answered[body.decode()] += 1
                else:
                    failed += 1
        except (OSError, asyncio.IncompleteReadError):
            failed += 1
        finally:
            writer.close()

    started = time.monotonic()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return answered.total() / (time.monotonic() - started), failed, answered


async def phases(args: argparse.Namespace, uri: str, engine: Engine,
                 app_pids: list[int]) -> dict[int, list[float]]:
    """Rates per serving count: the phases take turns (1, N, N, 1, …), so both see the
    same machine (the other work on it comes and goes)."""
    router_port = free_port()
    pool = WorkerPool("127.0.0.1", router_port, args.workers, uri, RequestCounter())
    await pool.start()
    routers = router_pids()
    rates: dict[int, list[float]] = {1: [], args.replicas: []}
    try:
        for round_ in range(args.rounds):
            for serving in (1, args.replicas) if round_ % 2 == 0 else (args.replicas, 1):
                await asyncio.to_thread(serve_replicas, engine, serving)
                pool.on_event(Event(0, STATUS_CHANGED, "bench", {}))
                await load(router_port, args.concurrency, 1.0)  # warm-up
                app_cpu, router_cpu = cpu_seconds(app_pids), cpu_seconds(routers)
                own_cpu = time.process_time()
                rate, failed, answered = await load(router_port, args.concurrency,
                                                    args.seconds)
                app_cores = (cpu_seconds(app_pids) - app_cpu) / args.seconds
                done = max(answered.total(), 1)
                router_ms = (cpu_seconds(routers) - router_cpu) * 1000 / done
                client_ms = (time.process_time() - own_cpu) * 1000 / done
                shares = ", ".join(f"{name}={n}" for name, n in sorted(answered.items()))
                print(f"{round_ + 1:>5} {serving:>8} {rate:>9.1f} {failed:>6} {app_cores:>9.2f} "
                      f"{router_ms:>9.3f} {client_ms:>9.3f}   {shares}", flush=True)
                rates[serving].append(rate)
    finally:
        await pool.stop()
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("processes", "containers"), default="processes")
    parser.add_argument("--hostd", action="store_true",
                        help="a real hostd project scaled web=1 / web=N (bench/replicas_hostd.py)")
    parser.add_argument("--replicas", type=int, default=3, choices=range(2, 9))
    parser.add_argument("--seconds", type=float, default=5.0, help="per phase")
    parser.add_argument("--rounds", type=int, default=3, choices=range(1, 11))
    parser.add_argument("--concurrency", type=int, default=12, choices=range(1, 129))
    parser.add_argument("--work", type=int, default=8000, help="PBKDF2 rounds per request")
    parser.add_argument("--workers", type=int, default=1, choices=range(1, 9),
                        help="router worker processes")
    args = parser.parse_args()
    args.seconds = min(max(args.seconds, 1.0), 120.0)
    if args.hostd:
        from replicas_hostd import run_hostd
        run_hostd(args)
        return
    replicas = process_replicas if args.mode == "processes" else container_replicas
    cpus = len(os.sched_getaffinity(0))
    print(f"{args.mode}: {args.replicas} replicas, {cpus} CPUs, {args.workers} router "
          f"worker(s), {args.concurrency} clients, {args.rounds} rounds of "
          f"{args.seconds:g} s per phase")
    print(f"spare CPU before: {spare_cores():.2f} cores")
    print(f"{'round':>5} {'replicas':>8} {'req/s':>9} {'failed':>6} {'app cores':>9} "
          f"{'router ms':>9} {'client ms':>9}   answered by")
    with replicas(args.replicas, args.work) as (ports, pids), \
            tempfile.TemporaryDirectory(prefix="hostd-bench-") as folder:
        uri, engine = make_database(Path(folder), ports)
        try:
            rates = asyncio.run(phases(args, uri, engine, pids))
        finally:
            engine.dispose()
    print(f"spare CPU after: {spare_cores():.2f} cores")
    one, many = statistics.median(rates[1]), statistics.median(rates[args.replicas])
    print(f"median req/s: 1 replica {one:.1f}, {args.replicas} replicas {many:.1f}; "
          f"ratio {many / one:.2f}x")


if __name__ == "__main__":
    main()
