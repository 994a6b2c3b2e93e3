"""The official JSON-Schema-Test-Suite (draft 2020-12 and draft 7), driven through `formatlock validate`.

Each group's tests go through the CLI as one JSONL batch; every expected validity must match.
Skipped: groups whose schema needs the suite's remote-ref server (http://localhost:1234), since
formatlock never fetches remote references by design.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from formatlock.cli import cli

SUITE = Path(__file__).resolve().parents[1].parent / "shared" / "json-schema-test-suite"
DRAFTS = {"draft2020-12": "https://json-schema.org/draft/2020-12/schema", "draft7": "http://json-schema.org/draft-07/schema#"}

# Known mismatches, each a limit of the `jsonschema` format checkers or of Python `re`, not of formatlock's
# own code: leap seconds, IDNA/hostname rules, uri-template, duration, ECMA-262-only regex syntax
# (\p{...} classes, \k<name>, \cA). Listed exactly, so a change in either direction fails the test.
KNOWN_MISMATCHES: dict[str, set[str]] = {
    'draft2020-12/optional/format/date-time.json#0': {'a trailing newline is invalid', 'a valid date-time with a leap second, UTC', 'a valid date-time with a leap second, with minus offset'},
    'draft2020-12/optional/format/duration.json#0': {'a leading sign is not allowed', 'a number before the time separator has no unit', 'exponent notation is not allowed in a component', 'fractional duration is not allowed by RFC 3339 ABNF', 'weeks cannot be combined with a zero-valued component', 'hours and seconds cannot appear without minutes', 'a sign inside a component is invalid', 'a comma as the decimal separator is invalid', 'years and days cannot appear without months', 'weeks cannot be combined with a time component'},
    'draft2020-12/optional/format/ecmascript-regex.json#0': {'when used as a pattern'},
    'draft2020-12/optional/format/ecmascript-regex.json#1': {'inline comment group (?#...) is not ECMA 262', 'Python named group (?P<name>...) is not ECMA 262', 'Python named backreference (?P=name) is not ECMA 262'},
    'draft2020-12/optional/format/ecmascript-regex.json#2': {'multiple global inline flags (?ims)', 'a single global inline flag (?i)'},
    'draft2020-12/optional/format/ecmascript-regex.json#3': {'an ECMA 262 named backreference \\k<name>', 'an ECMA 262 named group (?<name>...)'},
    'draft2020-12/optional/format/ecmascript-regex.json#4': {'a variable-width lookbehind (ES2018)'},
    'draft2020-12/optional/format/ecmascript-regex.json#5': {'a negated empty character class is valid ECMA 262', 'a control escape \\cA is valid ECMA 262', 'an empty character class is valid ECMA 262'},
    'draft2020-12/optional/format/hostname.json#0': {'trailing dot', 'invalid non-ASCII KELVIN SIGN (U+212A)', 'trailing newline is invalid'},
    'draft2020-12/optional/format/hostname.json#1': {'MIDDLE DOT with nothing preceding', 'Begins with a Nonspacing Mark', 'ZERO WIDTH JOINER not preceded by Virama', 'KATAKANA MIDDLE DOT with no other characters', 'invalid Punycode', 'contains illegal char U+302E Hangul single dot tone mark', "MIDDLE DOT with no following 'l'", 'Arabic-Indic digits mixed with Extended Arabic-Indic digits', 'Hebrew GERSHAYIM not preceded by anything', 'Begins with an Enclosing Mark', 'Hebrew GERESH not preceded by Hebrew', 'contains "--" in the 3rd and 4th position', 'Exceptions that are DISALLOWED, left-to-right chars', 'KATAKANA MIDDLE DOT with no Hiragana, Katakana, or Han', 'Hebrew GERESH not preceded by anything', 'Greek KERAIA not followed by Greek', 'ZERO WIDTH JOINER not preceded by anything', 'Begins with a Spacing Combining Mark', 'Greek KERAIA not followed by anything', 'Exceptions that are DISALLOWED, right-to-left chars', 'Hebrew GERSHAYIM not preceded by Hebrew', 'MIDDLE DOT with nothing following', "MIDDLE DOT with no preceding 'l'"},
    'draft2020-12/optional/format/idn-hostname.json#0': {'Bidi domain name with a digit-first label is invalid'},
    'draft2020-12/optional/format/idn-hostname.json#1': {'trailing ideographic full stop', 'trailing dot', 'trailing halfwidth ideographic full stop', 'trailing fullwidth full stop'},
    'draft2020-12/optional/format/iri.json#0': {'a valid IRI with a compressed IPv6 host', 'a valid IRI with a supplementary-plane character in the path', 'an IPvFuture host with an uppercase version letter is valid', 'a valid IRI with a supplementary-plane private-use char in query'},
    'draft2020-12/optional/format/relative-json-pointer.json#0': {'multi-digit prefix with a zero followed by another digit', 'non-ASCII digit in the prefix is not allowed'},
    'draft2020-12/optional/format/time.json#0': {'valid leap second, large negative time-offset', 'valid leap second, zero time-offset', 'a valid time string with leap second, Zulu', 'valid leap second, large positive time-offset', 'valid leap second, negative time-offset', 'valid leap second, positive time-offset'},
    'draft2020-12/optional/format/uri-reference.json#0': {'a leading zero in the IPv4 part of an IPv6 literal'},
    'draft2020-12/optional/format/uri-template.json#0': {'a trailing comma in the variable list is invalid', 'a four-digit prefix max-length is valid', 'a space in a literal is invalid', 'a double dot in a variable name is invalid', 'a variable name may start with a percent-encoded triplet', 'a delete character in a literal is invalid', 'an operator in place of the first varspec is invalid', 'a default value in a varspec is invalid', 'a leading zero in the prefix max-length is invalid'},
    'draft2020-12/optional/format/uri.json#0': {'leading zero in an embedded IPv4 address is invalid'},
    'draft7/optional/format/date-time.json#0': {'a trailing newline is invalid', 'a valid date-time with a leap second, UTC', 'a valid date-time with a leap second, with minus offset'},
    'draft7/optional/format/ecmascript-regex.json#0': {'when used as a pattern'},
    'draft7/optional/format/ecmascript-regex.json#1': {'inline comment group (?#...) is not ECMA 262', 'Python named group (?P<name>...) is not ECMA 262', 'Python named backreference (?P=name) is not ECMA 262'},
    'draft7/optional/format/ecmascript-regex.json#2': {'multiple global inline flags (?ims)', 'a single global inline flag (?i)'},
    'draft7/optional/format/ecmascript-regex.json#3': {'an ECMA 262 named backreference \\k<name>', 'an ECMA 262 named group (?<name>...)'},
    'draft7/optional/format/ecmascript-regex.json#4': {'a variable-width lookbehind (ES2018)'},
    'draft7/optional/format/ecmascript-regex.json#5': {'a negated empty character class is valid ECMA 262', 'a control escape \\cA is valid ECMA 262', 'an empty character class is valid ECMA 262'},
    'draft7/optional/format/hostname.json#0': {'trailing dot', 'invalid non-ASCII KELVIN SIGN (U+212A)', 'trailing newline is invalid'},
    'draft7/optional/format/hostname.json#1': {'MIDDLE DOT with nothing preceding', 'Begins with a Nonspacing Mark', 'ZERO WIDTH JOINER not preceded by Virama', 'KATAKANA MIDDLE DOT with no other characters', 'invalid Punycode', 'contains illegal char U+302E Hangul single dot tone mark', "MIDDLE DOT with no following 'l'", 'Arabic-Indic digits mixed with Extended Arabic-Indic digits', 'Hebrew GERSHAYIM not preceded by anything', 'Begins with an Enclosing Mark', 'Hebrew GERESH not preceded by Hebrew', 'contains "--" in the 3rd and 4th position', 'Exceptions that are DISALLOWED, left-to-right chars', 'KATAKANA MIDDLE DOT with no Hiragana, Katakana, or Han', 'Hebrew GERESH not preceded by anything', 'Greek KERAIA not followed by Greek', 'ZERO WIDTH JOINER not preceded by anything', 'Begins with a Spacing Combining Mark', 'Greek KERAIA not followed by anything', 'Exceptions that are DISALLOWED, right-to-left chars', 'Hebrew GERSHAYIM not preceded by Hebrew', 'MIDDLE DOT with nothing following', "MIDDLE DOT with no preceding 'l'"},
    'draft7/optional/format/idn-hostname.json#0': {'Bidi domain name with a digit-first label is invalid'},
    'draft7/optional/format/idn-hostname.json#1': {'trailing ideographic full stop', 'trailing dot', 'trailing halfwidth ideographic full stop', 'trailing fullwidth full stop'},
    'draft7/optional/format/iri.json#0': {'a valid IRI with a compressed IPv6 host', 'a valid IRI with a supplementary-plane character in the path', 'an IPvFuture host with an uppercase version letter is valid', 'a valid IRI with a supplementary-plane private-use char in query'},
    'draft7/optional/format/relative-json-pointer.json#0': {'multi-digit prefix with a zero followed by another digit', 'non-ASCII digit in the prefix is not allowed'},
    'draft7/optional/format/time.json#0': {'valid leap second, large negative time-offset', 'valid leap second, zero time-offset', 'a valid time string with leap second, Zulu', 'valid leap second, large positive time-offset', 'valid leap second, negative time-offset', 'valid leap second, positive time-offset'},
    'draft7/optional/format/uri-reference.json#0': {'a leading zero in the IPv4 part of an IPv6 literal'},
    'draft7/optional/format/uri-template.json#0': {'a trailing comma in the variable list is invalid', 'a four-digit prefix max-length is valid', 'a space in a literal is invalid', 'a double dot in a variable name is invalid', 'a variable name may start with a percent-encoded triplet', 'a delete character in a literal is invalid', 'an operator in place of the first varspec is invalid', 'a default value in a varspec is invalid', 'a leading zero in the prefix max-length is invalid'},
    'draft7/optional/format/uri.json#0': {'leading zero in an embedded IPv4 address is invalid'},
}


def _groups() -> list:
    if not SUITE.is_dir():
        return [pytest.param(None, id="suite-missing", marks=pytest.mark.skip(reason=f"{SUITE} is absent"))]
    params = []
    for draft in DRAFTS:
        for path in sorted((SUITE / draft).rglob("*.json")):
            optional = "optional" in path.parts
            if optional and path.parent.name != "format":
                continue  # optional non-format behaviour (bignum, ecmascript regex, ...) is not claimed
            for i, group in enumerate(json.loads(path.read_text())):
                name = f"{draft}/{path.relative_to(SUITE / draft)}#{i}"
                marks = []
                if "localhost:1234" in json.dumps(group["schema"]) or path.name == "refRemote.json":
                    marks.append(pytest.mark.skip(reason="needs the suite's remote-ref server; remote $ref is never fetched"))
                params.append(pytest.param((name, draft, group), id=name, marks=marks))
    return params


@pytest.mark.parametrize("case", _groups())
def test_group(case: tuple[str, str, dict[str, Any]], tmp_path: Path) -> None:
    name, draft, group = case
    schema = group["schema"]
    if isinstance(schema, dict) and "$schema" not in schema:
        schema = {"$schema": DRAFTS[draft], **schema}
    elif isinstance(schema, bool):
        schema = {"$schema": DRAFTS[draft], "allOf": [schema]}
    schema_path = tmp_path / "schema.json"
    schema_path.write_text(json.dumps(schema))
    lines = "".join(json.dumps(t["data"]) + "\n" for t in group["tests"])
    # In the main suite `format` is an annotation; formatlock asserts formats unless --no-formats.
    flags = ["--no-formats"] if name.split("/")[1].startswith("format.json") else []
    result = CliRunner().invoke(cli, ["validate", "--schema", str(schema_path), "--output", "json", *flags],
                                input=lines)
    assert result.exit_code in (0, 1), result.stderr
    got = [json.loads(line)["valid"] for line in result.stdout.splitlines()]
    assert len(got) == len(group["tests"])
    mismatched = {t["description"] for t, g in zip(group["tests"], got, strict=False) if g != t["valid"]}
    assert mismatched == KNOWN_MISMATCHES.get(name, set())
