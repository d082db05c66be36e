"""Training-sample recipes: which frames each training stage reads, one class per recipe, by `kind`.

Built-ins: `reference_clip` (the baseline's own) and the papers' `magicanimate_pair`,
`magicanimate_video`, `idol`, `make_your_anchor`, `diffperformer`, `disco` (papers.py; docs/loader.md). Other
packages add theirs through the `humanvid.recipes` entry-point group. Each entry is checked when it is
first loaded: a `Recipe` subclass whose `kind` defaults to its registered name.
"""

from __future__ import annotations

from typing import Any

from humanvid.recipes.base import ClipInfo, Pick, Recipe
from humanvid.recipes.papers import DiffPerformer, Disco, Idol, MagicAnimatePair, MagicAnimateVideo, MakeYourAnchor
from humanvid.recipes.reference_clip import ReferenceClip
from humanvid.registry import Registry


def _check(name: str, cls: type) -> None:
    if not (isinstance(cls, type) and issubclass(cls, Recipe)):
        raise TypeError(f"expected a Recipe subclass, got {cls!r}")
    field = cls.model_fields.get("kind")
    if field is None or field.default != name:
        raise ValueError(f"{cls.__name__}.kind must default to {name!r} (got {getattr(field, 'default', None)!r})")


RECIPES: Registry[type[Recipe]] = Registry("training-sample recipe", "humanvid.recipes", check=_check)
for _cls in (ReferenceClip, MagicAnimatePair, MagicAnimateVideo, Idol, MakeYourAnchor, DiffPerformer, Disco):
    RECIPES.add(_cls.model_fields["kind"].default, _cls)


def parse_recipe(data: Any) -> Recipe:
    """A stage's `recipe` mapping -> its typed recipe (pydantic's ValidationError on bad values)."""
    if isinstance(data, Recipe):
        return data
    if not isinstance(data, dict) or "kind" not in data:
        raise ValueError(f"a recipe is a mapping with `kind` (one of: {', '.join(RECIPES.names())}), got {data!r}")
    return RECIPES.get(data["kind"]).model_validate(data)


__all__ = ["RECIPES", "ClipInfo", "DiffPerformer", "Disco", "Idol", "MagicAnimatePair", "MagicAnimateVideo", "MakeYourAnchor", "Pick", "Recipe",
           "ReferenceClip", "parse_recipe"]  # fmt: skip
