"""Typed events: one dataclass per event, recorded in the store and emitted by one call."""

from __future__ import annotations

import json

import pytest

from assetmap import events
from assetmap.vocab import EVENT_NAMES


@pytest.fixture
def heard():
    got: list[tuple[str, dict]] = []
    events.register_emitter(lambda name, payload: got.append((name, payload)))
    yield got
    events.clear_emitters()


def test_every_name_in_the_vocabulary_has_one_event_class():
    classes = {c.name: c for c in events.Event.__subclasses__()}
    assert sorted(classes) == sorted(EVENT_NAMES)


def test_an_event_is_recorded_and_emitted_by_one_call(store, heard):
    event_id = events.announce(store, events.AssetsChanged(7, ["E05000001", "E05000002"]))
    name, payload = store.con.execute("SELECT name, payload FROM events WHERE event_id = ?", [event_id]).fetchone()
    assert name == "assetmap.assets.changed"
    assert json.loads(payload) == {"ingest_id": 7, "ward_codes": ["E05000001", "E05000002"]}
    assert heard == [("assetmap.assets.changed", {"ingest_id": 7, "ward_codes": ["E05000001", "E05000002"]})]


def test_inside_a_transaction_it_is_emitted_only_once_committed(store, heard):
    with store.transaction():
        events.announce(store, events.SnapshotPublished("s1", "test", 3))
        assert heard == []
    assert [n for n, _ in heard] == ["assetmap.snapshot.published"]


def test_a_rolled_back_event_is_neither_stored_nor_emitted(store, heard):
    with pytest.raises(RuntimeError), store.transaction():
        events.announce(store, events.IngestFailed(1, "x.csv", None, "unreadable", "x.csv: cannot be read"))
        raise RuntimeError("the write failed")
    assert heard == []
    assert store.scalar("SELECT count(*) FROM events") == 0


def test_recorded_only_when_asked(store, heard):
    events.announce(store, events.FileReceived("/inbox/a.csv", None, 0), emit=False)
    assert heard == []
    assert store.scalar("SELECT count(*) FROM events WHERE name = 'assetmap.file.received'") == 1
