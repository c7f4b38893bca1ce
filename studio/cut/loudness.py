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


class _Filtering:
    """PCM pushed through FFmpeg's filters in pieces of any length: the filters get the same
    frames (_CHUNK samples each, the rest at the end) as from one push of the whole, so the
    output is the same to the last bit (the filters' arithmetic depends on their frames)."""

    def __init__(self, filters: list[tuple[str, str]],
                 each: Callable[[np.ndarray], None] | None = None, *, guard: bool = False
                 ) -> None:
        self.graph = graph = av.filter.Graph()
        node = graph.add_abuffer(format="fltp", sample_rate=SAMPLE_RATE, layout="stereo",
                                 time_base=f"1/{SAMPLE_RATE}")
        chain = [node, *(graph.add(name, args) for name, args in filters),
                 graph.add("abuffersink")]
        for left, right in itertools.pairwise(chain):
            left.link_to(right)
        graph.configure()
        self.each = each
        self.out: list[np.ndarray] = []
        self.meta: dict[str, str] = {}
        self.at = 0  # samples sent to the filters so far
        self.waiting: list[np.ndarray] = []  # pushed, short of a whole frame
        self.held = 0
        # Every frame starts at a multiple of _CHUNK (even): the tone runs on unbroken.
        self.tone = np.where(np.arange(_CHUNK) % 2 == 0, GUARD, -GUARD).astype(np.float32) \
            if guard else None

    def push(self, pcm: np.ndarray) -> None:
        start = 0
        if self.held:
            start = min(pcm.shape[1], _CHUNK - self.held)
            self.waiting.append(pcm[:, :start])
            self.held += start
            if self.held < _CHUNK:
                return
            self._send(np.concatenate(self.waiting, axis=1))
            self.waiting, self.held = [], 0
        for at in range(start, pcm.shape[1], _CHUNK):
            chunk = pcm[:, at:at + _CHUNK]
            if chunk.shape[1] == _CHUNK:
                self._send(chunk)
            else:
                self.waiting, self.held = [chunk], chunk.shape[1]

    def _send(self, chunk: np.ndarray) -> None:
        chunk = chunk + self.tone[:chunk.shape[1]] if self.tone is not None \
            else np.ascontiguousarray(chunk)
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self.at
        self.graph.push(frame)
        self.at += chunk.shape[1]
        self._pull()

    def close(self) -> tuple[np.ndarray, dict[str, str]]:
        """The output samples (none with `each`) and the last frame's metadata."""
        if self.held:
            self._send(np.concatenate(self.waiting, axis=1))
            self.waiting, self.held = [], 0
        self.graph.push(None)
        self._pull()
        samples = np.concatenate(self.out, axis=1) if self.out else np.zeros((2, 0), np.float32)
        return samples, self.meta

    def _pull(self) -> None:
        while True:
            try:
                frame = self.graph.pull()
            except (av.error.BlockingIOError, av.error.EOFError):
                return
            samples = frame.to_ndarray().reshape(2, -1)
            if self.each is None:
                self.out.append(samples)
            else:
                self.each(samples)
            self.meta.update(dict(frame.metadata))


def _run(pcm: np.ndarray, filters: list[tuple[str, str]],
         each: Callable[[np.ndarray], None] | None = None, *, guard: bool = False
         ) -> tuple[np.ndarray, dict[str, str]]:
    """Push `pcm` through the filters; the output samples and the last frame's metadata.
    With `each`, every output frame's samples go to it instead (none are returned); with
    `guard`, the GUARD tone is added to what goes in."""
    filtering = _Filtering(filters, each, guard=guard)
    filtering.push(pcm)
    return filtering.close()


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
    return _whole(_k_power(pcm.shape[1]), pcm)


def _power(weighted: np.ndarray, out: np.ndarray) -> None:
    kept = weighted.astype(np.float64)
    np.einsum("ij,ij->j", kept, kept, out=out)


def _k_power(size: int) -> _Reduced:
    return _Reduced(K_WEIGHTING, size, np.float64, _power, guard=True)


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
    return _whole(_oversampled(pcm.shape[1]), pcm)


def _louder(up: np.ndarray, out: np.ndarray) -> None:
    np.maximum(np.abs(up[0]), np.abs(up[1]), out=out)


def _oversampled(size: int) -> _Reduced:
    return _Reduced([("aresample", str(4 * SAMPLE_RATE))], 4 * size, np.float32, _louder)


class _Reduced:
    """The filters' output brought down to one value a sample, frame by frame (the output is
    never held whole): `reduce(samples, out)` writes a frame's into its slice of the result;
    zeros past the output's end. Fed in pieces, it gives what one push of the whole does."""

    def __init__(self, filters: list[tuple[str, str]], size: int, dtype: type,
                 reduce: Callable[[np.ndarray, np.ndarray], object], *, guard: bool = False
                 ) -> None:
        self.result = np.zeros(size, dtype)
        self.at = 0
        self.reduce = reduce
        self.filtering = _Filtering(filters, self._keep, guard=guard)

    def _keep(self, samples: np.ndarray) -> None:
        n = min(samples.shape[1], self.result.size - self.at)
        self.reduce(samples[:, :n], self.result[self.at:self.at + n])
        self.at += n

    def push(self, pcm: np.ndarray) -> None:
        self.filtering.push(pcm)

    def close(self) -> np.ndarray:
        self.filtering.close()
        return self.result


def _whole(reduced: _Reduced, pcm: np.ndarray) -> np.ndarray:
    reduced.push(pcm)
    return reduced.close()


class Measuring:
    """A mix's K-weighted power and 4× peaks (k_power and oversampled) measured as it comes,
    piece after piece in order (a chapter's shots as their segments are made): the same
    arrays as the two functions give for the whole, with no pass left at its end."""

    def __init__(self, size: int) -> None:
        self.power = _k_power(size)
        self.peaks = _oversampled(size)

    def push(self, pcm: np.ndarray) -> None:
        self.power.push(pcm)
        self.peaks.push(pcm)

    def close(self) -> tuple[np.ndarray, np.ndarray]:
        return self.power.close(), self.peaks.close()


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
