"""DiffPerformer (issue 23): an implicit video representation optimised jointly with a pose-guided diffusion model
(docs/diffperformer.md). Built so far: the IVR, the 3D-aware human flow and its loss, the joint optimisation loop and
latent guidance; the method seam (spec, stages, samplers) is next."""
