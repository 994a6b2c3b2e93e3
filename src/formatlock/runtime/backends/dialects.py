"""How each kind of server is asked to constrain its output: the request fields, per dialect.

==============  ==========================================================  ============================
dialect         request                                                     servers
==============  ==========================================================  ============================
``gbnf``        ``grammar``: formatlock's compiled constraint as GBNF         llama.cpp ``llama-server``,
                (:mod:`formatlock.compile.gbnf`), the string cap included   llama-cpp-python's server
``json_schema`` ``response_format: {"type": "json_schema", ...}``            llama.cpp ``llama-server``, vLLM,
                                                                            Ollama's ``/v1`` (it turns it
                                                                            into its ``format``)
``openai``      the same, rewritten into OpenAI's strict subset             OpenAI
                (:mod:`.openai_strict`; replies mapped back)
``json_object`` ``response_format: {"type": "json_object", "schema": ...}``  llama-cpp-python's server
``vllm``        ``structured_outputs``: ``regex``, formatlock's compiled      vLLM >= 0.12
                constraint (string cap included); ``json`` where the
                compiler cannot carry the schema (Outlines' form)
``none``        nothing: prompt-only, validation and retries                any
==============  ==========================================================  ============================

Outlines' type adapter builds the ``vllm`` JSON body (for a schema the compiler cannot carry).
Its OpenAI form refuses what strict mode does not take (``pattern`` once, optional properties),
so formatlock rewrites instead; llama-cpp-python's server answers ``json_schema`` with HTTP 500.
:data:`UNENFORCED` lists what each server's grammar is known to leave to the check after decoding.
"""

from __future__ import annotations

import atexit
import functools
import json
from collections.abc import Callable
from typing import Any

from ...automata.fsm import canonical
from ...compile.compiled import left_to_check
from ...compile.constraints import Constraint
from ...compile.gbnf import to_gbnf
from ...compile.json_regex import compile_schema
from ...compile.keywords import CONDITIONAL, CONTAINS, DEPENDENCIES, MEMBER_COUNTS, NUMBER_KEYS
from ...errors import CompileError, Enforced, ModelError
from ...schema import json_text
from ...schema.loading import iter_nodes, validator_class
from ..models import DEFAULT_MODEL, KNOWN_MODELS
from .openai_strict import strict_schema

# Keywords a dialect's server grammar does not enforce (a reply may break them; only the local
# check and retries catch it). json_object: read from llama-cpp-python 0.3's json_schema_to_gbnf;
# json_schema: llama.cpp's grammars/README ("unsupported features are skipped silently";
# minimum/maximum only on integers). vLLM and OpenAI depend on the backend or the model and are
# not listed: the check after decoding is the guarantee there too.
_BEYOND_GRAMMARS = ("uniqueItems", *CONTAINS, "not", *CONDITIONAL, "patternProperties", "propertyNames",
                    *DEPENDENCIES, "unevaluatedProperties", "unevaluatedItems", *MEMBER_COUNTS)
UNENFORCED: dict[str, frozenset[str]] = {
    "json_object": frozenset((*NUMBER_KEYS, *_BEYOND_GRAMMARS, "oneOf")),  # oneOf is read as anyOf
    "json_schema": frozenset(("multipleOf", *_BEYOND_GRAMMARS)),
}
RANGES_ON_INTEGERS_ONLY = {"json_schema"}  # minimum & co. are enforced for "type": "integer" alone
_GRAMMAR_FORMATS = {  # the string formats each grammar knows; others (email, uri, ...) are not enforced
    "json_object": frozenset(("date", "time", "date-time")),
    "json_schema": frozenset(("date", "time", "date-time", "uuid")),
}


def request(dialect: str, constraint: Constraint) -> dict[str, Any]:
    """The keyword arguments of ``chat.completions.create`` that ask for ``constraint``; ``{}``
    where the dialect cannot say it (a regex over a JSON-only dialect: validation and retries alone)."""
    if dialect == "gbnf":
        return _grammar_request(grammar_of(constraint))
    if dialect == "vllm" and constraint.kind == "choice" and constraint.choices:
        return {"extra_body": {"structured_outputs": {"choice": list(constraint.choices)}}}
    if dialect == "vllm" and constraint.regex is not None:  # the compiled regex, its string cap written in

        return {"extra_body": {"structured_outputs": {"regex": canonical(constraint.regex, constraint.string_cap)}}}
    if constraint.kind == "schema" and constraint.schema is not None:
        return schema_request(dialect, constraint.schema.document)
    return {}


def sends_regex(dialect: str, request: dict[str, Any]) -> bool:
    """Whether ``request`` holds the server to the constraint's compiled regex (as GBNF or a regex)."""
    body = request.get("extra_body", {})
    return (dialect == "gbnf" and "grammar" in body) or (dialect == "vllm" and "regex" in body.get("structured_outputs", {}))


def enforced(dialect: str, constraint: Constraint, request: dict[str, Any], exact: bool) -> Enforced:
    """What a server in ``dialect``, sent ``request``, enforces of ``constraint`` while decoding."""
    if exact:
        return constraint.enforced(f"server:{dialect}")
    by = f"server:{dialect}" if request else "none"
    if constraint.schema is not None:
        checked = unenforced(dialect if request else "none", constraint.schema.document)
        return Enforced(by, None if checked is None else tuple(checked))
    if not request:
        return Enforced(by, (("", "pattern" if constraint.kind == "regex" else "enum"),))
    return Enforced(by, None)


def _grammar_request(grammar: str | None) -> dict[str, Any]:
    """The ``gbnf`` request fields: the grammar, or nothing where there is none to send."""
    return {} if grammar is None else {"extra_body": {"grammar": grammar}}


def grammar_of(constraint: Constraint) -> str | None:
    """The constraint's exact language as GBNF; None where formatlock's compiler cannot carry the
    schema (then no server-side constraint: the server's own converter is lossy, and has crashed)."""
    if constraint.regex is not None:
        return _gbnf(constraint.regex, constraint.string_cap)
    if constraint.schema is None:
        return None
    return _schema_gbnf(json.dumps(constraint.schema.document, sort_keys=True))


@functools.lru_cache(maxsize=64)
def _schema_gbnf(document: str) -> str | None:
    try:
        compiled = compile_schema(json.loads(document))
    except CompileError:
        return None
    if compiled.unsupported or compiled.regex is None:
        return None
    return _gbnf(compiled.regex, compiled.string_cap)


@functools.lru_cache(maxsize=64)
def _gbnf(regex: str, cap: int | None) -> str | None:
    try:
        grammar = to_gbnf(regex, cap)
    except CompileError:
        return None
    return grammar if llama_cpp_reads(grammar) else None


def llama_cpp_reads(grammar: str) -> bool:
    """Whether llama.cpp's own grammar parser, here, takes ``grammar``. A server that is sent one it
    cannot parse may crash (llama-cpp-python's does), so only grammars that pass are sent."""
    import llama_cpp  # start-up: a server session needs no llama.cpp
    from llama_cpp._utils import suppress_stdout_stderr  # start-up: a server session needs no llama.cpp

    owner = vocabulary_owner()
    if owner is None:
        return False
    with suppress_stdout_stderr(disable=False):  # the parser explains a refusal on stderr
        sampler = llama_cpp.llama_sampler_init_grammar(llama_cpp.llama_model_get_vocab(owner.model),
                                                       grammar.encode(), b"root")
    if not sampler:
        return False
    llama_cpp.llama_sampler_free(sampler)
    return True


@functools.cache
def vocabulary_owner() -> Any:
    """A ``llama_cpp.Llama`` whose vocabulary llama.cpp's grammar parser takes: the embedded model,
    loaded vocabulary-only (no weights, no compute); None where it is not installed."""
    import llama_cpp  # start-up: a server session needs no llama.cpp
    from llama_cpp._utils import suppress_stdout_stderr  # start-up: a server session needs no llama.cpp

    try:
        path = KNOWN_MODELS[DEFAULT_MODEL].locate()
        with suppress_stdout_stderr(disable=False):
            llm = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
    except (ModelError, ValueError, OSError):
        return None
    atexit.register(llm.close)  # before interpreter teardown: later, its finaliser fails noisily
    return llm


def schema_request(dialect: str, document: Any) -> dict[str, Any]:
    """The request fields for a JSON Schema ``document`` in ``dialect``."""
    if dialect == "gbnf":
        return _grammar_request(_schema_gbnf(json.dumps(document, sort_keys=True)))
    if dialect == "json_schema":
        return {"response_format": {"type": "json_schema", "json_schema": {"name": _name(document), "schema": document}}}
    if dialect == "json_object":
        return {"response_format": {"type": "json_object", "schema": document}}
    if dialect == "openai":
        strict = strict_schema(document)
        return {"response_format": {"type": "json_schema", "json_schema": {
            "name": _name(document), "schema": strict.document, "strict": strict.strict}}}
    if dialect == "vllm":
        from outlines.types import JsonSchema  # start-up: only the vLLM dialect loads Outlines

        return _vllm(JsonSchema(json.dumps(document)))
    return {}


def reply_mapper(dialect: str, constraint: Constraint) -> Callable[[str], str] | None:
    """What turns a reply in ``dialect`` back into a value of the constraint's own schema (OpenAI's
    strict form: nulls for absent properties, a wrapped root); None where replies need no mapping."""
    if dialect != "openai" or constraint.schema is None:
        return None

    strict = strict_schema(constraint.schema.document)

    def restore(text: str) -> str:
        try:
            return json_text.dumps(strict.restore(json_text.loads(text)))
        except ValueError:
            return text  # not JSON: the check says so
    return restore


def unenforced(dialect: str, document: Any) -> list[tuple[str, str]] | None:
    """(pointer, keyword) of every keyword use in ``document`` that ``dialect``'s server grammar is
    known not to enforce; None where that is not known (``vllm``'s JSON form: it depends on the
    server's backend). With ``none`` every keyword rests on retries; with ``gbnf`` and ``vllm``,
    what formatlock's compiler checks after decoding; with ``openai``, what the strict rewrite leaves out."""
    if dialect in ("gbnf", "vllm"):  # the compiled constraint: what the compiler does not mask rests on the check

        compiled = compile_schema(document)
        if dialect == "vllm" and (compiled.regex is None or compiled.unsupported):
            return None  # sent as JSON Schema: up to vLLM's backend
        return left_to_check(compiled.uses)
    if dialect == "openai":  # what the strict rewrite leaves out; everything where it is sent as a hint

        strict = strict_schema(document)
        return list(strict.moved) if strict.strict else unenforced("none", document)
    if dialect not in UNENFORCED and dialect != "none":
        return None
    keywords = set(validator_class(document).VALIDATORS)
    found = []
    for pointer, node in iter_nodes(document):
        for keyword, value in node.items():
            if keyword in keywords and (dialect == "none" or _skips(dialect, keyword, value, node)):
                found.append((pointer, keyword))
    return found


def _skips(dialect: str, keyword: str, value: Any, node: dict[str, Any]) -> bool:
    if keyword in UNENFORCED[dialect]:
        return True
    if keyword == "format":
        return value not in _GRAMMAR_FORMATS[dialect]
    return dialect in RANGES_ON_INTEGERS_ONLY and keyword in NUMBER_KEYS and node.get("type") != "integer"


def _vllm(term: Any) -> dict[str, Any]:
    from outlines.models.vllm import VLLMTypeAdapter  # start-up: only the vLLM dialect loads Outlines

    return {"extra_body": VLLMTypeAdapter().format_output_type(term)}


def _name(document: Any) -> str:
    """A response-format name from the schema's title: letters, digits, ``_`` and ``-`` only."""
    title = document.get("title") if isinstance(document, dict) else None
    name = "".join(c if c.isalnum() or c in "_-" else "_" for c in str(title or "output"))[:64]
    return name or "output"
