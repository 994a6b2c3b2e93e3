"""llama.cpp's own C++ ``llama-server``: the grammar dialect, its JSON dialect, and parallel requests.

Skipped where no ``llama-server`` binary is found (``FORMATLOCK_LLAMA_SERVER`` or PATH): CI does
not build it (minutes of C++ on two cores). The same checks run against llama-cpp-python's server
in ``test_server_backend.py`` on every run.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_server_backend import FLAG, PROMPTS, generate_four_at_once, with_dialect

from formatlock.generation import generate_results
from formatlock.runtime.backends.server import Server
from formatlock.schema.loading import bundled_names, load_schema
from formatlock.schema.validation import Validator

pytestmark = pytest.mark.slow  # starts llama.cpp's C++ server


def test_auto_probes_llama_server_to_formatlocks_grammar(cpp_llama_server) -> None:  # noqa: ANN001
    server = Server.from_ref(cpp_llama_server.ref)
    server.open()  # checks the model, then probes the dialects
    assert server.dialect == "gbnf"


def test_every_bundled_schema_is_valid_at_the_first_attempt(cpp_llama_server) -> None:  # noqa: ANN001
    for name in bundled_names():
        [result] = generate_results(name, PROMPTS[name], model=cpp_llama_server.ref, retries=0)
        assert Validator(load_schema(name)).check_text(result.text)[1] == []
        assert result.enforced is not None and result.enforced.by == "server:gbnf"


def test_its_json_schema_dialect_is_checked_like_any_other(cpp_llama_server) -> None:  # noqa: ANN001
    ref = with_dialect(cpp_llama_server.ref, "json_schema")
    [result] = generate_results(FLAG, "Is a flooded server room urgent?", model=ref)
    assert isinstance(result.value["urgent"], bool)
    assert result.enforced is not None and result.enforced.by == "server:json_schema"


def test_parallel_requests_come_back_valid_in_input_order(cpp_llama_server, tmp_path: Path) -> None:  # noqa: ANN001
    generate_four_at_once(cpp_llama_server.ref, tmp_path)
