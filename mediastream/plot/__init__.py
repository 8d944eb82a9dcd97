"""Pictures of results: PNG files drawn from events, for people who would rather look.

Three pictures, each from the JSON form of events (:meth:`stream.Event.to_dict`, one
line of a :class:`sinks.JsonLinesSink` file: ``{"kind", "start", "end", "time_base",
"start_s", "end_s", "payload"}``):

* **timeline** (:func:`plot_timeline`, ``"speaker_turn"`` events): one row per speaker;
  with a reference RTTM, the reference above it on the same time axis and, when
  ``pyannote.metrics`` is installed, the diarization error rate in the title (overlap
  scored, at collar 0 s and 0.5 s), hypothesis speakers coloured like the reference
  speakers they map to.
* **alignment** (:func:`plot_alignment`, ``"align_pair"`` and ``"align_band"`` events of
  :class:`operators.video.VideoAlign`): the DTW cost band as an image (x: fg frame,
  y: bg frame, colour: local cost, blank outside the band) with the chosen path over
  it, pairs forced out by the maximum lag (``final`` False) marked with crosses, and
  the cost along the path below. Pairs alone (no bands) draw the path and its cost.
* **dynamics** (:func:`plot_dynamics`, ``"dynamics"`` events of the dynamics
  operators' meters): input and output peak levels (dBFS) over time above, gain
  reduction (dB, drawn downwards) below, one colour per stage (compressor, limiter,
  gate...). Peaks and reductions are the largest over the channels.

:func:`plot_results` reads JSON Lines files line by line and writes every picture it
has data for; :class:`PlotData` is the collector behind all of them (and behind
:class:`PlotSink`).

**Sizes.** Every PNG is exactly ``width_px`` x ``height_px`` pixels (default 1600 x 900
at 100 dpi: figure inches are ``px / 100``).

**Memory.** What is kept is compact and bounded, whatever the length of the run:
speaker turns are kept whole (24 bytes each: a few thousand per hour of speech);
alignment pairs keep at most ``max_points`` rows (default 20 000; 32 bytes each), band
rows at most ``max_points`` (``8 * (2 * band + 3)`` bytes each), and each dynamics stage
at most ``max_points`` readings (40 bytes each). Past that, neighbouring rows are merged
two by two, and the number of events per row doubles: dynamics rows keep the largest
peaks and gain reduction of the readings they merge (the envelope survives), pair rows
keep the first pair, the largest cost and whether any pair was forced, band rows keep
the first band. A 10-hour run at 100 ms meter windows thus keeps about 15 000 readings
of 2.4 s per stage: more than the picture has pixels.

matplotlib is optional (``pip install 'mediastream[plot]'``) and imported only when a
picture is drawn; ``pyannote.metrics`` only when a reference is scored.
"""

from ._alignment import plot_alignment
from ._checks import (
    DEFAULT_HEIGHT_PX,
    DEFAULT_NAMES,
    DEFAULT_WIDTH_PX,
    PICTURES,
    check_matplotlib,
    check_names,
    check_size,
)
from ._data import KINDS, PlotData
from ._dynamics import plot_dynamics
from ._figure import DPI
from ._files import plot_results
from ._rttm import RttmTurn, read_rttm
from ._timeline import plot_timeline
from ._write import write_pictures
from .sink import PlotSink

__all__ = [
    "DEFAULT_HEIGHT_PX",
    "DEFAULT_NAMES",
    "DEFAULT_WIDTH_PX",
    "DPI",
    "KINDS",
    "PICTURES",
    "PlotData",
    "PlotSink",
    "RttmTurn",
    "check_matplotlib",
    "check_names",
    "check_size",
    "plot_alignment",
    "plot_dynamics",
    "plot_results",
    "plot_timeline",
    "read_rttm",
    "write_pictures",
]
