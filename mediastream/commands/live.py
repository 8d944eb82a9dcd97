"""The ``mediastream live`` command.

``live`` runs input device -> dynamics chain (optional gate, compressor, limiter) ->
output device on one duplex PortAudio stream, and prints the measured round-trip
latency, the chain's meters and the xrun counts while it runs.
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

import anyio

from mediastream.argtypes import non_negative_float, positive_float
from mediastream.dynamics_options import add_dynamics_options, dynamics_settings
from stream import Graph, RunStats

__all__ = ["add_parser"]


def _device_arg(text: str) -> int | str:
    return int(text) if text.strip().isdigit() else text


def _latency_arg(text: str) -> str | float:
    if text in ("low", "high"):
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'low', 'high' or seconds, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"latency must be > 0 seconds, got {text}")
    return value


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{1000 * seconds:.1f} ms"


class _LivePrinter:
    """Prints a status line (round trip, xruns) and the latest meter readings."""

    def __init__(self, duplex: Any, chain_latency_s: float, every_s: float, out: Any) -> None:
        self.duplex = duplex
        self.chain_latency_s = chain_latency_s
        self.every_s = every_s
        self.out = out
        self.meters: dict[str, Any] = {}
        self.next_at = time.monotonic() + every_s
        self.announced = False

    def status(self, t: float) -> str:
        s = self.duplex.stats()
        rt = (
            f"round trip {_ms(s.round_trip_s)} ({s.round_trip_frames} frames; "
            f"min {_ms(s.round_trip_min_s)}, max {_ms(s.round_trip_max_s)})"
            if s.round_trip_s is not None
            else "round trip: not measured yet"
        )
        xruns = (
            f"xruns: {s.overruns} overruns ({s.dropped_frames} frames), "
            f"{s.input_overflows} input overflows, {s.underruns} underruns "
            f"({s.underrun_frames} frames), {s.skipped_frames} frames skipped"
        )
        return f"{t:9.3f} s  {rt}  {xruns}"

    def meter_lines(self) -> list[str]:
        lines = []
        for stage, r in self.meters.items():
            ins = " ".join(f"{v:6.1f}" for v in r.input_peak_dbfs)
            outs = " ".join(f"{v:6.1f}" for v in r.output_peak_dbfs)
            gr = " ".join(f"{v:5.1f}" for v in r.gain_reduction_db)
            lines.append(
                f"{'':11}  {stage:<11} in {ins} dBFS  out {outs} dBFS  reduction {gr} dB"
            )
        return lines

    def progress(self, stats: RunStats) -> None:
        if not self.announced and self.duplex.input_info is not None:
            self.announced = True
            i, o = self.duplex.input_info, self.duplex.output_info
            lat_in, lat_out = self.duplex.stats().device_latency_s
            self.out(
                f"devices: input {i.index} {i.name!r} ({i.hostapi}), output {o.index} "
                f"{o.name!r} ({o.hostapi}); PortAudio latency in {_ms(lat_in)}, "
                f"out {_ms(lat_out)}; chain latency {_ms(self.chain_latency_s)}"
            )
        now = time.monotonic()
        if now >= self.next_at:
            self.next_at = now + self.every_s
            self.out(self.status(stats.media_s))
            for line in self.meter_lines():
                self.out(line)


async def _run_live(graph: Graph, printer: _LivePrinter, feeders: list[str], bar: bool) -> RunStats:
    from mediastream.console import ProgressDisplay, format_event

    with ProgressDisplay("live", enabled=bar) as display:
        printer.out = display.print

        def progress(stats: RunStats) -> None:
            display.update(stats)
            printer.progress(stats)

        async with graph.events(*feeders, progress=progress) as events:
            async for event in events:
                if event.kind == "dynamics":
                    printer.meters[event.payload.stage] = event.payload
                elif event.kind == "xrun" and event.payload.cause == "overrun":
                    # Audio lost (replaced by silence): worth a line of its own. Input
                    # overflows (driver-side) are counted in the status line.
                    display.print(format_event(event))
        assert events.stats is not None
        return events.stats


def _cmd_live(args: argparse.Namespace) -> int:
    import numpy as np

    from operators.dynamics import build_dynamics_chain, dynamics_operators
    from stream import DuplexDevice

    settings = dynamics_settings(args, args.meter_interval_ms)
    # Compile the chain's kernels before the devices start (the first compile of a
    # Numba kernel takes seconds: the device would overrun meanwhile).
    silence = np.zeros((args.channels, 2 * max(args.blocksize, 256)), np.float32)
    for _, op in dynamics_operators(settings):
        op.run_all(silence, args.rate)
    duplex = DuplexDevice(
        args.input,
        args.output,
        sample_rate=args.rate,
        channels=args.channels,
        blocksize=args.blocksize,
        latency=args.latency,
        prefill_blocks=args.prefill_blocks,
        duration=args.duration,
    )
    g = Graph()
    src = g.add(duplex.source, "input")
    chain = build_dynamics_chain(g, src["audio"], settings)
    g.connect(chain.audio, g.add(duplex.sink, "output"))
    chain_latency = g.latency()["output"]
    stages = " -> ".join(n.name for n in chain.nodes)
    print(
        f"live: input -> {stages} -> output, {args.rate} Hz, {args.channels} ch, blocksize "
        f"{args.blocksize} ({1000 * args.blocksize / args.rate:.2f} ms)"
        + (f", {args.duration:g} s" if args.duration else ", Ctrl-C stops")
    )
    printer = _LivePrinter(duplex, chain_latency, args.print_every, print)
    feeders = ["input"] + [n.name for n in chain.nodes]
    stats = anyio.run(_run_live, g, printer, feeders, not args.no_progress)
    final = duplex.stats()
    print(printer.status(stats.media_s))
    for line in printer.meter_lines():
        print(line)
    print(
        f"round trip (capture -> DAC, measured): last {_ms(final.round_trip_s)}, min "
        f"{_ms(final.round_trip_min_s)}, max {_ms(final.round_trip_max_s)}; of which chain "
        f"latency (declared) {_ms(chain_latency)}; PortAudio device latency in "
        f"{_ms(final.device_latency_s[0])}, out {_ms(final.device_latency_s[1])}"
    )
    return 0


def add_parser(sub: Any) -> None:
    """Register ``live`` on the CLI's subparsers."""
    p = sub.add_parser(
        "live",
        help="input device -> dynamics chain -> output device, with latency and xrun counts",
        description="Live audio: one duplex PortAudio stream, input -> [gate] -> compressor "
        "-> [limiter] -> output. Prints the measured round trip (capture to DAC), meters and "
        "xrun counts. Levels in dB(FS), times in ms unless noted.",
    )
    p.add_argument("--input", type=_device_arg, default=None, help="input device (index/name)")
    p.add_argument("--output", type=_device_arg, default=None, help="output device (index/name)")
    p.add_argument("--rate", type=int, default=48000, help="sample rate in Hz (default 48000)")
    p.add_argument("--channels", type=int, default=2, help="channels (default 2)")
    p.add_argument(
        "--blocksize", type=int, default=256, help="frames per device callback (default 256)"
    )
    p.add_argument(
        "--latency",
        type=_latency_arg,
        default="low",
        help="PortAudio latency: low, high or seconds (default low)",
    )
    p.add_argument(
        "--prefill-blocks",
        type=int,
        default=1,
        help="output cushion in blocks against scheduling jitter (default 1)",
    )
    p.add_argument(
        "--duration",
        type=positive_float,
        default=None,
        help="stop after S seconds (default: run until Ctrl-C)",
    )
    add_dynamics_options(p)
    p.add_argument(
        "--meter-interval-ms",
        type=positive_float,
        default=100.0,
        help="meter window (default 100)",
    )
    p.add_argument(
        "--print-every",
        type=non_negative_float,
        default=1.0,
        metavar="S",
        help="print the status and meters every S seconds (default 1)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_live)
