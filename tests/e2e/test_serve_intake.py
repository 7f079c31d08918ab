"""The intake of a real ``journey serve`` process, as an upstream system uses it: a generated
file posted in bodies over a loopback socket decides and stores what ``journey ingest`` of
the file does; a body over the limit is told so (413), not cut off."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.http_support import served
from tests.support import Journey, store_digest

#: The served process's body limit: small, so the generated file takes several bodies.
LIMIT = 64 << 10


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """One ``journey serve`` for the module; yields its base URL and its working directory."""
    workdir = tmp_path_factory.mktemp("serve")
    with served(f"sqlite:///{workdir / 'served.db'}", workdir,
                env={"JOURNEY_HTTP_MAX_BODY": str(LIMIT)}) as base:
        yield base, workdir


def bodies(path: Path, limit: int) -> list[bytes]:
    """The file's lines in order, cut into bodies of at most ``limit`` bytes."""
    cut: list[bytes] = [b""]
    for row in path.read_bytes().splitlines(keepends=True):
        if len(cut[-1]) + len(row) > limit:
            cut.append(b"")
        cut[-1] += row
    return cut


def test_a_generated_file_posted_in_bodies_ends_as_journey_ingest_of_the_file(
        server: tuple[str, Path]) -> None:
    base, workdir = server
    generated = workdir / "generated.jsonl"
    other = Journey(f"sqlite:///{workdir / 'ingested.db'}", workdir)
    other.run("generate", "--customers", "50", "--seed", "5", "-o", str(generated))
    total = {"read": 0, "accepted": 0, "duplicates": 0, "rejected": 0}
    by_reason: dict[str, int] = {}

    with httpx.Client(base_url=base, timeout=60.0) as client:
        for body in bodies(generated, LIMIT):
            response = client.post("/v1/touchpoints", content=body,
                                   headers={"Content-Type": "application/x-ndjson"})
            assert response.status_code == 200, response.text
            answer = response.json()
            freshness = answer["freshness"]
            assert freshness["view_position"] == freshness["log_head"] == freshness["stored_at"]
            for key in total:
                total[key] += answer[key]
            for reason, count in answer["rejected_by_reason"].items():
                by_reason[reason] = by_reason.get(reason, 0) + count

    expected = other.json("ingest", str(generated))
    assert {**total, "rejected_by_reason": dict(sorted(by_reason.items()))} == expected
    assert total["read"] > 500 and total["rejected"] > 0
    assert store_digest(f"sqlite:///{workdir / 'served.db'}") == store_digest(other.db)


def test_a_body_over_the_limit_gets_413_over_the_socket(server: tuple[str, Path]) -> None:
    base, _ = server
    over = b'{"touchpoint_id": "t"}\n' * (LIMIT // 20)

    with httpx.Client(base_url=base, timeout=30.0) as client:
        declared = client.post("/v1/touchpoints", content=over,
                               headers={"Content-Type": "application/jsonl"})
        streamed = client.post("/v1/touchpoints", content=iter([over[:LIMIT], over[LIMIT:]]),
                               headers={"Content-Type": "application/jsonl"})
        after = client.post("/v1/touchpoints", content=b"[]",
                            headers={"Content-Type": "application/json"})

    assert (declared.status_code, streamed.status_code, after.status_code) == (413, 413, 200)
