"""The one error models raise for a bad constructor argument or input: a ValueError naming the parameter.

Models know nothing of configs or bundles. The layer that builds a model from a recipe turns it into
the field-named ConfigError (`training.recipes.build_recipe_model`); loading a bundle turns it into a
DataError naming the bundle (`bundle.load_bundle`).
"""

from __future__ import annotations


class ParameterError(ValueError):
    """A model parameter (or an input that must match one) has a bad value; `parameter` names it."""

    def __init__(self, parameter: str, reason: str):
        self.parameter = parameter
        self.reason = reason
        super().__init__(f"{parameter} {reason}")
