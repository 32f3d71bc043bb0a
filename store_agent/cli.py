"""``tessera agent ...`` commands."""

from __future__ import annotations

import logging

import click

from store_agent import settings as settings_mod


@click.group()
def agent() -> None:
    """The store agent (runs unattended in every outlet)."""


@agent.command()
def run() -> None:
    """Run the agent: sync with central and serve the till's API until stopped."""
    from store_agent.runtime import Agent

    try:
        settings = settings_mod.load()
    except settings_mod.SettingsError as exc:
        raise click.UsageError(str(exc)) from exc
    logging.basicConfig(level=settings.log_level,
                        format=f"%(asctime)s {settings.store} %(name)s %(levelname)s %(message)s")
    Agent(settings).run_forever()
