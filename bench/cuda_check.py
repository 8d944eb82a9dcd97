"""CUDA check of the speaker-embedding backends (fp16 autocast) against the CPU.

Not a registered benchmark: CI has no GPU. Run on a machine with one::

    .venv/bin/python bench/cuda_check.py

For CAM++ and GE2E it embeds the windows of pyannote's ``sample.wav`` (half-window
hop) on the CPU and on ``cuda``, prints the smallest cosine similarity between the
two, the throughput of 1024 windows in batches of 64 on CUDA against 128 on the CPU
(4 torch threads), and runs the light-mode diarizer (energy VAD) on each device:
the turns should be identical. 2026-11-24, one H100 (torch 2.11.0+cu130, 16 CPU
cores): cosine >= 0.99999 for both, identical turns; CAM++ 565 windows/s on CUDA
(its Kaldi fbanks are computed in fp32) vs 64 on the CPU, GE2E 6919 vs 682 (one
timing each: indicative only).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    import torch

    from operators.speaker import CAMPPlusEmbedding, GE2EEmbedding, OnlineDiarizer
    from tests.operators.speaker.support import sample_audio

    x = sample_audio()
    print("torch", torch.__version__, torch.cuda.get_device_name(0))
    for name, cls in (("campplus", CAMPPlusEmbedding), ("ge2e", GE2EEmbedding)):
        cpu = cls(device="cpu", threads=4)
        gpu = cls(device="cuda", batch_size=64)
        win = int(cpu.window_s * 16000)
        batch = np.stack([x[s : s + win] for s in range(0, x.size - win, win // 2)])
        ec, eg = cpu.embed(batch), gpu.embed(batch)
        cos = (ec * eg).sum(1) / np.linalg.norm(ec, axis=1) / np.linalg.norm(eg, axis=1)
        print(f"{name}: {len(batch)} windows, cos(cpu, cuda) min {cos.min():.5f}")
        big = np.tile(batch, (32, 1))[:1024]
        gpu.embed(big[:64])
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        gpu.embed(big)
        torch.cuda.synchronize()
        t_gpu = time.perf_counter() - t0
        t0 = time.perf_counter()
        cpu.embed(big[:128])
        t_cpu = time.perf_counter() - t0
        print(f"{name}: cuda {1024 / t_gpu:.0f} windows/s, cpu {128 / t_cpu:.0f} windows/s")
        turns = []
        for m in (cpu, gpu):
            op = OnlineDiarizer(m, mode="vad", vad="energy")
            ev = op.run_all(x, 16000, chunk_frames=4096)
            turns.append([(e.start, e.end, e.payload.speaker) for e in ev])
        print(f"{name}: light-mode turns identical on cpu and cuda: {turns[0] == turns[1]}")


if __name__ == "__main__":
    main()
