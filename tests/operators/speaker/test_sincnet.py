"""Segmentation of consecutive buffers with SincNet's first convolution shared
(operators/speaker/sincnet.py): equal to segmentation-3.0's own forward pass within
float32 rounding on real speech, silence and a DC offset; other cases fall back."""

from __future__ import annotations

import numpy as np

from operators.speaker.sincnet import SharedSincNet

from .support import RATE, campplus, sample_audio, segmentation

WINDOW, STEP = 5 * RATE, RATE // 2  # the diarizer's default buffers


def _buffers(x: np.ndarray, n: int) -> np.ndarray:
    return np.lib.stride_tricks.sliding_window_view(x, WINDOW)[::STEP][:n].copy()


def test_segmentation_3_is_run_with_the_shared_convolution() -> None:
    seg = segmentation("torch")
    assert isinstance(seg._shared, SharedSincNet)
    assert seg._shared.supports(WINDOW, STEP)
    assert not seg._shared.supports(WINDOW, STEP + 1)  # not on SincNet's stride
    assert not seg._shared.supports(WINDOW, WINDOW)  # no overlap, nothing to share


def test_shared_path_equals_the_model_on_speech_silence_and_dc() -> None:
    seg = segmentation("torch")
    x = sample_audio()[: 26 * RATE].copy()
    x[8 * RATE : 15 * RATE] = 0.0  # digital silence: buffers with zero variance
    x[18 * RATE :] += 0.2  # a DC offset
    n = seg.batch_size + 8  # two forward passes: 32 buffers, then 8
    buffers = _buffers(x, n)
    assert buffers.shape[0] == n
    plain = seg(buffers)
    shared = seg(buffers, step=STEP)
    assert plain.shape == shared.shape == (n, plain.shape[1], 3)
    np.testing.assert_allclose(shared, plain, atol=1e-4)
    assert plain.max() > 0.9  # speech was there


def test_steps_it_cannot_share_fall_back_to_the_model() -> None:
    seg = segmentation("torch")
    x = sample_audio()[: 9 * RATE]
    step = STEP + 3
    buffers = np.lib.stride_tricks.sliding_window_view(x, WINDOW)[::step][:4].copy()
    np.testing.assert_array_equal(seg(buffers, step=step), seg(buffers))
    one = _buffers(x, 1)
    np.testing.assert_array_equal(seg(one, step=STEP), seg(one))


def test_a_model_without_sincnet_is_refused() -> None:
    assert SharedSincNet.probe(campplus("torch").net) is None
