"""Fragments for JSON containers: objects with optional members in declared order, arrays of head
items and repeated items, and any value of bounded nesting."""

from __future__ import annotations

from .base import EMPTY, Frag, alt, literal, optional, repeat, seq
from .numbers import decimal_range

_COMMA = literal(",")


def object_members(members: list[tuple[bool, Frag]], start_size: int) -> Frag:
    """The text between an object's braces: ``(required, "name":value)`` members in this order.

    Optional members may be left out and commas stay right, in size linear in the members:
    before the first required member each optional one is ``(?:m,)?``, after it ``(?:,m)?``.
    When every member is optional the object may start at any of its first members, as many
    as ``start_size`` allows (each start repeats the rest); later ones only follow those.
    """
    steps = [seq(_COMMA, m) if required else optional(seq(_COMMA, m)) for required, m in members]
    first = next((i for i, (required, _) in enumerate(members) if required), None)
    if first is not None:
        head = [optional(seq(m, _COMMA)) for _, m in members[:first]]
        return seq(*head, members[first][1], *steps[first + 1:])
    suffix = [0] * (len(members) + 1)
    for i in range(len(members) - 1, -1, -1):
        suffix[i] = suffix[i + 1] + steps[i].size
    starts: list[Frag] = []
    spent = 0
    for i, (_, member) in enumerate(members):
        cost = member.size + suffix[i + 1]
        if starts and spent + cost > start_size:
            break
        starts.append(seq(member, *steps[i + 1:]))
        spent += cost
    return optional(alt(*starts)) if starts else EMPTY


def array_items(head: list[Frag], lo: int, item: Frag | None, tail_lo: int, tail_hi: int | None) -> Frag:
    """The text between an array's brackets: the prefix items (those past ``lo`` optional), then
    ``tail_lo..tail_hi`` more of ``item`` (None: no more items)."""
    if item is None or tail_hi == 0:
        tail = EMPTY
    else:
        tail = repeat(seq(_COMMA, item), tail_lo, tail_hi)
    if not head:
        if tail is EMPTY:
            return EMPTY
        body = seq(item, repeat(seq(_COMMA, item), max(0, tail_lo - 1), None if tail_hi is None else tail_hi - 1))  # type: ignore[arg-type]
        return body if tail_lo > 0 else optional(body)
    rest = tail
    for i in range(len(head) - 1, 0, -1):  # after element i-1: element i (optional past lo), then the rest
        step = seq(_COMMA, head[i], rest)
        rest = step if i < lo else optional(step)
    first = seq(head[0], rest)
    return first if lo > 0 else optional(first)


def any_value(depth: int, string: Frag, items: int | None) -> Frag:
    """Any JSON value nested at most ``depth`` containers deep, with strings like ``string`` and
    at most ``items`` elements or members per container (None: any number)."""
    scalar = alt(string, decimal_range(None, None), Frag("(?:true|false|null)", 5))  # type: ignore[arg-type]
    if depth <= 0:
        return scalar
    inner = any_value(depth - 1, string, items)
    pair = seq(string, literal(":"), inner)
    array = seq(literal("["), array_items([], 0, inner, 0, items), literal("]"))
    obj = seq(literal("{"), array_items([], 0, pair, 0, items), literal("}"))
    return alt(scalar, array, obj)
