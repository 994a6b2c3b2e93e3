"""JSON Schema's keywords in groups, in one place: the compiler, the schema algebra, the server
dialects and ``check-schema`` all read these, so a new keyword is placed once."""

from __future__ import annotations

ALL_TYPES = ("string", "number", "integer", "boolean", "null", "array", "object")

# Keywords that never constrain output (annotations, and structure walked separately).
ANNOTATIONS = frozenset({
    "$schema", "$id", "id", "$comment", "$defs", "definitions", "title", "description", "default",
    "examples", "deprecated", "readOnly", "writeOnly", "$anchor", "$dynamicAnchor", "$vocabulary",
    "contentEncoding", "contentMediaType", "contentSchema", "$recursiveAnchor",
})
REF_KEYWORDS = ("$ref", "$dynamicRef", "$recursiveRef")
DYNAMIC_REFS = REF_KEYWORDS[1:]

NUMBER_BOUNDS = ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum")
NUMBER_KEYS = frozenset({*NUMBER_BOUNDS, "multipleOf"})
STRING_KEYS = frozenset({"minLength", "maxLength", "pattern", "format"})
LOWER_COUNTS = frozenset({"minLength", "minItems", "minProperties", "minContains"})
UPPER_COUNTS = frozenset({"maxLength", "maxItems", "maxProperties", "maxContains"})

MEMBER_SCHEMAS = ("properties", "patternProperties", "additionalProperties")  # subschemas of members
MEMBER_COUNTS = ("minProperties", "maxProperties")
DEPENDENCIES = ("dependentRequired", "dependentSchemas", "dependencies")
OBJECT_KEYS = frozenset({*MEMBER_SCHEMAS, "required", *MEMBER_COUNTS, "propertyNames", *DEPENDENCIES,
                         "unevaluatedProperties"})

ITEM_SCHEMAS = ("items", "prefixItems", "additionalItems")  # subschemas of items
CONTAINS = ("contains", "minContains", "maxContains")
ARRAY_KEYS = frozenset({*ITEM_SCHEMAS, "minItems", "maxItems", "uniqueItems", *CONTAINS, "unevaluatedItems"})

CONDITIONAL = ("if", "then", "else")
LEGACY_ASSERTIONS = ("disallow", "extends", "divisibleBy")  # draft 3

# Assertions the compiled regex does not express: every output is checked against them after decoding.
CHECKED_AFTER_DECODING = frozenset({
    "not", "if", "uniqueItems", *CONTAINS, *DEPENDENCIES, "propertyNames", "unevaluatedItems",
    "unevaluatedProperties", *DYNAMIC_REFS, *LEGACY_ASSERTIONS,
})
# Every keyword that constrains an instance in some draft; anything else is an annotation.
ASSERTIONS = frozenset({
    "type", "enum", "const", *NUMBER_KEYS, *STRING_KEYS, *OBJECT_KEYS, *ARRAY_KEYS,
    *CHECKED_AFTER_DECODING, "allOf", "anyOf", "oneOf", "$ref",
})
