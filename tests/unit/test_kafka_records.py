"""The consumers' unpacking of fetched batches (``infra.kafka.records``) gives exactly the
records kafka-python's own fetcher gives, on varied batches built by kafka-python's builder."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord, Fetcher
from kafka.errors import CorruptRecordError
from kafka.record import MemoryRecords, MemoryRecordsBuilder

from journey.infra.kafka.records import HeaderlessPartitionRecords, LeanPartitionRecords

TP = TopicPartition("t", 3)
_NONE, _GZIP = 0, 1

optional_bytes = st.none() | st.binary(max_size=300)  # past 63 bytes a size takes 2 bytes
header = st.tuples(st.text(max_size=70), optional_bytes)
record = st.tuples(
    # timestamps, ms: near each other (one-byte deltas, either sign) or far apart
    st.integers(min_value=1000, max_value=1100) | st.integers(min_value=0, max_value=2**41),
    optional_bytes, optional_bytes,
    st.lists(header, max_size=9),
).filter(lambda r: r[1] is not None or r[2] is not None)
batch = st.tuples(st.sampled_from([_NONE, _GZIP]), st.integers(min_value=0, max_value=3),
                  st.lists(record, min_size=1, max_size=30))


def _records(batches: list[tuple[int, int, list[Any]]]) -> bytes:
    """Batches one after another as a fetch response holds them; each may skip offsets
    before it (compaction leaves such gaps)."""
    out, offset = bytearray(), 0
    for compression, gap, records in batches:
        builder = MemoryRecordsBuilder(2, compression, 1 << 20, offset=offset + gap)
        for timestamp, key, value, headers in records:
            assert builder.append(timestamp, key, value, headers) is not None
        builder.close()
        offset += gap + len(records)
        out += builder._buffer
    return bytes(out)


def _take(cls: type[Any], data: bytes, fetch_offset: int, *, check_crcs: bool = True,
          max_records: int | None = None) -> tuple[list[Any], int]:
    part = cls(fetch_offset, TP, MemoryRecords(data), check_crcs=check_crcs)
    taken = []
    while part:
        records = part.take(max_records)
        if not records:
            break
        taken += records
    return taken, part.next_fetch_offset


@settings(max_examples=150, deadline=None)
@given(st.lists(batch, min_size=1, max_size=4), st.integers(min_value=0, max_value=40),
       st.none() | st.integers(min_value=1, max_value=7))
def test_the_same_records_as_the_library_gives(batches: list[Any], fetch_offset: int,
                                               max_records: int | None) -> None:
    data = _records(batches)
    lean = _take(LeanPartitionRecords, data, fetch_offset, max_records=max_records)
    assert lean == _take(Fetcher.PartitionRecords, data, fetch_offset, max_records=max_records)
    assert all(type(r) is ConsumerRecord for r in lean[0])


@settings(max_examples=150, deadline=None)
@given(st.lists(batch, min_size=1, max_size=4), st.integers(min_value=0, max_value=40),
       st.none() | st.integers(min_value=1, max_value=7))
def test_without_headers_the_same_records_but_their_headers(
        batches: list[Any], fetch_offset: int, max_records: int | None) -> None:
    """The view worker's records: the library's, headers stepped over (of any size and
    count, values of None too), and the next fetch offset the same."""
    data = _records(batches)
    bare, next_offset = _take(HeaderlessPartitionRecords, data, fetch_offset,
                              max_records=max_records)
    full, full_next = _take(Fetcher.PartitionRecords, data, fetch_offset,
                            max_records=max_records)
    assert next_offset == full_next
    assert bare == [r._replace(headers=[], serialized_header_size=-1) for r in full]
    assert all(type(r) is ConsumerRecord for r in bare)


@settings(max_examples=100, deadline=None)
@given(st.lists(record, min_size=1, max_size=10), st.data())
def test_a_damaged_batch_is_a_corrupt_record_error_as_with_the_library(
        records: list[Any], data: st.DataObject) -> None:
    good = _records([(_NONE, 0, records)])
    where = data.draw(st.integers(min_value=61, max_value=len(good) - 1))  # past the header
    damaged = bytearray(good)
    damaged[where] ^= data.draw(st.integers(min_value=1, max_value=255))
    for check_crcs in (True, False):
        outcomes = []
        for cls in (LeanPartitionRecords, Fetcher.PartitionRecords, HeaderlessPartitionRecords):
            try:
                outcomes.append(_take(cls, bytes(damaged), 0, check_crcs=check_crcs)[0])
            except CorruptRecordError:
                outcomes.append(CorruptRecordError)
        if check_crcs:  # the checksum covers every record byte
            assert outcomes == [CorruptRecordError] * 3
        elif outcomes[1] is not CorruptRecordError:  # still parses: the same records
            assert outcomes[0] == outcomes[1]
            # stepping over the headers reads the same sizes: the same records, headers left
            assert outcomes[2] == [r._replace(headers=[], serialized_header_size=-1)
                                   for r in outcomes[1]]
        else:  # the library gives the records before the damage, then fails; we fail
            assert outcomes[0] is CorruptRecordError


def test_a_truncated_fetch_ends_at_the_last_whole_batch() -> None:
    data = _records([(_NONE, 0, [(1, b"k", b"v", [])] * 3)] * 2)
    cut = data[:-5]
    assert _take(LeanPartitionRecords, cut, 0) == _take(Fetcher.PartitionRecords, cut, 0)
    assert len(_take(LeanPartitionRecords, cut, 0)[0]) == 3


@pytest.mark.parametrize("magic", [0, 1])
def test_older_message_formats_go_the_librarys_way(magic: int) -> None:
    builder = MemoryRecordsBuilder(magic, _NONE, 1 << 20, offset=0)
    for i in range(5):
        builder.append(1000 + i, b"k%d" % i, b"v%d" % i)
    builder.close()
    data = bytes(builder._buffer)
    assert _take(LeanPartitionRecords, data, 2) == _take(Fetcher.PartitionRecords, data, 2)


def _old_format(magic: int, offset: int, count: int) -> bytes:
    builder = MemoryRecordsBuilder(magic, _NONE, 1 << 20, offset=offset)
    for i in range(count):
        builder.append(1000 + i, b"k%d" % i, b"v%d" % i)
    builder.close()
    return bytes(builder._buffer)


@pytest.mark.parametrize("magic", [0, 1])
@pytest.mark.parametrize("fetch_offset", [0, 4, 7])
def test_an_older_format_after_v2_batches_goes_the_librarys_way(magic: int,
                                                               fetch_offset: int) -> None:
    """A log upgraded back and forth holds v2 batches, then older ones, then v2 again."""
    data = (_records([(_NONE, 0, [(1, b"k", b"v", [("h", b"x")])] * 3)])
            + _old_format(magic, 3, 3)
            + _records([(_NONE, 6, [(2, b"k2", b"v2", [])] * 2)]))
    lean = _take(LeanPartitionRecords, data, fetch_offset)
    assert lean == _take(Fetcher.PartitionRecords, data, fetch_offset)
    assert [r.offset for r in lean[0]] == [o for o in range(8) if o >= fetch_offset]
