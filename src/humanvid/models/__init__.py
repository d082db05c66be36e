"""Methods: one folder each (`spec.py` + the model code), found by name in METHODS.

Entries are `MethodSpec`s (humanvid.models.spec), imported when first looked up and checked then; their
model classes are imported only when a stage runs, so validating params.yaml does not import diffusers.
Other packages add methods through the `humanvid.methods` entry-point group.
"""

from __future__ import annotations

from humanvid.models.spec import FlavorSpec, MethodSpec, StageSpec, check_spec
from humanvid.registry import Registry

METHODS: Registry[MethodSpec] = Registry("method", "humanvid.methods", check=check_spec)
METHODS.add_lazy("baseline", "humanvid.models.baseline.spec:SPEC")
METHODS.add_lazy("diffperformer", "humanvid.models.diffperformer.spec:SPEC")
METHODS.add_lazy("disco", "humanvid.models.disco.spec:SPEC")
METHODS.add_lazy("idol", "humanvid.models.idol.spec:SPEC")
METHODS.add_lazy("ldm3d", "humanvid.models.ldm3d.spec:SPEC")
METHODS.add_lazy("magicanimate", "humanvid.models.magicanimate.spec:SPEC")
METHODS.add_lazy("make_your_anchor", "humanvid.models.make_your_anchor.spec:SPEC")
METHODS.add_lazy("mm_diffusion", "humanvid.models.mm_diffusion.spec:SPEC")
METHODS.add_lazy("trivial", "humanvid.models.trivial.spec:SPEC")

__all__ = ["METHODS", "FlavorSpec", "MethodSpec", "StageSpec"]
