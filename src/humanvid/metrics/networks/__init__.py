"""Feature networks of the network metrics, in plain torch (no torchvision), each loading its public
weight file by the file's own key names. `load_exact` refuses a file with missing, unexpected or
mis-shaped keys and names the file and the keys."""

from __future__ import annotations

from humanvid.state_dicts import load_exact, read_state_dict

__all__ = ["load_exact", "read_state_dict"]
