"""Video operators: frame statistics, fingerprints, registration and alignment."""

from .align import AlignBand, AlignPair, AlignRegistration, VideoAlign
from .fingerprint import Fingerprint, FrameFingerprint, FrameFingerprinter
from .frame_stats import FrameStats, FrameStatsReading
from .hamming import hamming_distance, hamming_matrix
from .offline_dtw import banded_subsequence_dtw, dtw_on_band, subsequence_dtw
from .online_dtw import DTWPair, OnlineSubsequenceDTW
from .registration import Registrar, Registration, match_frame

__all__ = [
    "AlignBand",
    "AlignPair",
    "AlignRegistration",
    "DTWPair",
    "Fingerprint",
    "FrameFingerprint",
    "FrameFingerprinter",
    "FrameStats",
    "FrameStatsReading",
    "OnlineSubsequenceDTW",
    "Registrar",
    "Registration",
    "VideoAlign",
    "banded_subsequence_dtw",
    "dtw_on_band",
    "hamming_distance",
    "hamming_matrix",
    "match_frame",
    "subsequence_dtw",
]
