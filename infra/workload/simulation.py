"""The core of the simulation: one heap of scheduled steps, emitting lines as it goes.

The generator is a discrete-event simulation. Customers arrive one after another over
`days`; each brings a few activities (orders, repairs, enquiries) that run as chains of
scheduled steps on one heap ordered by business time. A step that runs emits its
touchpoint at once, so the output is streamed in `occurred_at` order and memory holds only
the customers that are still active, a bounded stock model and a few bounded ring buffers.

What the engine would know is tracked in *arrival* order (contract 2.1-2.3):

- every decision that depends on stock is taken when the line is written, against an exact
  model of `on_hand`, `reserved` and per-repair reservations and backorders;
- a *late* touchpoint is held back on the heap and written after later ones. Only
  touchpoints that nothing else needs can be held: while a touchpoint of an entity is held,
  the entity is invisible (its next chain steps wait until it has been written, and no
  complaint, repair or bad line refers to it), and held stock movements only ever add stock,
  which is counted when they are written. An error (contract 3) of a customer who has a case
  open is held for days when it can be, so it tends to arrive after that case's rating.

What the engine derives in *business* time is tracked too: each customer's first touchpoint
with an error code (`Customer.erred_at`, on the timeline of contract 4, so part movements of
the customer's repairs count), which decides how a rating is drawn (low after an error).

Everything happens before the horizon, `days` after `start`: the workload is an extract taken
then. Journeys still running are cut there (open invoices, unresolved cases, unfinished
repairs); touchpoints held back until after it arrive at the end of the file.

`Simulation` holds that machinery; the lifecycle steps are mixins (``orders``,
``invoices``, ``cases``, ``repairs``, ``stock``) composed with it in ``journeys``. Every step
draws from the one generator `rng`, so the same seed gives the same bytes only while the
draws keep their order.
"""

from __future__ import annotations

import heapq
import json
import random
from collections import deque
from collections.abc import Callable, Iterator
from datetime import UTC, timedelta
from typing import TYPE_CHECKING, Any

from journey.infra.workload.catalogue import DAY, HOUR, MIN, UPSTREAM_ERRORS
from journey.infra.workload.entities import Customer, SimEntity, StockRecord
from journey.infra.workload.options import DUPLICATE, VALID, WorkloadOptions

if TYPE_CHECKING:
    from journey.infra.workload.bad_lines import Saboteur

ENCODE = json.JSONEncoder(
    ensure_ascii=True, separators=(",", ":"), check_circular=False, allow_nan=False
).encode

Step = Callable[[int, Any], None]


class Simulation:
    """The event loop and what every step shares: clock, ids, timestamps, money, emitting."""

    #: Writes the lines that must be rejected; set by the composed simulation, because it
    #: draws on the state of every lifecycle.
    saboteur: Saboteur

    def __init__(self, options: WorkloadOptions) -> None:
        self.options = options
        self.rng = random.Random(options.seed)
        self.e = options.error_rate
        self.span = options.days * DAY
        start = options.start.astimezone(UTC)
        self.base_date = start.date()
        self.base_sec = start.hour * HOUR + start.minute * MIN + start.second
        self.day_text: dict[int, str] = {}
        self.heap: list[tuple[int, int, Step, Any]] = []
        self.seq = 0
        self.out: list[tuple[str, str]] = []
        self.counters: dict[str, int] = {}
        self.touchpoints = 0
        self.now = 0
        self.valid_count = 0
        self.late_count = 0
        self.flag_rate = options.error_rate * 0.1
        self.reject_p = options.bad_rate / (1.0 - options.bad_rate)
        self.duplicate_p = options.bad_rate * 0.25
        self.recent_lines: deque[str] = deque(maxlen=512)
        self.pool: deque[SimEntity] = deque(maxlen=256)
        self.recent_customers: deque[Customer] = deque(maxlen=64)

    # -- the loop -----------------------------------------------------------------------

    def _start(self) -> None:
        """Schedule the first steps: only the composed simulation knows the lifecycles."""
        raise NotImplementedError

    def run(self) -> Iterator[tuple[str, str]]:
        """Run the steps in business-time order, yielding (line, label) as they are written."""
        if self.options.customers == 0:
            return
        self._start()
        heap, out, pop = self.heap, self.out, heapq.heappop
        horizon = self.span
        while heap:
            t, _, step, arg = pop(heap)
            if t >= horizon:
                break
            self.now = t
            step(t, arg)
            if out:
                yield from out
                out.clear()
        else:
            return
        # Past the horizon nothing happens any more; what was held back still arrives.
        release = self._release
        while True:
            if step == release:
                step(t, arg)
                yield from out
                out.clear()
            if not heap:
                return
            t, _, step, arg = pop(heap)

    def _at(self, t: int, step: Step, arg: Any) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, step, arg))

    def _blocked(self, t: int, entity: SimEntity, step: Step) -> bool:
        """Wait while a line of `entity` is held back, so nothing overtakes it."""
        if entity.held_until:
            self._at(max(t, entity.held_until) + self._between(MIN, HOUR), step, entity)
            return True
        return False

    def _between(self, low: int, high: int) -> int:
        return low + int(self.rng.random() * (high - low))

    def _next_id(self, prefix: str, width: int = 7) -> str:
        n = self.counters.get(prefix, 0) + 1
        self.counters[prefix] = n
        return f"{prefix}-{n:0{width}d}"

    def _next_tp(self) -> str:
        self.touchpoints += 1
        return f"tp-{self.touchpoints:09d}"

    # -- time and money -----------------------------------------------------------------

    def _wall(self, t: int) -> str:
        day, sec = divmod(self.base_sec + t, DAY)
        text = self.day_text.get(day)
        if text is None:
            text = self.day_text[day] = (self.base_date + timedelta(days=day)).isoformat()
        h, rest = divmod(sec, HOUR)
        m, s = divmod(rest, MIN)
        return f"{text}T{h:02d}:{m:02d}:{s:02d}"

    def _stamp(self, t: int) -> str:
        """RFC 3339, mostly in UTC, sometimes the same instant with another offset."""
        r = self.rng.random()
        if r < 0.86:
            return self._wall(t) + "Z"
        if r < 0.95:
            return self._wall(t + HOUR) + "+01:00"
        return self._wall(t - 5 * HOUR) + "-05:00"

    def _date(self, t: int) -> str:
        return self._wall(t)[:10]

    def _money(self, cents: int) -> float | str:
        """A JSON number or a decimal string with two decimals (never a computed float)."""
        if self.rng.random() < 0.7:
            return cents / 100
        sign = "-" if cents < 0 else ""
        whole, frac = divmod(abs(cents), 100)
        return f"{sign}{whole}.{frac:02d}"

    # -- emitting -----------------------------------------------------------------------

    def _send(
        self,
        t: int,
        type_: str,
        customer: Customer | None,
        channel: str,
        source: str,
        fields: dict[str, Any],
        entity: SimEntity | StockRecord | None = None,
        arrive: Callable[[], None] | None = None,
        hold: int = 0,
        error: bool = False,
        owner: Customer | None = None,
    ) -> None:
        """Emit one valid touchpoint, or hold it back (late) when `entity` is given.

        `error` says the touchpoint has an error code of its own (contract 3); `owner` is the
        customer whose timeline a part movement is on (the customer of its repair).
        """
        rng = self.rng
        obj: dict[str, Any] = {
            "touchpoint_id": self._next_tp(),
            "type": type_,
            "occurred_at": self._stamp(t),
        }
        if customer is not None:
            obj["customer_id"] = customer.id
        if rng.random() < 0.92:
            obj["channel"] = channel
        if rng.random() < 0.95:
            obj["source"] = source
        if rng.random() < self.flag_rate:
            obj["error"] = rng.choice(UPSTREAM_ERRORS)
            error = True
        obj.update(fields)
        line = ENCODE(obj)
        if error:
            who = customer or owner
            if who is not None:
                if who.erred_at < 0:
                    who.erred_at = t
                if entity is not None and not hold and self._before_a_rating(who, entity):
                    hold = self._between(2 * DAY, 8 * DAY)
        if entity is not None and (hold or self._wants_late()):
            delay = hold or int(10 * MIN * 2 ** (rng.random() * 9))
            entity.held_until = t + delay
            self.late_count += 1
            self._at(t + delay, self._release, (line, entity, arrive))
            return
        if arrive is not None:
            arrive()
        self._emit(line)

    def _wants_late(self) -> bool:
        quota = self.options.late_rate * (self.valid_count + 1)
        return self.late_count < quota and self.rng.random() < 0.5

    def _before_a_rating(self, customer: Customer, entity: SimEntity | StockRecord) -> bool:
        """Hold this error of `customer` until after the rating of another open case?

        Such holds go first: they may take the share of late lines up to twice `late_rate`
        for a while, and the random ones of `_wants_late` wait until it is back.
        """
        late_rate = self.options.late_rate
        if not late_rate or self.late_count >= 2 * late_rate * (self.valid_count + 1):
            return False
        return any(
            case.state == "open" and not case.stuck and case is not entity
            for case in customer.cases
        )

    def _release(
        self, _t: int, held: tuple[str, SimEntity | StockRecord, Callable[[], None] | None]
    ) -> None:
        line, entity, arrive = held
        entity.held_until = 0
        if arrive is not None:
            arrive()
        self._emit(line)

    def _emit(self, line: str) -> None:
        self.out.append((line, VALID))
        self.recent_lines.append(line)
        self.valid_count += 1
        rng = self.rng
        if rng.random() < self.reject_p:
            self.out.append(self.saboteur.line())
        if rng.random() < self.duplicate_p:
            self.out.append((rng.choice(self.recent_lines), DUPLICATE))

    def _visible(self, entities: list[Any]) -> list[Any]:
        return [e for e in entities if not e.held_until]
