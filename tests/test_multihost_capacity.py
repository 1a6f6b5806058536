"""Two worker hosts taking work at once under fair dispatch: each host lends 2 CPUs
(CROWNEST_HOST_CPUS) and has 2 slots; runs that ask for 2 CPUs each run one per host at a time,
both hosts at once, while the rest wait queued."""

from unittest import mock

import pytest

from runs import tasks
from runs.models import Run, WorkerHost

from .helpers import to_queue, wait_for_idle_worker, wait_until, worker_process
from .test_multihost import HOSTS, QUEUE, SLOTS, engine_b, host_env  # noqa: F401 (engine_b)

pytestmark = [pytest.mark.docker, pytest.mark.multihost]


@pytest.fixture
def lending_hosts(worker, engine_b, tmp_path):  # noqa: F811
    WorkerHost.objects.filter(name__in=HOSTS).delete()
    lend = {"CROWNEST_HOST_CPUS": "2"}
    with (
        worker_process(
            QUEUE, tmp_path / "a", {**host_env("mh-a"), **lend}, concurrency=SLOTS, name="cap-a"
        ),
        worker_process(
            QUEUE,
            tmp_path / "b",
            {**host_env("mh-b", engine_b), **lend},
            concurrency=SLOTS,
            name="cap-b",
        ),
        mock.patch.object(tasks.execute_run, "delay_on_commit", to_queue(QUEUE)),
    ):
        wait_until(lambda: WorkerHost.objects.filter(name__in=HOSTS, cpus=2).count() == 2)
        yield
        wait_for_idle_worker()


def test_each_host_takes_only_what_fits_and_both_take_at_once(runs, lending_hosts):
    ids = [
        runs.submit({"a.txt": "a"}, command="sleep 3", resources={"cpus": 2})["id"]
        for _ in range(4)
    ]

    def both_hosts_busy():
        running = Run.objects.filter(pk__in=ids, status="running")
        return sorted(running.values_list("worker_host", flat=True)) == ["mh-a", "mh-b"]

    wait_until(both_hosts_busy, timeout=60)  # both hosts, one run each, at once
    assert Run.objects.filter(pk__in=ids, status="queued").count() == 2  # a slot free each
    done = [runs.wait(i, timeout=120) for i in ids]
    assert {d["status"] for d in done} == {"succeeded"}
    # never two 2-CPU runs on one host at once, though each host had a second slot free
    for host in HOSTS:
        spans = sorted(
            Run.objects.filter(pk__in=ids, worker_host=host).values_list(
                "started_at", "finished_at"
            )
        )
        assert spans, host
        assert all(end <= start for (_, end), (start, _) in zip(spans, spans[1:], strict=False)), (
            spans
        )
