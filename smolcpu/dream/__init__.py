"""The dream layer: Smol learns from its recorded runs (above vm and programs; see ARCHITECTURE.md).

:func:`mine` reads the runs: decisions with their inputs and fates, verified solutions.
:func:`distil` fits a fast chooser to the LLM's decisions with a calibrated deferral
threshold; :mod:`smolcpu.dream._choosers` puts versions in service, audits and rolls them
back. :func:`dream` does it all once and files verified solutions as experience.
"""

from smolcpu.dream._choosers import AUDIT_MIN, adopt, audited, revert, roll_back_fallen
from smolcpu.dream._distil import MIN_DECISIONS, TARGET_AGREEMENT, Distilled, calibrate, distil, fit, wilson_lower
from smolcpu.dream._dream import DreamReport, dream, latest_report, points_of
from smolcpu.dream._mining import RETRY_WINDOW_S, Decided, Mined, Solved, mine, retried

__all__ = [
    "AUDIT_MIN",
    "MIN_DECISIONS",
    "RETRY_WINDOW_S",
    "TARGET_AGREEMENT",
    "Decided",
    "Distilled",
    "DreamReport",
    "Mined",
    "Solved",
    "adopt",
    "audited",
    "calibrate",
    "distil",
    "dream",
    "fit",
    "latest_report",
    "mine",
    "points_of",
    "retried",
    "revert",
    "roll_back_fallen",
    "wilson_lower",
]
