"""A compiled constraint made ready for one model: its mask grammar and its budget guard's inputs.

The constraint (:mod:`formatlock.compile.constraints`) knows no model; a :class:`Guide` adds the
mask engine's grammar over the model's vocabulary (:mod:`formatlock.runtime.masks`) and, for the
budget guard, how to get the closing automaton (:mod:`formatlock.runtime.automaton_store`), built
only when an output's budget can run short.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..compile.constraints import Constraint
from ..compile.unique_arrays import Path
from . import automaton_store, masks
from .automaton import Automaton
from .closing import Closing
from .masks import Grammar, Masking
from .models import Model
from .unique_items import UniqueItems


@dataclass
class Guide:
    """What constrains one call's outputs: the mask engine's grammar and the budget guard's inputs."""

    grammar: Grammar
    reach: Callable[[], int]  # most bytes from any point of a match to acceptance (automata.distance.bounds)
    max_bytes: int | None
    automaton: Callable[[], Automaton] | None  # None: no budget guard (llguidance's own path in `bench`)
    string_cap: int | None = None  # JSON strings close by this many characters (see runtime.string_cap)
    unique_arrays: tuple[Path, ...] = ()  # arrays whose items stay unique (see runtime.unique_items)

    def closing(self) -> Closing:
        return Closing(self.reach, self.max_bytes, self.automaton)

    def start(self) -> Masking:
        """One output's masking: the grammar's start state, the string cap and unique items."""
        unique = None
        if self.unique_arrays and self.automaton is not None:
            make = self.automaton
            unique = UniqueItems(self.grammar.owner.unique_tables(), self.unique_arrays, lambda: make().dfa)
        return self.grammar.start(self.string_cap, unique)


def guide(constraint: Constraint, model: Model) -> Guide:
    """What the decoder needs to produce outputs of ``constraint`` on ``model``."""
    regex = constraint.masked_regex()
    return Guide(masks.for_model(model).grammar(regex), lambda: constraint.bounds()[1], constraint.max_bytes,
                 lambda: automaton_store.closing_automaton(regex, model), constraint.string_cap, constraint.unique_arrays)
