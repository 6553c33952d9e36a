"""The gain plan: how much gain lands the MP3 on its target, when the true-peak limiter is needed, how a pass
that missed is corrected, and the loudness report kept per episode (docs/audio-pipeline.md, "Loudness")."""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise

# ebur128's summary of a file: "lufs", "lra" (-inf when it printed none), and the peaks it was asked for:
# "true_peak_dbtp", "sample_peak_dbfs" (-inf for silence).
Loudness = dict[str, float]
# What an episode keeps about its loudness (Episode.loudness_report): figures, the target, the gain, flags.
LoudnessReport = dict[str, float | bool | None]

LOUDNESS_TOLERANCE_LU = 1.0  # promised to listeners (docs/audio-pipeline.md, "Loudness")
AIM_TOLERANCE_LU = 0.5  # re-encode when the MP3 lands further than this from the target, keeping clear of ±1
MAX_GAIN_DB = 40.0  # more than this is amplifying noise: near-silent input keeps its level and is reported
SILENCE_LUFS = -69.0  # ebur128 reports -70 LUFS when every block falls under BS.1770's absolute gate
# Measured: a LAME encode of speech lowers integrated loudness (kbps -> LU lost); we pre-compensate.
LAME_LOUDNESS_LOSS_LU = ((64, 0.4), (128, 0.45), (192, 0.2), (320, 0.0))
# Measured: LAME lifts true peaks above their pre-encode level; the limiter aims this far under the ceiling.
ENCODER_PEAK_MARGIN_DB = 1.0
PEAK_CORRECTION_MARGIN_DB = 0.3  # extra room taken when a pass still overshot the ceiling
# Measured on speech from 8 to 96 kHz: true peaks 0-0.3 dB over sample peaks, 0.8 dB on clipped input, 2 dB
# on isolated clicks. The first plan reads the sample peak (pass 1 skips the oversampling) and adds this much:
# a limiter turned on for nothing leaves the audio as it was, one missing costs an encode more.
INTERSAMPLE_ALLOWANCE_DB = 1.0


@dataclass(frozen=True)
class _GainPlan:
    gain_db: float
    limiter: bool
    ceiling_dbtp: float  # where the limiter holds true peaks before LAME


def _lame_loss(kbps: int) -> float:
    """The LU a LAME encode at `kbps` takes off, interpolated between the measured bitrates."""
    points = LAME_LOUDNESS_LOSS_LU
    if kbps <= points[0][0]:
        return points[0][1]
    for (low_kbps, low_lu), (high_kbps, high_lu) in pairwise(points):
        if kbps <= high_kbps:
            return low_lu + (high_lu - low_lu) * (kbps - low_kbps) / (high_kbps - low_kbps)
    return points[-1][1]


def _first_plan(loudness: Loudness, target: float, kbps: int, ceiling_dbtp: float) -> _GainPlan:
    """Gain that lands the MP3 on target, and whether the peaks then need the limiter (judged from pass 1's
    sample peak; the MP3's own measurement corrects a wrong guess)."""
    pre_encode_ceiling = ceiling_dbtp - ENCODER_PEAK_MARGIN_DB
    peak = loudness["sample_peak_dbfs"] + INTERSAMPLE_ALLOWANCE_DB
    if loudness["lufs"] <= SILENCE_LUFS:
        return _GainPlan(0.0, peak > pre_encode_ceiling, pre_encode_ceiling)
    gain = min(target - loudness["lufs"] + _lame_loss(kbps), MAX_GAIN_DB)
    return _GainPlan(round(gain, 2), peak + gain > pre_encode_ceiling, pre_encode_ceiling)


def _corrected_plan(
    plan: _GainPlan, output: Loudness, target: float, ceiling_dbtp: float
) -> _GainPlan | None:
    """After measuring the MP3: None when it is on target, else the plan for one more encode."""
    loudness_off = target - output["lufs"]
    peak_over = output["true_peak_dbtp"] - ceiling_dbtp
    quiet_input = plan.gain_db >= MAX_GAIN_DB or output["lufs"] <= SILENCE_LUFS
    if (abs(loudness_off) <= AIM_TOLERANCE_LU or quiet_input) and peak_over <= 0:
        return None
    gain = plan.gain_db if quiet_input else min(plan.gain_db + loudness_off, MAX_GAIN_DB)
    ceiling = plan.ceiling_dbtp
    if peak_over > 0:
        # LAME lifted the peaks more than the margin allowed for: hold them lower next time.
        ceiling -= peak_over + PEAK_CORRECTION_MARGIN_DB
    peak_next = output["true_peak_dbtp"] + gain - plan.gain_db
    limiter = plan.limiter or peak_over > 0 or peak_next > ceiling_dbtp - PEAK_CORRECTION_MARGIN_DB
    return _GainPlan(round(gain, 2), limiter, ceiling)


def _loudness_report(
    source: Loudness, output: Loudness, target: float, plan: _GainPlan, ceiling_dbtp: float
) -> LoudnessReport:
    on_target = abs(output["lufs"] - target) <= LOUDNESS_TOLERANCE_LU
    return {
        "input_lufs": _finite(source["lufs"]),
        "input_lra": _finite(source["lra"]),
        "input_true_peak_dbtp": _finite(source.get("true_peak_dbtp", -math.inf)),
        "output_lufs": _finite(output["lufs"]),
        "output_true_peak_dbtp": _finite(output["true_peak_dbtp"]),
        "target_lufs": target,
        "limiter_applied": plan.limiter,
        "gain_db": plan.gain_db,
        "on_target": on_target and output["true_peak_dbtp"] <= ceiling_dbtp,
    }


def _finite(value: float) -> float | None:
    """JSON has no -inf: a silent file's peak is reported as null."""
    return round(value, 1) if math.isfinite(value) else None
