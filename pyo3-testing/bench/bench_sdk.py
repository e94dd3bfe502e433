"""Benchmark: the eventstore SDK against a plain grpc.aio stub.

Both clients over loopback TCP to one store: by default the standalone
``eventstore-server`` (``--against server``: what users run against, and
the store's CPU is then not in this process), spawned from
``EVENTSTORE_SERVER_BIN`` or ``target/release/eventstore-server``; with
``--against mock`` the in-process ``MockEventStore``'s endpoint. Prints one
table, with the CPU time this process spent per operation beside each
figure (it holds where wall times drift on a shared machine):

* sequential single-event append, p50 latency      (target: >= 1.2x grpc.aio)
* concurrent single-event appends, 64 in flight, ops/s   (target: >= 2.5x grpc.aio)
* subscription catch-up of 100,000 events, events/s  (target: >= 5x grpc.aio)
* MockEventStore() construction to ready, p50        (target: < 5 ms)

The grpc.aio stubs are generated at run time (grpc_tools.protoc) into a
temporary directory from proto/proto/eventstore/v1/eventstore.proto.

Sizes: ``python bench/bench_sdk.py [--quick] [--against server|mock] [--seq N] [--concurrent N]
[--in-flight N] [--events N] [--mock-starts N] [--rounds N]``, or the
environment variables BENCH_SEQ, BENCH_CONCURRENT, BENCH_IN_FLIGHT,
BENCH_EVENTS, BENCH_MOCK_STARTS, BENCH_ROUNDS. Each measurement runs
``rounds`` times, alternating which client goes first; the best round of
each client is kept (the machine's other load only ever slows a round).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import json
import os
import pathlib
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from typing import Any

from eventstore import EventStoreClient, NewEvent
from eventstore.testing import MockEventStore

ROOT = pathlib.Path(__file__).resolve().parents[2]
PROTO = ROOT / "proto" / "proto" / "eventstore" / "v1" / "eventstore.proto"
CATCH_UP_TENANT = "bench-catch-up"


# -- the grpc.aio side ------------------------------------------------------


def generate_stubs(workdir: pathlib.Path) -> tuple[Any, Any]:
    """``(eventstore_pb2, eventstore_pb2_grpc)``, generated into ``workdir``.

    The proto is copied under a package of its own (``esbench``) so that
    the generated modules do not collide with the ``eventstore`` package;
    the wire names (``eventstore.v1.EventStore``) are unchanged.
    """
    from grpc_tools import protoc

    package = workdir / "esbench"
    package.mkdir()
    (package / "__init__.py").write_text("")
    shutil.copy(PROTO, package / "eventstore.proto")
    include = pathlib.Path(protoc.__file__).parent / "_proto"
    code = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{workdir}",
            f"-I{include}",
            f"--python_out={workdir}",
            f"--grpc_python_out={workdir}",
            str(package / "eventstore.proto"),
        ]
    )
    if code != 0:
        raise SystemExit(f"grpc_tools.protoc failed with exit code {code}")
    sys.path.insert(0, str(workdir))
    return importlib.import_module("esbench.eventstore_pb2"), importlib.import_module("esbench.eventstore_pb2_grpc")


class GrpcSide:
    """What a hand-written grpc.aio client does for the same calls."""

    name = "grpc.aio"

    def __init__(self, endpoint: str, pb2: Any, pb2_grpc: Any) -> None:
        import grpc

        self.pb2 = pb2
        self.channel = grpc.aio.insecure_channel(endpoint)
        self.stub = pb2_grpc.EventStoreStub(self.channel)

    async def append(self, aggregate_id: str, expected: int, n: int) -> int:
        pb2 = self.pb2
        meta = pb2.EventMetadata(
            event_id=str(uuid.uuid4()),
            aggregate_nonce=expected + 1,
            event_type="BenchEvent",
            event_version=1,
            content_type="application/json",
            timestamp_unix_ms=int(time.time() * 1000),
        )
        payload = json.dumps({"n": n}, separators=(",", ":")).encode()
        response = await self.stub.Append(
            pb2.AppendRequest(
                tenant_id="default",
                aggregate_id=aggregate_id,
                aggregate_type="Bench",
                expected_aggregate_nonce=expected,
                events=[pb2.EventData(meta=meta, payload=payload)],
            )
        )
        return int(response.last_aggregate_nonce)

    async def catch_up(self, count: int) -> int:
        call = self.stub.Subscribe(self.pb2.SubscribeRequest(tenant_id=CATCH_UP_TENANT, from_global_nonce=0))
        seen = 0
        last = 0
        async for response in call:
            last = response.event.meta.global_nonce
            seen += 1
            if seen >= count:
                break
        call.cancel()
        return last

    async def close(self) -> None:
        await self.channel.close()


class OurSide:
    """The eventstore SDK."""

    name = "eventstore"

    def __init__(self, endpoint: str, max_connections: int | None = None) -> None:
        options = {} if max_connections is None else {"max_connections": max_connections}
        self.client = EventStoreClient(endpoint=endpoint, **options)

    async def append(self, aggregate_id: str, expected: int, n: int) -> int:
        result = await self.client.append_events(
            aggregate_id=aggregate_id,
            aggregate_type="Bench",
            expected_aggregate_nonce=expected,
            events=[NewEvent("BenchEvent", {"n": n})],
        )
        return result.last_aggregate_nonce

    async def catch_up(self, count: int) -> int:
        seen = 0
        last = 0
        async with await self.client.subscribe(tenant_id=CATCH_UP_TENANT, from_global_nonce=0) as subscription:
            async for event in subscription:
                last = event.global_nonce
                seen += 1
                if seen >= count:
                    break
        return last

    async def close(self) -> None:
        await self.client.close()


Side = Any  # OurSide | GrpcSide


# -- measurements -------------------------------------------------------------


@dataclass
class Measure:
    """One measurement: its figure and the CPU time this process spent per
    operation meanwhile (with ``--against mock`` that includes the mock);
    for the concurrent one also where that CPU went: per thread group of
    this process and the standalone server's, in µs per operation."""

    value: float
    cpu_us_per_op: float
    threads: dict[str, float] | None = None
    server_us_per_op: float | None = None


def thread_ticks() -> dict[str, int]:
    """User + system CPU clock ticks of this process's threads so far, summed
    by thread name (Linux ``/proc/self/task``; empty elsewhere). Threads of
    one pool share a name: ``eventstore-io`` for the SDK's tokio workers,
    ``grpc_*``/``default-executo`` for grpcio's; the main thread runs the
    asyncio loop (and every Python line of both clients)."""
    ticks: dict[str, int] = {}
    try:
        tasks = list(pathlib.Path("/proc/self/task").iterdir())
    except OSError:
        return ticks
    main_tid = str(os.getpid())
    for task in tasks:
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # a thread that ended meanwhile
        if task.name == main_tid:
            name = "main (asyncio loop)"
        ticks[name] = ticks.get(name, 0) + int(fields[11]) + int(fields[12])
    return ticks


def per_op_us(before: dict[str, int], after: dict[str, int], ops: int) -> dict[str, float]:
    """The ticks each thread group spent between two :func:`thread_ticks`, in µs per op."""
    tick_us = 1e6 / os.sysconf("SC_CLK_TCK")
    spent = {name: (after[name] - before.get(name, 0)) * tick_us / ops for name in after}
    return {name: us for name, us in sorted(spent.items(), key=lambda kv: -kv[1]) if us > 0}


async def sequential_p50_us(side: Side, calls: int, run: str) -> Measure:
    stream = f"seq-{side.name}-{run}"
    expected = 0
    warmup = max(calls // 10, 20)
    for i in range(warmup):
        expected = await side.append(stream + "-warm", expected, i)
    expected = 0
    latencies = []
    clock = time.perf_counter
    cpu = time.process_time()
    for i in range(calls):
        start = clock()
        expected = await side.append(stream, expected, i)
        latencies.append(clock() - start)
    cpu = time.process_time() - cpu
    return Measure(statistics.median(latencies) * 1e6, cpu / calls * 1e6)


async def concurrent_ops_per_s(
    side: Side, total: int, in_flight: int, run: str, server: StandaloneServer | None = None
) -> Measure:
    per_worker = max(total // in_flight, 1)

    async def worker(w: int, calls: int, tag: str) -> None:
        stream = f"conc-{side.name}-{run}-{tag}-{w}"
        expected = 0
        for i in range(calls):
            expected = await side.append(stream, expected, i)

    await asyncio.gather(*(worker(w, max(per_worker // 10, 5), "warm") for w in range(in_flight)))
    server_cpu = server.cpu_seconds() if server is not None else None
    threads = thread_ticks()
    cpu = time.process_time()
    start = time.perf_counter()
    await asyncio.gather(*(worker(w, per_worker, "run") for w in range(in_flight)))
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu
    ops = per_worker * in_flight
    server_us = None
    if server is not None and server_cpu is not None:
        now = server.cpu_seconds()
        server_us = None if now is None else (now - server_cpu) / ops * 1e6
    return Measure(ops / elapsed, cpu / ops * 1e6, per_op_us(threads, thread_ticks(), ops), server_us)


async def catch_up_events_per_s(side: Side, events: int) -> Measure:
    cpu = time.process_time()
    start = time.perf_counter()
    last = await side.catch_up(events)
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu
    if last != events:
        raise SystemExit(f"{side.name}: catch-up ended at global nonce {last}, expected {events}")
    return Measure(events / elapsed, cpu / events * 1e6)


async def seed_through_client(endpoint: str, events: int) -> None:
    """The catch-up events, appended with the SDK (a standalone server has
    no ``seed``): the same streams and payloads as :func:`seed`."""
    batch = 1_000
    done = 0
    stream = 0
    client = EventStoreClient(endpoint=endpoint, tenant_id=CATCH_UP_TENANT)
    try:
        while done < events:
            n = min(batch, events - done)
            await client.append_events(
                aggregate_id=f"catch-up-{stream}",
                aggregate_type="Bench",
                expected_aggregate_nonce=0,
                events=[NewEvent("Seeded", {"i": done + i, "note": "catch-up benchmark event"}) for i in range(n)],
            )
            done += n
            stream += 1
    finally:
        await client.close()


class StandaloneServer:
    """``eventstore-server --listen 127.0.0.1:0`` in memory, as a child process."""

    def __init__(self) -> None:
        binary = os.environ.get("EVENTSTORE_SERVER_BIN") or str(ROOT / "target" / "release" / "eventstore-server")
        if not pathlib.Path(binary).is_file():
            raise SystemExit(
                f"no server binary at {binary}: run `cargo build --release -p eventstore-server` "
                "or set EVENTSTORE_SERVER_BIN (or use --against mock)"
            )
        self.process = subprocess.Popen(
            [binary, "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "RUST_LOG": "warn"},
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        prefix = "eventstore-server listening on "
        if not line.startswith(prefix):
            self.close()
            raise SystemExit(f"{binary} did not start: {line!r}")
        self.endpoint = line[len(prefix) :].strip()

    def cpu_seconds(self) -> float | None:
        """User + system CPU time of the server process so far (Linux)."""
        try:
            fields = pathlib.Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


def seed(mock: MockEventStore, events: int) -> None:
    batch = 1_000
    done = 0
    stream = 0
    while done < events:
        n = min(batch, events - done)
        mock.seed(
            f"catch-up-{stream}",
            [NewEvent("Seeded", {"i": done + i, "note": "catch-up benchmark event"}) for i in range(n)],
            tenant_id=CATCH_UP_TENANT,
            aggregate_type="Bench",
        )
        done += n
        stream += 1


def redelivery_check_s(events: int) -> tuple[float, float]:
    """``(wall, CPU)`` seconds of ``check_redelivery`` over ``events`` events
    with an idempotent consumer: one run without faults and one per
    position, each replaying the log up to its cut (O(n^2) deliveries)."""
    from eventstore import RecordedEvent
    from eventstore.testing import check_redelivery

    class Latest:
        def __init__(self) -> None:
            self.seen: dict[str, int] = {}

        async def handle(self, e: RecordedEvent) -> None:
            self.seen[e.aggregate_id] = e.aggregate_nonce

        def state(self) -> dict[str, int]:
            return self.seen

    log = [(f"order-{i % 7}", NewEvent("Placed", {"i": i})) for i in range(events)]
    wall, cpu = time.perf_counter(), time.process_time()
    asyncio.run(check_redelivery(Latest, log))
    return time.perf_counter() - wall, time.process_time() - cpu


def mock_start_p50_ms(starts: int) -> tuple[float, float]:
    """``(p50, max)`` of MockEventStore() construction until its endpoint
    accepts a TCP connection, in ms."""
    times = []
    for _ in range(starts):
        start = time.perf_counter()
        mock = MockEventStore()
        host, port = mock.endpoint.rsplit(":", 1)
        socket.create_connection((host, int(port)), timeout=5).close()
        times.append(time.perf_counter() - start)
        mock.close()
    return statistics.median(times) * 1e3, max(times) * 1e3


# -- the table ------------------------------------------------------------------


@dataclass
class Row:
    metric: str
    ours: float
    theirs: float | None
    unit: str
    higher_is_better: bool
    target: str
    passed: bool
    cpu_ours: float | None = None
    cpu_theirs: float | None = None

    @property
    def ratio(self) -> float | None:
        """How many times better ours is (> 1: ours is better)."""
        if self.theirs is None or self.ours == 0 or self.theirs == 0:
            return None
        return self.ours / self.theirs if self.higher_is_better else self.theirs / self.ours


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if value >= 1000:
        return f"{value:,.0f} {unit}"
    return f"{value:.3g} {unit}" if value < 10 else f"{value:.1f} {unit}"


def print_table(rows: list[Row]) -> None:
    header = ("metric", "eventstore", "grpc.aio", "ratio", "target", "result", "client CPU/op (ours, grpc.aio)")
    lines = [
        (
            r.metric,
            fmt(r.ours, r.unit),
            fmt(r.theirs, r.unit),
            "-" if r.ratio is None else f"{r.ratio:.2f}x",
            r.target,
            "PASS" if r.passed else "MISS",
            "-" if r.cpu_ours is None else f"{r.cpu_ours:.1f} us, {r.cpu_theirs or 0:.1f} us",
        )
        for r in rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines, strict=True)]
    sep = "  "
    print(sep.join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print(sep.join("-" * w for w in widths))
    for line in lines:
        print(sep.join(str(x).ljust(w) for x, w in zip(line, widths, strict=True)))
    print("ratio: how many times better eventstore is (latency: grpc.aio / ours; rates: ours / grpc.aio)")


def print_cpu_budget(in_flight: int, measures: dict[str, Measure]) -> None:
    """Where the CPU of one concurrent append goes, thread group by thread
    group, for each client (its best round), and the server's; beside the
    budget the machine has per operation at that rate (cores / ops per s).
    A client whose threads plus the server's fill that budget is bound by
    CPU: it can only go faster by spending less per operation."""
    cores = os.cpu_count() or 1
    print(f"\nCPU per concurrent append ({in_flight} in flight), best round, us/op by thread:")
    for name, m in measures.items():
        budget = cores / m.value * 1e6
        spent = sum((m.threads or {}).values()) + (m.server_us_per_op or 0.0)
        parts = ", ".join(f"{thread} {us:.1f}" for thread, us in (m.threads or {}).items())
        server = "-" if m.server_us_per_op is None else f"{m.server_us_per_op:.1f}"
        print(
            f"  {name:<10} {m.value:,.0f} ops/s: {parts}; server {server}; "
            f"total {spent:.1f} of the {budget:.1f} us a {cores}-core machine has per op at this rate "
            f"({spent / budget:.0%} busy)"
        )


# -- main --------------------------------------------------------------------------


def options() -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument(
        "--against",
        choices=("server", "mock"),
        default=env("BENCH_AGAINST", "server"),
        help="the standalone eventstore-server (default) or the in-process MockEventStore",
    )
    parser.add_argument("--seq", type=int, default=int(env("BENCH_SEQ", "3000")), help="sequential appends")
    parser.add_argument(
        "--concurrent", type=int, default=int(env("BENCH_CONCURRENT", "30000")), help="concurrent appends in total"
    )
    parser.add_argument("--in-flight", type=int, default=int(env("BENCH_IN_FLIGHT", "64")), help="appends in flight")
    parser.add_argument("--events", type=int, default=int(env("BENCH_EVENTS", "100000")), help="catch-up events")
    parser.add_argument(
        "--mock-starts", type=int, default=int(env("BENCH_MOCK_STARTS", "50")), help="MockEventStore() starts"
    )
    parser.add_argument(
        "--max-connections", type=int, default=None, help="eventstore's max_connections (default: the client's)"
    )
    parser.add_argument("--rounds", type=int, default=int(env("BENCH_ROUNDS", "3")), help="rounds; best one kept")
    parser.add_argument(
        "--redelivery-events",
        type=int,
        default=int(env("BENCH_REDELIVERY_EVENTS", "100")),
        help="events of the check_redelivery run",
    )
    args = parser.parse_args()
    if args.quick:
        args.seq, args.concurrent, args.events, args.mock_starts, args.rounds = 300, 3000, 10_000, 10, 1
        args.redelivery_events = 20
    return args


def settle(mock: MockEventStore | None) -> None:
    """Between measurements: the mock journals every call and every event
    it delivers; forget that (memory), and collect garbage."""
    if mock is not None:
        mock.reset(journal=True)
    gc.collect()


async def bench(
    args: argparse.Namespace,
    endpoint: str,
    mock: MockEventStore | None,
    pb2: Any,
    pb2_grpc: Any,
    server: StandaloneServer | None = None,
) -> list[Row]:
    ours = OurSide(endpoint, args.max_connections)
    theirs = GrpcSide(endpoint, pb2, pb2_grpc)
    sides = (ours, theirs)
    seq: dict[str, list[Measure]] = {s.name: [] for s in sides}
    conc: dict[str, list[Measure]] = {s.name: [] for s in sides}
    catch: dict[str, list[Measure]] = {s.name: [] for s in sides}
    for r in range(args.rounds):
        # Alternate who goes first, so neither always gets the warmer process.
        order = sides if r % 2 == 0 else sides[::-1]
        for side in order:
            settle(mock)
            seq[side.name].append(await sequential_p50_us(side, args.seq, f"r{r}"))
        for side in order:
            settle(mock)
            conc[side.name].append(await concurrent_ops_per_s(side, args.concurrent, args.in_flight, f"r{r}", server))
        for side in order:
            settle(mock)
            catch[side.name].append(await catch_up_events_per_s(side, args.events))
    for side in sides:
        await side.close()

    def best(measures: list[Measure], higher: bool) -> Measure:
        pick = max if higher else min
        top = pick(measures, key=lambda m: m.value)
        return Measure(top.value, min(m.cpu_us_per_op for m in measures), top.threads, top.server_us_per_op)

    seq_ours, seq_theirs = best(seq[ours.name], False), best(seq[theirs.name], False)
    conc_ours, conc_theirs = best(conc[ours.name], True), best(conc[theirs.name], True)
    catch_ours, catch_theirs = best(catch[ours.name], True), best(catch[theirs.name], True)
    print_cpu_budget(args.in_flight, {ours.name: conc_ours, theirs.name: conc_theirs})
    return [
        Row(
            "sequential append p50",
            seq_ours.value,
            seq_theirs.value,
            "us",
            False,
            ">= 1.2x",
            seq_theirs.value >= 1.2 * seq_ours.value,
            seq_ours.cpu_us_per_op,
            seq_theirs.cpu_us_per_op,
        ),
        Row(
            f"concurrent appends ({args.in_flight} in flight)",
            conc_ours.value,
            conc_theirs.value,
            "ops/s",
            True,
            ">= 2.5x",
            conc_ours.value >= 2.5 * conc_theirs.value,
            conc_ours.cpu_us_per_op,
            conc_theirs.cpu_us_per_op,
        ),
        Row(
            f"catch-up {args.events:,} events",
            catch_ours.value,
            catch_theirs.value,
            "ev/s",
            True,
            ">= 5x",
            catch_ours.value >= 5 * catch_theirs.value,
            catch_ours.cpu_us_per_op,
            catch_theirs.cpu_us_per_op,
        ),
    ]


async def _seed_and_bench(
    args: argparse.Namespace,
    endpoint: str,
    mock: MockEventStore | None,
    pb2: Any,
    pb2_grpc: Any,
    started: float,
    server: StandaloneServer | None = None,
) -> list[Row]:
    if mock is None:
        await seed_through_client(endpoint, args.events)
    print(f"seeded {args.events:,} events in {time.perf_counter() - started:.2f} s")
    return await bench(args, endpoint, mock, pb2, pb2_grpc, server)


def main() -> None:
    args = options()
    import grpc

    print(
        f"python {platform.python_version()}, grpcio {grpc.__version__}, {os.cpu_count()} cpus, "
        f"load {os.getloadavg()[0]:.2f}; sequential {args.seq}, concurrent {args.concurrent} "
        f"({args.in_flight} in flight), catch-up {args.events:,}, rounds {args.rounds} (best kept)"
    )
    with tempfile.TemporaryDirectory(prefix="eventstore-bench-") as tmp:
        pb2, pb2_grpc = generate_stubs(pathlib.Path(tmp))
        first_start = time.perf_counter()
        mock = MockEventStore()
        cold_ms = (time.perf_counter() - first_start) * 1e3
        start_p50, start_max = mock_start_p50_ms(args.mock_starts)
        t = time.perf_counter()
        if args.against == "mock":
            seed(mock, args.events)
            print(f"against the in-process MockEventStore at {mock.endpoint}")
            rows = asyncio.run(_seed_and_bench(args, mock.endpoint, mock, pb2, pb2_grpc, t))
        else:
            mock.close()
            server = StandaloneServer()
            print(f"against the standalone eventstore-server at {server.endpoint} (pid {server.process.pid})")
            try:
                rows = asyncio.run(_seed_and_bench(args, server.endpoint, None, pb2, pb2_grpc, t, server))
            finally:
                server.close()
        rows.append(Row("MockEventStore() to ready, p50", start_p50, None, "ms", False, "< 5 ms", start_p50 < 5.0))
        if args.against == "mock":
            mock.close()
    print()
    print_table(rows)
    print(f"MockEventStore(): first (runtime start) {cold_ms:.2f} ms, max of {args.mock_starts} {start_max:.2f} ms")
    wall_s, cpu_s = redelivery_check_s(args.redelivery_events)
    print(
        f"check_redelivery of {args.redelivery_events} events ({args.redelivery_events + 1} runs): "
        f"{wall_s:.2f} s wall, {cpu_s:.2f} s CPU"
    )
    import resource

    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"load average at the end: {os.getloadavg()[0]:.2f}; peak RSS {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
