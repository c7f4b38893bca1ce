"""Loudness in two passes: measure (EBU R128 integrated and true peak), then apply the gain."""

from __future__ import annotations

import re
from dataclasses import dataclass

from studio.timeline import SAMPLE_RATE

MEASURE = "ebur128=peak=true:framelog=quiet"


@dataclass(frozen=True)
class Loudness:
    """EBU R128 measurements of a mix (ffmpeg's ebur128 summary)."""

    integrated: float
    true_peak: float


def measured_loudness(stderr: str) -> Loudness | None:
    found_i = re.findall(r"Integrated loudness:\s*I:\s*(-?[\d.]+|-inf) LUFS", stderr)
    found_tp = re.findall(r"True peak:\s*Peak:\s*(-?[\d.]+|-inf) dBFS", stderr)
    if not found_i or not found_tp:
        return None
    return Loudness(float(found_i[-1]), float(found_tp[-1]))


def gain_filter(measured: Loudness | None, target: float, ceiling: float = -1.0) -> str:
    """Pass 2: the gain that brings the mix to the target, limited so peaks stay under ceiling."""
    if measured is None or measured.integrated <= -70:
        return "anull"  # silence (or near it) has no loudness to normalize
    gain = target - measured.integrated
    chain = f"volume={gain:.2f}dB"
    if measured.true_peak + gain > ceiling:
        # Louder than the peaks allow: a limiter holds the peaks, as loudnorm's dynamic mode.
        chain += f",alimiter=limit={10 ** (ceiling / 20):.4f}:level=false"
    return chain + f",aresample={SAMPLE_RATE}"
