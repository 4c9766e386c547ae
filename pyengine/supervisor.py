"""Supervision: a root nursery with one supervisor per concern, restarts with jittered
exponential backoff, escalation to a clean shutdown, and strict signal handling.

Engine-facing API::

    root = Root(
        [Supervisor("market-data", [Child("btcusdt", run_btc), Child("ethusdt", run_eth)]),
         Supervisor("user-data", [Child("stream", run_user)]),
         Supervisor("execution", [...], policy=RestartPolicy(max_failures=3)), ...],
        on_alert=telemetry.on_supervisor_alert, # Alert -> None; must not block
        shutdown=[("cancel open orders", cancel_all)],   # async steps, shielded, with a deadline
        finalizers=[journal.close],             # sync, always run, after the steps
        shutdown_deadline_s=10.0)
    exit_code = trio.run(root.run)              # 0: signal or request; 1: escalation
    root.request_shutdown("kill switch")        # from any task of the engine
    root.status()                               # [ChildStatus]: for the dashboard and /status

A ``Child`` is an async callable with no arguments. When it raises, its supervisor alerts and
restarts it after ``min(max_s, initial_s * multiplier**(n-1))`` seconds scaled by a random factor
in ``[1 - jitter, 1]`` (n = consecutive failures; a child that ran ``healthy_s`` without failing
starts again at n = 1). ``max_failures`` failures within ``window_s`` seconds escalate: a
critical alert, then the same clean shutdown as a signal, and exit code 1. A child that returns
is finished and not restarted.

Shutdown (first SIGTERM/SIGINT, ``request_shutdown`` or escalation): every supervisor is
cancelled, then the shutdown steps run in order inside one shielded cancel scope whose deadline
is ``shutdown_deadline_s`` (a step that fails is alerted and the next one runs; at the deadline
the remaining steps are abandoned), then every finalizer runs. A second signal during shutdown
calls ``force_exit(128 + signum)`` at once (``os._exit`` by default: nothing more runs).
"""
from __future__ import annotations

import logging
import os
import random
import signal
from collections import deque
from dataclasses import dataclass
from typing import Awaitable, Callable, Sequence

import trio

log = logging.getLogger("pyengine.supervisor")

EXIT_OK = 0
EXIT_ESCALATED = 1


@dataclass(frozen=True)
class RestartPolicy:
    initial_s: float = 0.1
    max_s: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.5           # the delay is scaled by a random factor in [1 - jitter, 1]
    max_failures: int = 5         # this many failures ...
    window_s: float = 60.0        # ... within this many seconds escalate
    healthy_s: float = 30.0       # a run this long resets the backoff

    def delay(self, consecutive: int, rng: random.Random) -> float:
        base = min(self.max_s, self.initial_s * self.multiplier ** (consecutive - 1))
        return base * (1.0 - self.jitter * rng.random())


@dataclass(frozen=True)
class Child:
    name: str
    run: Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Supervisor:
    name: str
    children: Sequence[Child]
    policy: RestartPolicy | None = None


@dataclass
class ChildStatus:
    source: str                   # "supervisor/child"
    state: str = "starting"       # running | backoff | finished | escalated | stopped
    restarts: int = 0
    last_error: str = ""
    since: float = 0.0            # trio.current_time() of the last state change


@dataclass(frozen=True)
class Alert:
    level: str                    # "info" | "warning" | "critical"
    source: str                   # "supervisor/child", or "shutdown"
    message: str


class Root:
    def __init__(self, supervisors: Sequence[Supervisor], *,
                 on_alert: Callable[[Alert], None] = lambda alert: None,
                 shutdown: Sequence[tuple[str, Callable[[], Awaitable[None]]]] = (),
                 finalizers: Sequence[Callable[[], None]] = (),
                 shutdown_deadline_s: float = 10.0,
                 policy: RestartPolicy = RestartPolicy(),
                 handle_signals: bool = True,
                 force_exit: Callable[[int], None] = os._exit,
                 rng: random.Random | None = None):
        self.supervisors = list(supervisors)
        self.on_alert = on_alert
        self.shutdown_steps = list(shutdown)
        self.finalizers = list(finalizers)
        self.shutdown_deadline_s = shutdown_deadline_s
        self.policy = policy
        self.handle_signals = handle_signals
        self.force_exit = force_exit
        self.rng = rng or random.Random()
        self.exit_code = EXIT_OK
        self.shutdown_reason: str | None = None
        self._status: dict[str, ChildStatus] = {}
        self._work_scope = trio.CancelScope()
        self._signals = 0

    # ------------------------------------------------------------ public

    def request_shutdown(self, reason: str) -> None:
        """Begin the clean shutdown (idempotent; the first reason is kept)."""
        if self.shutdown_reason is None:
            self.shutdown_reason = reason
            self._alert("info", "shutdown", f"shutting down: {reason}")
        self._work_scope.cancel()

    def status(self) -> list[ChildStatus]:
        return list(self._status.values())

    @property
    def restarts(self) -> dict[str, int]:
        return {k: v.restarts for k, v in self._status.items() if v.restarts}

    async def run(self) -> int:
        async with trio.open_nursery() as outer:
            if self.handle_signals:
                await outer.start(self._watch_signals)
            try:
                with self._work_scope:
                    async with trio.open_nursery() as work:
                        for sup in self.supervisors:
                            work.start_soon(self._supervise, sup)
            finally:
                await self._shutdown()
                outer.cancel_scope.cancel()
        return self.exit_code

    # ------------------------------------------------------------ internals

    def _alert(self, level: str, source: str, message: str) -> None:
        getattr(log, {"info": "info", "warning": "warning"}.get(level, "critical"))(
            "%s: %s", source, message)
        try:
            self.on_alert(Alert(level, source, message))
        except Exception:       # an alert sink must never take the engine down
            log.exception("alert callback failed")

    async def _supervise(self, sup: Supervisor) -> None:
        async with trio.open_nursery() as n:
            for child in sup.children:
                n.start_soon(self._keep_running, sup, child)

    async def _keep_running(self, sup: Supervisor, child: Child) -> None:
        policy = sup.policy or self.policy
        source = f"{sup.name}/{child.name}"
        status = self._status[source] = ChildStatus(source)
        failures: deque[float] = deque()
        consecutive = 0

        def enter(state: str) -> None:
            status.state, status.since = state, trio.current_time()

        try:
            while True:
                started = trio.current_time()
                enter("running")
                try:
                    await child.run()
                    log.info("%s finished", source)
                    enter("finished")
                    return
                except Exception as exc:
                    now = trio.current_time()
                    failures.append(now)
                    while failures and failures[0] <= now - policy.window_s:
                        failures.popleft()
                    consecutive = 1 if now - started >= policy.healthy_s else consecutive + 1
                    what = status.last_error = _describe(exc)
                    log.warning("%s failed", source, exc_info=exc)
                    if len(failures) >= policy.max_failures:
                        enter("escalated")
                        self._alert("critical", source, f"failed {len(failures)} times in "
                                    f"{policy.window_s:g} s, last {what}; shutting down")
                        self.exit_code = EXIT_ESCALATED
                        self.request_shutdown(f"{source} keeps failing")
                        return
                    delay = policy.delay(consecutive, self.rng)
                    status.restarts += 1
                    enter("backoff")
                    self._alert("warning", source, f"failed ({what}); restart "
                                f"#{status.restarts} in {delay:.3f} s")
                    await trio.sleep(delay)
        finally:
            if status.state in ("running", "backoff"):
                enter("stopped")

    async def _shutdown(self) -> None:
        current = ""
        with trio.CancelScope(shield=True) as scope:
            scope.deadline = trio.current_time() + self.shutdown_deadline_s
            for name, step in self.shutdown_steps:
                current = name
                try:
                    await step()
                except Exception as exc:
                    self._alert("warning", "shutdown", f"{name} failed: "
                                f"{type(exc).__name__}: {exc}")
        if scope.cancelled_caught:
            self._alert("warning", "shutdown", f"deadline of {self.shutdown_deadline_s:g} s "
                        f"passed during {current!r}; remaining steps skipped")
        for fin in self.finalizers:
            try:
                fin()
            except Exception as exc:
                self._alert("warning", "shutdown", f"finalizer failed: "
                            f"{type(exc).__name__}: {exc}")

    async def _watch_signals(self, task_status=trio.TASK_STATUS_IGNORED) -> None:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            task_status.started()
            async for signum in signals:
                name = signal.Signals(signum).name
                self._signals += 1
                if self._signals == 1:
                    self.request_shutdown(name)
                else:
                    self._alert("critical", "shutdown", f"second signal ({name}): exiting now")
                    self.force_exit(128 + signum)


def _describe(exc: BaseException) -> str:
    """The innermost errors, not "Exceptions from Trio nursery (1 sub-exception)"."""
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe(e) for e in exc.exceptions)
    return f"{type(exc).__name__}: {exc}"
