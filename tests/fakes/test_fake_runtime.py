"""FakeRuntime keeps the Runtime port's contract, as the Docker adapter does: what the
control plane's unit tests rely on. No engine; each test well under a second."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hostd.control.cancel import CancelScope
from hostd.control.runtime import (
    BuildFailed,
    BuildRefused,
    BuildRequest,
    BuildStopped,
    ContainerMissing,
    EngineError,
    EngineUnavailable,
    ImageMissing,
    ProcessSpec,
    Runtime,
    RuntimeEvent,
)
from tests.fakes import FakeRuntime

IMAGE = "hostd-app/p1:abc"
LABELS = {"hostd.instance": "t", "hostd.project": "p1", "hostd.user": "u1"}
JOIN_S = 2.0  # a bound on joins: a thread that hangs fails the test instead


def spec(**changes: Any) -> ProcessSpec:
    fields: dict[str, Any] = dict(project_id="p1", user_id="u1", image=IMAGE, name="hostd.p1.a",
                                  env={"GREETING": "hi"}, labels=LABELS)
    return ProcessSpec(**(fields | changes))


@pytest.fixture
def fake() -> FakeRuntime:
    return FakeRuntime(images={IMAGE})


def in_thread(fn: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    """Run `fn` on a thread; the list gets what it returned or raised."""
    out: list[object] = []

    def run() -> None:
        try:
            out.append(fn())
        except Exception as exc:
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def actions(fake: FakeRuntime, replica_id: str) -> list[str]:
    return [e.action for e in fake.history() if e.replica_id == replica_id]


def test_the_fake_is_a_runtime_that_runs_inspects_stops_and_removes(fake: FakeRuntime) -> None:
    runtime: Runtime = fake  # mypy checks the fake against the port here
    replica = runtime.run(spec()).first
    assert replica.id.startswith("fake-") and replica.running and replica.state == "running"
    assert (replica.project_id, replica.process, replica.image) == ("p1", "web", IMAGE)
    assert dict(replica.labels) == LABELS and replica.exit_code is None
    assert replica.address is not None and replica.address.host == "127.0.0.1"
    assert fake.env_of(replica.id) == {"GREETING": "hi"}
    other = runtime.run(spec(name="hostd.p1.b")).first
    assert other.host_port != replica.host_port
    runtime.stop(replica.id)
    stopped = runtime.inspect(replica.id)
    assert stopped is not None and (stopped.state, stopped.exit_code) == ("exited", 0)
    assert actions(fake, replica.id) == ["start", "kill", "die", "stop"]
    assert {r.id for r in runtime.replicas("p1")} == {replica.id, other.id}
    assert runtime.remove(replica.id) is True and runtime.remove(replica.id) is False
    assert runtime.inspect(replica.id) is None
    with pytest.raises(ContainerMissing, match="No such container"):
        runtime.stop(replica.id)
    assert fake.calls_of("stop") == [(replica.id, 10)] * 2  # the refused one too


def test_run_needs_the_image_and_a_free_name(fake: FakeRuntime) -> None:
    with pytest.raises(ImageMissing):
        fake.run(spec(image="hostd-app/p1:never-built"))
    group = fake.run(spec(replicas=2))
    assert len({r.id for r in group.replicas}) == 2
    assert len({r.host_port for r in group.replicas}) == 2
    with pytest.raises(EngineError, match="already in use"):
        fake.run(spec(replicas=2))


def test_a_stop_past_sigterm_kills_twice_and_exits_137(fake: FakeRuntime) -> None:
    replica = fake.run(spec()).first
    fake.ignores_sigterm(replica.id)
    fake.stop(replica.id, timeout_s=1)
    assert actions(fake, replica.id) == ["start", "kill", "kill", "die", "stop"]
    assert [e.exit_code for e in fake.history() if e.action == "die"] == [137]


def test_a_crash_is_an_oom_then_a_die_on_the_event_stream(fake: FakeRuntime) -> None:
    replica = fake.run(spec()).first
    events = fake.events()
    fake.crash(replica.id, exit_code=137, oom=True)
    assert [next(events), next(events)] == [
        RuntimeEvent("oom", replica.id, "p1"), RuntimeEvent("die", replica.id, "p1", 137)]
    crashed = fake.inspect(replica.id)
    assert crashed is not None and crashed.oom_killed and crashed.state == "exited"
    assert fake.wait_serving(replica.id, 0.1)[0] == (
        "the app ran out of memory and was killed (exit code 137) while starting")


def test_an_engine_that_goes_away_ends_events_and_answers_nothing_until_back(
        fake: FakeRuntime) -> None:
    events = fake.events()
    thread, out = in_thread(lambda: list(events))
    replica = fake.run(spec()).first
    fake.go_away()
    thread.join(JOIN_S)
    assert not thread.is_alive() and isinstance(out[0], EngineUnavailable)
    assert not fake.reachable()
    for call in (lambda: fake.inspect(replica.id), lambda: fake.run(spec(name="x")),
                 fake.events, lambda: fake.wait_exit(replica.id, 0.1), fake.data_owners):
        with pytest.raises(EngineUnavailable):
            call()
    fake.come_back()
    assert fake.reachable() and fake.inspect(replica.id) is not None
    events = fake.events()
    fake.stop(replica.id)
    assert next(events).action == "kill"


def test_a_wait_under_way_when_the_engine_goes_away_ends_with_no_code(
        fake: FakeRuntime) -> None:
    job = fake.run_once(spec(name="job", command=["sleep", "60"]))
    thread, out = in_thread(lambda: fake.wait_exit(job.id, 30.0))
    until_waiting = time.monotonic() + JOIN_S
    while len(fake.calls_of("wait_exit")) < 1 and time.monotonic() < until_waiting:
        time.sleep(0.01)
    fake.go_away()
    thread.join(JOIN_S)
    assert not thread.is_alive() and out == [None]


def test_an_engine_restart_can_take_the_replicas_with_it(fake: FakeRuntime) -> None:
    replica = fake.run(spec()).first
    fake.go_away(kill_replicas=True)
    fake.come_back()
    after = fake.inspect(replica.id)
    assert after is not None and (after.running, after.exit_code) == (False, 137)


def test_a_followed_log_ends_when_closed_from_another_thread(fake: FakeRuntime) -> None:
    replica = fake.run(spec()).first
    for line in ("one", "two", "three"):
        fake.write_log(replica.id, line)
    follower = fake.follow_logs(replica.id, tail=2)
    lines: list[str] = []
    seen_four = threading.Event()

    def read() -> None:
        for line in follower.lines():
            lines.append(line.text)
            if line.text == "four":
                seen_four.set()

    thread, _ = in_thread(read)
    fake.write_log(replica.id, "four")
    assert seen_four.wait(JOIN_S)
    follower.close()
    thread.join(JOIN_S)
    assert not thread.is_alive() and lines == ["two", "three", "four"]
    assert list(fake.logs(replica.id, tail=1)) == ["four"]


def test_a_followed_log_ends_when_the_replica_stops(fake: FakeRuntime) -> None:
    replica = fake.run(spec()).first
    fake.write_log(replica.id, "up")
    follower = fake.follow_logs(replica.id, tail=10)
    thread, out = in_thread(lambda: [line.text for line in follower.lines()])
    fake.stop(replica.id)
    thread.join(JOIN_S)
    assert out == [["up"]]


def test_wait_serving_says_why_a_replica_never_served(fake: FakeRuntime) -> None:
    healthy = fake.run(spec()).first
    assert fake.wait_serving(healthy.id, 1.0) == (None, healthy.address)
    fake.exit_on_start(IMAGE, 3)
    dead = fake.run(spec(name="b")).first
    assert fake.wait_serving(dead.id, 1.0) == (
        "the app exited with code 3 while starting", None)
    assert actions(fake, dead.id) == ["start", "die"]
    fake.clear_faults()
    fake.never_serves()
    silent = fake.run(spec(name="c")).first
    assert fake.wait_serving(silent.id, 0.3) == (
        "the app did not answer HTTP on $PORT (8000) within 0s: make it listen on "
        "0.0.0.0:$PORT", None)
    fake.answers_with(503, "p1")
    failing = fake.run(spec(name="d")).first
    assert fake.wait_serving(failing.id, 0.2, "/health") == (
        "the app answered 503 on /health for 0s: a health check needs an answer below 500",
        None)
    threading.Timer(0.05, fake.vanish, [silent.id]).start()
    assert fake.wait_serving(silent.id, 1.0) == (
        "the container disappeared while starting", None)


def test_a_slow_start_serves_late_and_never_past_the_timeout(fake: FakeRuntime) -> None:
    fake.slow_start(0.2, "p1")
    slow = fake.run(spec()).first
    assert fake.wait_serving(slow.id, 2.0) == (None, slow.address)
    fake.slow_start(3.0)
    slower = fake.run(spec(name="b")).first
    started = time.monotonic()
    reason, address = fake.wait_serving(slower.id, 0.2)
    assert address is None and reason is not None and "did not answer HTTP" in reason
    assert time.monotonic() - started < 2.5  # it gave up at its timeout, not at 3 s


def test_one_off_runs_exit_as_scripted_or_when_finished(fake: FakeRuntime) -> None:
    fake.script_command(["python", "manage.py"], exit_code=1, output=["migrations failed"])
    release = fake.run_once(spec(name="release", command=["python", "manage.py", "migrate"]))
    assert release.address is None
    assert fake.wait_exit(release.id, 1.0) == 1
    assert list(fake.logs(release.id, tail=10)) == ["migrations failed"]
    job = fake.run_once(spec(name="job", command=["sleep", "60"]))
    assert fake.wait_exit(job.id, 0.1) is None
    threading.Timer(0.05, fake.finish, [job.id, 0]).start()
    assert fake.wait_exit(job.id, JOIN_S) == 0
    assert {release.id, job.id} <= {r.id for r in fake.replicas()}
    # As on the engine (they carry hostd.run-of, not hostd.project): no project's replicas.
    assert release.project_id is None and fake.replicas("p1") == []
    assert {e.project_id for e in fake.history()} == {None}


def build_request(tmp_path: Path, log: list[str], cancel: CancelScope | None = None,
                  ) -> BuildRequest:
    return BuildRequest(deployment_id="d1", project_id="p1", checkout=tmp_path,
                        workdir=tmp_path, template="flask", tag="hostd-app/p1:d1",
                        labels={"hostd.project": "p1"}, on_log=log.append,
                        cancel=cancel)


def test_a_build_adds_its_image_and_reports_its_stages(fake: FakeRuntime, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM hostd/python:3.13\n")
    log: list[str] = []
    stages: list[str] = []
    built = fake.build(build_request(tmp_path, log), stages.extend)
    assert built.tag == "hostd-app/p1:d1" and built.uses_repo_dockerfile
    assert log and len(stages) == 2
    assert fake.image_exists(built.tag) and fake.image_labels(built.tag) == {"hostd.project": "p1"}
    assert fake.project_images("p1") == [built.tag]
    assert fake.instance_images() == {"p1": [built.tag]}
    untagged = fake.untagged_among(set(stages))
    assert len(untagged) == 2 and fake.remove_image(untagged[0])
    (tmp_path / "Dockerfile").unlink()
    (tmp_path / "Dockerfile").symlink_to("/etc/hostname")
    assert not fake.build(build_request(tmp_path, log), stages.extend).uses_repo_dockerfile


def test_a_build_fails_or_is_refused_when_told(fake: FakeRuntime, tmp_path: Path) -> None:
    fake.fail_next_build(["Step 2/3 : RUN make", "Killed"], oom=True)
    stages: list[str] = []
    with pytest.raises(BuildFailed) as failed:
        fake.build(build_request(tmp_path, []), stages.extend)
    assert failed.value.oom and failed.value.log_tail[-1] == "Killed" and stages
    assert not fake.image_exists("hostd-app/p1:d1")
    fake.refuse_next_build("Dockerfile: FROM evil/base is not an allowed base")
    with pytest.raises(BuildRefused, match="not an allowed base"):
        fake.build(build_request(tmp_path, []), stages.extend)


def test_a_slow_build_stops_when_its_deploy_is_cancelled(
        fake: FakeRuntime, tmp_path: Path) -> None:
    scope = CancelScope()
    fake.slow_next_build(3.0)
    threading.Timer(0.05, scope.cancel, ["redeployed"]).start()
    with pytest.raises(BuildStopped) as stopped:
        fake.build(build_request(tmp_path, [], scope), lambda ids: None)
    assert stopped.value.cancelled and str(stopped.value) == "redeployed"


def test_images_and_data_in_use_are_kept(fake: FakeRuntime) -> None:
    replica = fake.run(spec()).first
    assert fake.data_owners() == {"p1"} and fake.networks() == {"u1"}
    with pytest.raises(EngineError, match="in use"):
        fake.remove_data("p1")
    with pytest.raises(EngineError, match="is using its referenced image"):
        fake.remove_image(IMAGE)
    fake.remove_unused_networks(set())
    assert fake.networks() == {"u1"}  # a running replica holds it
    fake.remove(replica.id)
    fake.remove_data("p1")
    fake.remove_unused_networks({"u2"})
    assert fake.data_owners() == set() and fake.networks() == set()
    assert fake.remove_image(IMAGE) and not fake.remove_image(IMAGE)


def test_usage_reads_the_counters_a_test_sets(fake: FakeRuntime) -> None:
    replica = fake.run(spec()).first
    fake.set_usage(replica.id, cpu_ns=5_000, memory_bytes=2**20)
    reading = fake.usage({replica.id, "fake-gone"}, 1.0)
    assert set(reading) == {replica.id}
    assert (reading[replica.id].cpu_ns, reading[replica.id].memory_bytes) == (5_000, 2**20)


def test_a_queued_error_fails_the_next_call_only(fake: FakeRuntime) -> None:
    fake.fail_next("run", EngineError("run container x failed: no space left on device"))
    with pytest.raises(EngineError, match="no space"):
        fake.run(spec())
    assert fake.run(spec()).first.running
    assert len(fake.calls_of("run")) == 2
