"""The relay picks partitions itself; they must be the ones any Kafka client's default
partitioner picks for the same key, or a customer's events would split across partitions."""

from __future__ import annotations

import pytest

from journey.infra.kafka.relay import partition_of

# murmur2 test vectors of the Java client (org.apache.kafka.common.utils.UtilsTest).
JAVA_MURMUR2 = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


@pytest.mark.parametrize("partitions", [1, 3, 6, 7, 64])
@pytest.mark.parametrize(("key", "java_hash"), JAVA_MURMUR2.items())
def test_partition_is_the_java_default_partitioners(key: bytes, java_hash: int,
                                                    partitions: int) -> None:
    assert partition_of(key, partitions) == (java_hash & 0x7FFFFFFF) % partitions
