"""humanvid: reproduce human-centric video diffusion paper tables end to end.

The library: datasets, estimators, shards, models, training, sampling, metrics and reports.
It never imports Prefect or DVC; `flows/` and `tasks/` wire it into those.
"""

__version__ = "0.1.0"
