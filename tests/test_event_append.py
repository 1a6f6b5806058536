"""The event log's append under retries: a batch whose commit succeeded but whose answer was lost
(the connection broke after COMMIT) is sent again with the same token and not written twice."""

import pytest

from runs import lifecycle
from runs.models import Run, RunEvent
from runs.stream import events

from .helpers import make_targz

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_batch_sent_again_with_its_token_is_written_once(runs):
    data = make_targz({"a.txt": "a"})
    run = runs.create(data)
    assert runs.upload(run["id"], data).status_code == 200
    assert lifecycle.transition(run["id"], Run.Status.QUEUED)
    before = Run.objects.get(pk=run["id"]).last_seq
    batch = [("stdout", {"text": "one\n"}), ("stdout", {"text": "two\n"})]
    first = events.append(run["id"], batch, token="t1")
    again = events.append(run["id"], batch, token="t1")  # the retry after a lost reply
    assert [e.seq for e in first] == [before + 1, before + 2]
    assert again == []
    nxt = events.append(run["id"], [("stdout", {"text": "three\n"})], token="t2")
    assert [e.seq for e in nxt] == [before + 3]
    texts = RunEvent.objects.filter(run_id=run["id"], type="stdout").order_by("seq")
    assert [e.data["text"] for e in texts] == ["one\n", "two\n", "three\n"]
    # without a token (the API's own status events), every call appends
    assert len(events.append(run["id"], batch)) == 2
