"""One reply, one decision (issue 21): of several valid replies to one waiting batch, one takes it; every other is refused, naming
the one that decided. Hypothesis draws the replies and the order they arrive in (replays included); the atomicity of each
conditional write is DynamoDB's (moto here)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from earchive.client import TransferService
from earchive.errors import TransferError
from earchive_devtools.localcloud import LocalCloud

SEEN: list[int] = []


@pytest.fixture(scope="module")
def cloud(earchive_home):
    with LocalCloud() as c:
        yield c


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(["r-a", "r-b", "r-c", "r-d"]), min_size=1, max_size=8))
def test_of_racing_replies_one_decides_and_every_other_is_refused_naming_it(cloud, arrivals):
    transfers = TransferService.from_cloud(cloud).transfers
    SEEN.append(1)
    batch_id = f"2026120699{len(SEEN):02d}"
    transfers.table.put_item(Item={"batch_id": batch_id, "item": "BATCH", "status": "RECEIVING", "institution": "430102001",
                                   "task_token": "t", "created_at": "2026-12-06T00:00:00+00:00"})
    outcomes = []
    for reply_id in arrivals:
        try:
            transfers.use_reply(batch_id, reply_id, f"institutions/430102001/replies/{batch_id}/{reply_id}.json", actor="test")
            outcomes.append(("taken", reply_id))
        except TransferError as exc:
            outcomes.append(("refused", str(exc)))
    winner = arrivals[0]
    assert outcomes[0] == ("taken", winner), "the first to arrive takes the batch"
    for reply_id, (kind, text) in zip(arrivals[1:], outcomes[1:]):
        assert kind == "refused"
        assert (f"another reply decided this batch ({winner})" in text) if reply_id != winner else "taken already" in text
    assert transfers.batch(batch_id)["reply_taken"] == winner and transfers.used_replies(batch_id) == {winner}
    taken = [e["detail"] for e in transfers.events.entries(f"batch#{batch_id}") if e["action"] == "reply-taken"]
    assert len(taken) == 1 and winner in str(taken[0]), taken


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(["r-a", "r-b", "r-c", "r-d", "r-e"]), min_size=2, max_size=6))
def test_replies_taken_at_the_same_moment_in_threads_still_make_one_decision(cloud, contenders):
    """Truly concurrent: one thread per reply, released together by a barrier, each taking the batch through the local cloud
    (whose writes are atomic as DynamoDB's are). Exactly one wins; every other names it or is a replay of it."""
    import threading

    transfers = TransferService.from_cloud(cloud).transfers
    SEEN.append(1)
    batch_id = f"2026120697{len(SEEN):02d}"
    transfers.table.put_item(Item={"batch_id": batch_id, "item": "BATCH", "status": "RECEIVING", "institution": "430102001",
                                   "task_token": "t", "created_at": "2026-12-06T00:00:00+00:00"})
    barrier, outcomes, lock = threading.Barrier(len(contenders)), [], threading.Lock()

    def take(reply_id: str) -> None:
        barrier.wait()
        try:
            transfers.use_reply(batch_id, reply_id, f"institutions/430102001/replies/{batch_id}/{reply_id}.json", actor="test")
            result = ("taken", reply_id, "")
        except TransferError as exc:
            result = ("refused", reply_id, str(exc))
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=take, args=(r,)) for r in contenders]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    taken = [r for kind, r, _ in outcomes if kind == "taken"]
    assert len(outcomes) == len(contenders) and len(taken) == 1, outcomes
    winner = taken[0]
    for kind, reply_id, text in outcomes:
        if kind == "refused":
            assert (f"another reply decided this batch ({winner})" in text) if reply_id != winner else "taken already" in text, text
    assert transfers.batch(batch_id)["reply_taken"] == winner and transfers.used_replies(batch_id) == {winner}
    taken_entries = [str(e["detail"]) for e in transfers.events.entries(f"batch#{batch_id}") if e["action"] == "reply-taken"]
    assert len(taken_entries) == 1 and winner in taken_entries[0], taken_entries


def test_a_batch_sent_again_waits_for_a_new_decision(cloud):
    transfers = TransferService.from_cloud(cloud).transfers
    batch_id = "202612069800"
    transfers.table.put_item(Item={"batch_id": batch_id, "item": "BATCH", "status": "RECEIVING", "institution": "430102001",
                                   "created_at": "2026-12-06T00:00:00+00:00"})
    transfers.use_reply(batch_id, "r-1", "k", actor="test")
    transfers.move(batch_id, "DRAFT", allowed_from=("RECEIVING",), actor="test")  # transfer cancel
    assert "reply_taken" not in transfers.batch(batch_id)
    # submitted again: the old round's reply, uploaded again at its key, is a used id (a replay), never "this reply again"
    from earchive.pipeline.reply.verify import _taken_from_here

    transfers.move(batch_id, "RECEIVING", allowed_from=("DRAFT",), actor="test", task_token="t2")
    assert transfers.reply_taken_from(batch_id, "r-1") and _taken_from_here(transfers, batch_id, "r-1", "k") is None
    assert "r-1" in transfers.used_replies(batch_id)
    transfers.use_reply(batch_id, "r-2", "k2", actor="test")  # the new round's reply decides
    assert _taken_from_here(transfers, batch_id, "r-2", "k2")


def test_a_reply_that_held_the_batch_but_decided_nothing_lets_go(cloud):
    """Review of issue 21: a reply refused after it took the batch (Decide found its bytes changed; re-examined after its
    certificate was revoked) must not lock the batch: its hold is released, and the institution's next reply can decide."""
    transfers = TransferService.from_cloud(cloud).transfers
    batch_id = "202612069801"
    transfers.table.put_item(Item={"batch_id": batch_id, "item": "BATCH", "status": "RECEIVING", "institution": "430102001",
                                   "created_at": "2026-12-06T00:00:00+00:00"})
    transfers.use_reply(batch_id, "r-1", "k1", actor="test")
    transfers.release_reply(batch_id, "r-other")  # only the holder's hold can be released
    with pytest.raises(TransferError, match=r"another reply decided this batch \(r-1\)"):
        transfers.use_reply(batch_id, "r-2", "k2", actor="test")
    transfers.release_reply(batch_id, "r-1")
    transfers.use_reply(batch_id, "r-2", "k2", actor="test")
    assert transfers.batch(batch_id)["reply_taken"] == "r-2"


def test_an_outage_while_examining_a_reply_is_retried_never_a_refusal():
    """Review of issue 21: throttling while a reply is examined is a TransientError (the machine retries), not a refusal
    written beside the reply; only what the reply itself is may refuse it."""
    from botocore.exceptions import ClientError

    from earchive.errors import TransientError
    from earchive.pipeline.reply.verify import examine

    written = []

    class S3:
        def get_bytes(self, bucket, key):
            return b"{}"

        def put(self, *args, **kwargs):
            written.append(args)

    class Throttled:
        def batch(self, batch_id):
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "GetItem")

    class Aws:
        s3, transfers = S3(), Throttled()

    with pytest.raises(TransientError):
        examine(Aws(), "bucket", "430102001", "202612060001", "institutions/430102001/replies/202612060001/r.json", actor="test")
    assert written == [], "nothing refused"
