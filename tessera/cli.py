"""``tessera``: groups the central, agent and demo commands."""

from __future__ import annotations

import click

from central.cli import central, fleet
from store_agent.cli import agent


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Tessera: run a chain of shops from one head office."""


main.add_command(central)
main.add_command(agent)
main.add_command(fleet)


@main.command()
@click.option("--var-dir", default="var/demo", show_default=True,
              help="Where the demo keeps its databases and logs.")
@click.option("--fresh", is_flag=True, help="Start from empty databases.")
def demo(var_dir: str, fresh: bool) -> None:
    """Run broker, central and two stores with demo data until Ctrl-C."""
    from tessera.demo import run_demo

    run_demo(var_dir, fresh)
