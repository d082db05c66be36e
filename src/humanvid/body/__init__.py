"""3D bodies: the SMPL-X model (licence-gated files the user points to), fitting it to DWPose whole-body
keypoints per clip, and rendering mesh conditions."""
