"""OpenAI's strict mode without refusals: any schema rewritten into the strict subset, replies mapped back.

The bodies are checked against the documented rules of strict mode (every property required,
``additionalProperties: false`` on every object, an object at the root, only the keywords it takes),
and a reply to the strict schema, mapped back, must validate against the original schema.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given

from formatlock.generation import generate_results
from formatlock.runtime.backends import dialects
from formatlock.runtime.backends.openai_strict import strict_schema
from formatlock.runtime.backends.server import Server
from formatlock.schema.loading import bundled_names, iter_nodes, load_schema
from formatlock.schema.validation import Validator

from conftest import completion
from schema_strategies import property_settings, schemas

STRICT_KEYWORDS = {"type", "properties", "required", "additionalProperties", "items", "enum", "const", "anyOf", "$ref",
                   "$defs", "definitions", "title", "description", "pattern", "format", "minimum", "maximum",
                   "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minItems", "maxItems"}
PERSON = {"title": "Person", "type": "object", "required": ["name"],
          "properties": {"name": {"type": "string", "minLength": 1}, "age": {"type": "integer", "minimum": 0},
                         "email": {"type": ["string", "null"], "format": "email"},
                         "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True}}}


def assert_strict(document: dict[str, Any]) -> None:
    """The rules OpenAI documents for strict mode."""
    assert document["type"] == "object" and "anyOf" not in document
    for pointer, node in iter_nodes(document):
        assert set(node) <= STRICT_KEYWORDS, (pointer, set(node) - STRICT_KEYWORDS)
        if "properties" in node:
            assert node["additionalProperties"] is False and node["required"] == list(node["properties"]), pointer


@pytest.mark.parametrize("name", bundled_names())
def test_every_bundled_schema_is_sent_strict(name: str) -> None:
    strict = strict_schema(load_schema(name).document)
    assert strict.strict
    assert_strict(strict.document)


def test_optional_properties_come_back_absent_and_dropped_keywords_rest_on_the_check() -> None:
    strict = strict_schema(PERSON)
    assert_strict(strict.document)
    assert strict.document["properties"]["age"] == {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "null"}]}
    assert set(strict.moved) == {("/properties/name", "minLength"), ("/properties/tags", "uniqueItems")}
    reply = {"name": "Ada", "age": None, "email": None, "tags": None}
    assert strict.restore(reply) == {"name": "Ada", "email": None}  # email takes null: a null there is a value
    assert Validator(load_schema(PERSON)).check_text(json.dumps(reply))[1] == []


def test_a_root_that_is_not_an_object_is_wrapped_and_unwrapped() -> None:
    strict = strict_schema({"type": "array", "items": {"enum": ["a", "b"]}, "maxItems": 2})
    assert strict.wrapped and strict.document["required"] == ["value"]
    assert_strict(strict.document)
    assert strict.restore({"value": ["a"]}) == ["a"]
    recursive = strict_schema({"$ref": "#/$defs/node", "$defs": {"node": {"type": "object", "properties": {
        "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}}})
    assert recursive.strict and recursive.wrapped and "$defs" in recursive.document  # definitions stay at the root
    assert recursive.restore({"value": {"kids": [{"kids": None}]}}) == {"kids": [{}]}


@pytest.mark.parametrize("schema", [{}, {"type": "object"}, {"type": "array"}, {"minimum": 3},
                                    {"type": "object", "properties": {"a": True}},
                                    {"type": "object", "required": ["x"], "properties": {}, "additionalProperties": False}])
def test_what_the_subset_cannot_say_is_sent_as_a_hint_not_refused(schema: dict) -> None:
    strict = strict_schema(schema)
    assert not strict.strict and strict.document == schema
    body = dialects.schema_request("openai", schema)["response_format"]["json_schema"]
    assert body["strict"] is False and body["schema"] == schema


@property_settings(60)
@given(schema=schemas)
def test_any_schema_is_rewritten_into_the_subset_or_sent_as_a_hint(schema: Any) -> None:
    strict = strict_schema(schema)
    if strict.strict:
        assert_strict(strict.document)
    else:
        assert strict.document == schema


def test_through_a_server_in_the_openai_dialect(stub_server) -> None:  # noqa: ANN001
    def reply(body: dict) -> tuple[int, str]:
        sent = body["response_format"]["json_schema"]
        if "probe" in sent["schema"]["properties"]:
            return 200, completion(json.dumps({"probe": "formatlock-probe-7q"}))
        assert sent["strict"] is True
        assert_strict(sent["schema"])
        return 200, completion('{"name": "Ada", "age": null, "email": null, "tags": null}')

    stub = stub_server(reply)
    [result] = generate_results(PERSON, "x", model=Server(stub.url, "stub", dialect="openai"), retries=0)
    assert result.value == {"name": "Ada", "email": None}
    assert result.enforced is not None and result.enforced.by == "server:openai"
    assert set(result.enforced.checked or ()) == {("/properties/name", "minLength"), ("/properties/tags", "uniqueItems")}


def test_check_schema_lists_what_the_strict_rewrite_leaves_to_the_check() -> None:
    assert set(dialects.unenforced("openai", PERSON) or ()) == {("/properties/name", "minLength"),
                                                               ("/properties/tags", "uniqueItems")}
    assert dialects.unenforced("openai", {"type": "object"}) == [("", "type")]  # sent as a hint: every keyword
