"""Settings: every FORMATLOCK_* variable is validated where it is used, never at import."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("FORMATLOCK_TIMEOUT", "soon", "FORMATLOCK_TIMEOUT must be a number of seconds, not 'soon'"),
    ("FORMATLOCK_THREADS", "0", "FORMATLOCK_THREADS must be from 1 to 512 (llama.cpp's limit), not '0'"),
    ("FORMATLOCK_THREADS", "513", "FORMATLOCK_THREADS must be from 1 to 512 (llama.cpp's limit), not '513'"),
    ("FORMATLOCK_EXTRA_BUFFERS", "yes", "FORMATLOCK_EXTRA_BUFFERS must be one of auto, on, off, not 'yes'"),
])
def test_a_bad_setting_is_a_one_line_usage_error_not_an_import_failure(variable: str, value: str, message: str) -> None:
    import os
    import subprocess
    import sys

    environment = {**os.environ, variable: value}
    imported = subprocess.run([sys.executable, "-c", "import formatlock.generation, formatlock.runtime.models"],
                              env=environment, capture_output=True, text=True)
    assert imported.returncode == 0, imported.stderr
    ran = subprocess.run([sys.executable, "-m", "formatlock.cli", "generate", "--choice", "a", "--choice", "b", "x"],
                         env=environment, capture_output=True, text=True)
    assert (ran.returncode, ran.stderr, ran.stdout) == (2, f"formatlock: error: {message}\n", "")
