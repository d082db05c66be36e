"""One training loop (loop.py) and one stage runner (run.py) over every method; streams of batches
(streams.py) and resume state (resume.py)."""

from humanvid.training.loop import LoopSettings, Monitor, TrainResult, train

__all__ = ["LoopSettings", "Monitor", "TrainResult", "train"]
