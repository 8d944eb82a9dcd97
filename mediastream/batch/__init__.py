"""Scale-out: one graph per input file or stream, on a Ray cluster or on this machine.

One graph is one stream's sequential state, so the work is distributed per input
(a Ray task each) and per model stage (shared model actors), never per chunk::

    from mediastream.batch import BatchSettings, run_batch

    report = run_batch("pipeline.toml", ["a.wav", "b.wav"], "out",
                       BatchSettings(num_cpus=8, retries=2))
    print(report.summary["totals"])

What ends up in ``out/``: ``<stem>/`` per input with its graph's outputs (moved there
in one rename once the input finished: a folder there is complete), ``summary.json``
(per input: status, attempts, media and wall seconds, outputs, errors; files per
minute and x real time overall), and for graphs with a diarizer ``speakers.json``
(speakers linked across inputs) and ``<stem>/speakers.global.rttm``.

Ray is imported only when a batch runs on it (``pip install 'mediastream[ray]'``);
``BatchSettings(ray=False)`` runs the inputs one after the other in this process.
"""

from ._driver import run_batch
from ._plan import (
    Built,
    BuiltGraph,
    DiarizerModels,
    GraphFileRecipe,
    GraphRecipe,
    PythonRecipe,
    input_stems,
)
from ._records import BatchProgress, BatchReport, BatchSettings, InputResult

__all__ = [
    "BatchProgress",
    "BatchReport",
    "BatchSettings",
    "Built",
    "BuiltGraph",
    "DiarizerModels",
    "GraphFileRecipe",
    "GraphRecipe",
    "InputResult",
    "PythonRecipe",
    "input_stems",
    "run_batch",
]
