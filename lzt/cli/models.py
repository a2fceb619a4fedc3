"""`lzt models` and `lzt models pull`."""

from __future__ import annotations

from typing import Annotated

import typer

from lzt.cli.app import EXIT_OK, app

models_app = typer.Typer(help="List recommended CLIP models, or fetch weights with `lzt models pull`.", invoke_without_command=True, no_args_is_help=False)
app.add_typer(models_app, name="models")


@models_app.callback()
def list_models(ctx: typer.Context) -> int:
    """Recommended open_clip models, their size, published ImageNet zero-shot accuracy, and
    whether their weights are already on this machine."""
    if ctx.invoked_subcommand is not None:
        return EXIT_OK
    from lzt.model import RECOMMENDED, is_local  # the model side loads when the command runs

    typer.echo(f"{'model':<14} {'pretrained':<24} {'params':>7} {'fp32':>8} {'IN-1k':>6}  {'local':<5}  note")
    for info in RECOMMENDED:
        local = "yes" if is_local(info.model, info.pretrained) else "no"
        typer.echo(
            f"{info.model:<14} {info.pretrained:<24} {info.params_m:>6.0f}M {info.fp32_mb:>6}MB {info.imagenet_zero_shot:>5.1f}%  {local:<5}  {info.note}"
        )
    typer.echo("\nAny open_clip model works: `python -c 'import open_clip; print(open_clip.list_pretrained())'`.")
    typer.echo("Offline machines: --pretrained /path/to/checkpoint or $LZT_PRETRAINED.")
    return EXIT_OK


@models_app.command("pull")
def pull_command(
    model: Annotated[str, typer.Argument(help="open_clip model name, e.g. ViT-B-16.")],
    pretrained: Annotated[str, typer.Option("--pretrained", help="Pretrained tag, e.g. openai or datacomp_xl_s13b_b90k.")] = "openai",
) -> int:
    """Download a model's weights into the local cache (needs a network)."""
    from lzt.model import pull_weights

    path = pull_weights(model, pretrained)
    typer.echo(path)
    return EXIT_OK
