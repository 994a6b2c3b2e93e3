"""``formatlock bench``: compare formatlock with llguidance, plain Outlines, llama.cpp grammars and free text."""

from __future__ import annotations

import json

import click

from ..benchmark.paths import ENGINES, SERVER_ENGINES
from ..errors import UsageError


@click.command("bench")
@click.option("--schema", "schemas", multiple=True, metavar="SCHEMA",
              help="Schema to measure (repeatable; default: every bundled schema).")
@click.option("--model", "-m", default="smollm2", show_default=True,
              help="Model name, .gguf path, or a server model http://HOST:PORT/v1#NAME (then the paths are "
                   "server, server-prompt-only and formatlock on --local-model).")
@click.option("--local-model", default="smollm2", show_default=True,
              help="With a server --model: the local model of the formatlock path beside it.")
@click.option("-n", "n", type=click.IntRange(min=1), default=4, show_default=True, help="Outputs per schema and path.")
@click.option("--path", "paths", multiple=True, metavar="PATH", type=click.Choice([*ENGINES, *SERVER_ENGINES]),
              help="Paths to measure (repeatable; default: the five local ones, or the three for a server model).")
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--plot", "plot_file", type=click.Path(dir_okay=False), help="Also draw whole-call and decoding tokens/s per path into this PNG.")
def command(schemas: tuple[str, ...], model: str, local_model: str, n: int, paths: tuple[str, ...], output: str,
            plot_file: str | None) -> None:
    """Time the five generation paths on the same prompts, seeds and model, in one run.

    Paths: formatlock, llguidance (its own JSON Schema grammar and masks, no validation or retry),
    outlines (plain outlines.Generator), llama-grammar (llama-cpp-python
    LlamaGrammar.from_json_schema) and unconstrained (free text, schema in the prompt). Each runs
    in its own memory-limited worker; a path that fails to compile reports "error".

    Each schema and path starts with one untimed call (first: its seconds), which also prefills
    the prompt's shared start (template and schema instruction) that later calls reuse from the
    KV cache. tok/s is output tokens over the whole timed calls, each user prompt's prefill
    included; decode is the same tokens over decoding alone.

    With a server model: server (its own constraint in the dialect it honours, then validation
    and retries), server-prompt-only (no server-side constraint: the prompt, validation and
    retries) and formatlock on --local-model, on the same prompts. A server request is one
    span, so decode equals tok/s and steps/tok is 1 there.

    \b
    Examples:
      formatlock bench --schema invoice -n 8
      formatlock bench --output json --plot bench.png
      formatlock bench -m 'http://127.0.0.1:8080/v1#smollm2' -n 4
    """
    from ..benchmark.speed import bench, plot, plotting  # start-up: every command module loads for --help
    from ..runtime.backends import is_server_ref  # start-up: every command module loads for --help
    from ..schema.loading import bundled_names  # start-up: every command module loads for --help

    if plot_file:
        plotting()  # before the run: a missing matplotlib is refused now, not after minutes of work
    default = (*SERVER_ENGINES, "formatlock") if is_server_ref(model) else ENGINES
    if not is_server_ref(model) and set(paths) & set(SERVER_ENGINES):
        raise UsageError("the server paths need a server --model (http://HOST:PORT/v1#NAME)")
    rows = bench(list(schemas) or bundled_names(), model, n, tuple(paths) or default,
                 progress=lambda msg: click.echo(f"bench: {msg}", err=True), local_model=local_model)
    if output == "json":
        for row in rows:
            click.echo(json.dumps(row))
    else:
        click.echo(f"{'schema':<16} {'path':<18} {'tok/s':>7} {'decode':>7} {'s/valid':>8} {'valid':>6} {'first':>7} {'compile':>9} {'cached':>9} {'steps/tok':>9}")
        for r in rows:
            if "error" in r:
                click.echo(f"{r['schema']:<16} {r['path']:<18} error: {r['error']}")
                continue
            spv = "-" if r["s_per_valid"] is None else f"{r['s_per_valid']:.2f}"
            steps = "-" if r["model_steps_per_output_token"] is None else f"{r['model_steps_per_output_token']:.2f}"
            click.echo(f"{r['schema']:<16} {r['path']:<18} {r['tokens_per_s']:>7.1f} {r['decode_tokens_per_s']:>7.1f} {spv:>8} {r['valid_rate']:>6.0%} {r['first_call_s']:>6.2f}s "
                       f"{r['compile_s'] * 1000:>7.1f}ms {r['compile_cached_s'] * 1000:>7.2f}ms {steps:>9}")
    if plot_file:
        plot(rows, plot_file)
