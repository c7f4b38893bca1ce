"""Loudness in two passes: measure (EBU R128 integrated and true peak), then apply the gain.

Both passes run in-process through FFmpeg's own filters (ebur128, biquad, volume, alimiter) in
a PyAV filter graph, on float stereo PCM at 48 kHz held in numpy arrays (2 × samples).

A chapter is measured shot by shot (studio/soundtrack.py caches each shot's part): BS.1770's
gated loudness needs only the K-weighted energy of each 100 ms hop, and energies add, so a
shot's hops (`hop_energies`) and its true peak (`true_peak`) are kept and the chapter's
integrated loudness is gated from them (`integrated`); one new take re-measures one shot.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import av
import numpy as np

from studio.cut.timeline import SAMPLE_RATE

CEILING = -1.0  # dBTP the mix's true peaks stay under
_CHUNK = 48000  # samples per frame pushed through a filter graph: 1 s, few Python calls
HOP = SAMPLE_RATE // 10  # 100 ms: gating blocks of 400 ms step by a quarter (BS.1770-4)
BLOCK = 4 * HOP
ABSOLUTE_GATE = -70.0  # LUFS
RELATIVE_GATE = -10.0  # LU below the loudness of the blocks over the absolute gate
SETTLE = HOP  # samples the K-weighting filters run before a shot (their tail is ~1e-10 by then)
# A −600 dBFS tone at the Nyquist frequency added to what is K-weighted: in silence the filters'
# state would otherwise decay into subnormal numbers, where the x86 FPU is 10–15× slower (a
# chapter of takes with gaps between them measured 9× slower than one of music). Its power,
# 1e-60, moves no measurement; the high-pass would remove a DC offset and let the state decay.
GUARD = 1e-30
# BS.1770-4's K-weighting at 48 kHz: the head's high shelf, then the RLB high-pass.
K_WEIGHTING = [
    ("biquad", "b0=1.53512485958697:b1=-2.69169618940638:b2=1.19839281085285:a0=1:"
               "a1=-1.69065929318241:a2=0.73248077421585:precision=f64"),
    ("biquad", "b0=1:b1=-2:b2=1:a0=1:a1=-1.99004745483398:a2=0.99007225036621:precision=f64"),
]


@dataclass(frozen=True)
class Loudness:
    """EBU R128 measurements of a mix (ffmpeg's ebur128 summary)."""

    integrated: float
    true_peak: float


@dataclass(frozen=True)
class Gain:
    """What a chapter's mix is multiplied by: a gain in dB, with a limiter when peaks need it."""

    db: float
    limit: bool


UNITY = Gain(0.0, False)


def measured_loudness(stderr: str) -> Loudness | None:
    """The summary ffmpeg's ebur128 filter prints on stderr (the CLI's report)."""
    found_i = re.findall(r"Integrated loudness:\s*I:\s*(-?[\d.]+|-inf) LUFS", stderr)
    found_tp = re.findall(r"True peak:\s*Peak:\s*(-?[\d.]+|-inf) dBFS", stderr)
    if not found_i or not found_tp:
        return None
    return Loudness(float(found_i[-1]), float(found_tp[-1]))


def gain_for(measured: Loudness | None, target: float, ceiling: float = CEILING) -> Gain:
    """Pass 2's gain: to the target, limited where the peaks would pass the ceiling."""
    if measured is None or measured.integrated <= -70:
        return UNITY  # silence (or near it) has no loudness to normalize
    db = round(target - measured.integrated, 2)
    return Gain(db, measured.true_peak + db > ceiling)


def gain_filter(measured: Loudness | None, target: float, ceiling: float = CEILING) -> str:
    """Pass 2 as an ffmpeg filter chain (for the CLI)."""
    gain = gain_for(measured, target, ceiling)
    if gain == UNITY:
        return "anull"
    return _chain(gain, ceiling) + f",aresample={SAMPLE_RATE}"


def _chain(gain: Gain, ceiling: float) -> str:
    chain = f"volume={gain.db:.2f}dB"
    if gain.limit:
        # Louder than the peaks allow: a limiter holds the peaks, delay compensated.
        chain += f",alimiter=limit={10 ** (ceiling / 20):.4f}:level=false:latency=1"
    return chain


def _run(pcm: np.ndarray, filters: list[tuple[str, str]],
         each: Callable[[np.ndarray], None] | None = None, *, guard: bool = False
         ) -> tuple[np.ndarray, dict[str, str]]:
    """Push `pcm` through the filters; the output samples and the last frame's metadata.
    With `each`, every output frame's samples go to it instead (none are returned); with
    `guard`, the GUARD tone is added to what goes in."""
    graph = av.filter.Graph()
    node = graph.add_abuffer(format="fltp", sample_rate=SAMPLE_RATE, layout="stereo",
                             time_base=f"1/{SAMPLE_RATE}")
    chain = [node, *(graph.add(name, args) for name, args in filters), graph.add("abuffersink")]
    for left, right in itertools.pairwise(chain):
        left.link_to(right)
    graph.configure()
    out: list[np.ndarray] = []
    meta: dict[str, str] = {}

    def pull() -> None:
        while True:
            try:
                frame = graph.pull()
            except (av.error.BlockingIOError, av.error.EOFError):
                return
            samples = frame.to_ndarray().reshape(2, -1)
            if each is None:
                out.append(samples)
            else:
                each(samples)
            meta.update(dict(frame.metadata))

    tone = np.where(np.arange(_CHUNK) % 2 == 0, GUARD, -GUARD).astype(np.float32) if guard \
        else None
    for at in range(0, pcm.shape[1], _CHUNK):  # _CHUNK is even: the tone runs on unbroken
        chunk = pcm[:, at:at + _CHUNK]
        chunk = chunk + tone[:chunk.shape[1]] if tone is not None else np.ascontiguousarray(chunk)
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = at
        graph.push(frame)
        pull()
    graph.push(None)
    pull()
    samples = np.concatenate(out, axis=1) if out else np.zeros((2, 0), np.float32)
    return samples, meta


def measure(pcm: np.ndarray) -> Loudness | None:
    """Integrated loudness (LUFS) and true peak (dBTP) of float stereo PCM, by ebur128."""
    if pcm.shape[1] == 0 or not np.any(pcm):
        return None
    _, meta = _run(pcm, [("ebur128", "peak=true:metadata=1")])
    if "lavfi.r128.I" not in meta:
        return None
    peak = float(meta.get("lavfi.r128.true_peak", "0"))
    return Loudness(float(meta["lavfi.r128.I"]),
                    20 * math.log10(peak) if peak > 0 else -math.inf)


def k_power(pcm: np.ndarray) -> np.ndarray:
    """Each sample's K-weighted power (both channels' squares, BS.1770's stereo weights)."""
    def power(weighted: np.ndarray, out: np.ndarray) -> None:
        kept = weighted.astype(np.float64)
        np.einsum("ij,ij->j", kept, kept, out=out)

    return _reduced(pcm, K_WEIGHTING, pcm.shape[1], np.float64, power, guard=True)


def hop_energies(power: np.ndarray, phase: int) -> np.ndarray:
    """The samples' power summed per 100 ms hop, the first sample `phase` into its hop."""
    return np.bincount((np.arange(power.size) + phase) // HOP, weights=power)


def hop_count(samples: int, phase: int) -> int:
    """How many hops hop_energies gives for `samples` (at least one) starting at `phase`."""
    return (samples - 1 + phase) // HOP + 1


def integrated(energies: np.ndarray, length: int) -> float | None:
    """BS.1770-4 gated loudness (LUFS) of `length` samples from their hops' energies: every
    whole 400 ms block, absolute gate, then relative gate; None when nothing passes."""
    hops = length // HOP
    if hops < 4:
        return None
    cumulative = np.concatenate([[0.0], np.cumsum(energies[:hops])])
    power = (cumulative[4:] - cumulative[:-4]) / BLOCK
    with np.errstate(divide="ignore"):
        lk = -0.691 + 10 * np.log10(power)
    gated = power[lk >= ABSOLUTE_GATE]
    if not gated.size:
        return None
    relative = -0.691 + 10 * math.log10(gated.mean()) + RELATIVE_GATE
    kept = power[(lk >= ABSOLUTE_GATE) & (lk >= relative)]
    return round(-0.691 + 10 * math.log10(kept.mean()), 3)


def oversampled(pcm: np.ndarray) -> np.ndarray:
    """|sample| of the louder channel at 4× the rate (swresample, as ebur128's true peak):
    index 4·i is sample i."""
    if not np.any(pcm):
        return np.zeros(4 * pcm.shape[1], np.float32)
    return _reduced(pcm, [("aresample", str(4 * SAMPLE_RATE))], 4 * pcm.shape[1], np.float32,
                    lambda up, out: np.maximum(np.abs(up[0]), np.abs(up[1]), out=out))


def _reduced(pcm: np.ndarray, filters: list[tuple[str, str]], size: int, dtype: type,
             reduce: Callable[[np.ndarray, np.ndarray], object], *, guard: bool = False
             ) -> np.ndarray:
    """The filters' output brought down to one value a sample, frame by frame (the output is
    never held whole): `reduce(samples, out)` writes a frame's into its slice of the result;
    zeros past the output's end."""
    result = np.zeros(size, dtype)
    at = 0

    def keep(samples: np.ndarray) -> None:
        nonlocal at
        n = min(samples.shape[1], size - at)
        reduce(samples[:, :n], result[at:at + n])
        at += n

    _run(pcm, filters, keep, guard=guard)
    return result


def true_peak(pcm: np.ndarray) -> float:
    """The highest true (4× oversampled) sample of `pcm`, linear."""
    return float(oversampled(pcm).max(initial=0.0))


def in_db(peak: float) -> float:
    return 20 * math.log10(peak) if peak > 0 else -math.inf


def apply(pcm: np.ndarray, gain: Gain, ceiling: float = CEILING) -> np.ndarray:
    """The mix at `gain`: a plain multiply, or volume and alimiter through FFmpeg's filters."""
    if gain == UNITY:
        return pcm
    if not gain.limit:
        return (pcm * np.float32(10 ** (gain.db / 20))).astype(np.float32)
    name_args = [tuple(f.split("=", 1)) for f in _chain(gain, ceiling).split(",")]
    out, _ = _run(pcm, [(n, a) for n, a in name_args])
    fitted = np.zeros_like(pcm)
    fitted[:, :min(out.shape[1], pcm.shape[1])] = out[:, :pcm.shape[1]]
    return fitted
