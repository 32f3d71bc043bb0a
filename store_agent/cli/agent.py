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
    from store_agent.runtime import Agent, PosPortBusy

    try:
        settings = settings_mod.load()
    except settings_mod.SettingsError as exc:
        raise click.UsageError(str(exc)) from exc
    logging.basicConfig(level=settings.log_level,
                        format=f"%(asctime)s {settings.store} %(name)s %(levelname)s %(message)s")
    try:
        Agent(settings).run_forever()
    except PosPortBusy as exc:
        raise click.ClickException(str(exc)) from exc


@agent.command()
@click.option("--central", "central_url", required=True, help="Head office URL.")
@click.option("--code", required=True, help="The one-time code head office issued.")
@click.option("--timeout", default=300.0, show_default=True,
              help="Seconds to wait for the local copy.")
@click.option("--force", is_flag=True, help="Replace an existing enrolment.")
def enroll(central_url: str, code: str, timeout: float, force: bool) -> None:
    """Enrol this PC as a store: identity, broker credentials, then the local copy."""
    from store_agent.cli.doctor import own_agent, pos_address, running_agent
    from store_agent.cli.enrolment import (
        EnrolmentError,
        central_base,
        config_lines,
        redeem,
        wait_bootstrapped,
        write_config,
    )

    try:
        path, _ = settings_mod.enrolment_paths()
    except settings_mod.SettingsError as exc:
        raise click.ClickException(f"configuration: {exc}") from exc
    if path.exists() and not force:
        raise click.ClickException(f"{path} already holds an enrolment; use --force to replace")
    central_url = central_base(central_url)
    try:
        result = redeem(central_url, code)
    except EnrolmentError as exc:
        raise click.ClickException(str(exc)) from exc
    store = result["store"]["code"]
    _, database = settings_mod.enrolment_paths(store)
    write_config(path, config_lines(result, central_url, database))
    click.echo(f"enrolled as store {store}; configuration in {path}")
    try:
        settings = settings_mod.load()
    except settings_mod.SettingsError as exc:
        raise click.ClickException(f"configuration: {exc}") from exc
    # A running agent keeps the broker password this enrolment just replaced: cut off.
    restart = (f"the agent running on {pos_address(settings)} still has the old broker "
               "password and is cut off: restart it now (systemctl restart tessera-agent, "
               "or stop and start `tessera agent run`)"
               if own_agent(settings, running_agent(settings)) is not None else "")
    logging.basicConfig(level="WARNING")
    from store_agent.runtime import Agent

    agent_ = Agent(settings, serve_pos=False)
    agent_.start()
    targets = {k: int(v) for k, v in (result.get("streams") or {}).items()}
    total = sum(targets.values())
    try:
        with click.progressbar(length=total, label="Receiving the local copy") as bar:
            last = [0]

            def progress(done: int) -> None:
                bar.update(done - last[0])
                last[0] = done

            complete = wait_bootstrapped(targets, agent_.store.stream_versions, progress,
                                         timeout)
    finally:
        agent_.stop()
    if restart:
        click.echo(restart, err=True)
    if not complete:
        raise click.ClickException("the local copy is not complete yet (is the broker "
                                   "reachable?); `tessera agent run` finishes it")
    click.echo(f"local copy complete ({total} changes); "
               + ("restart the agent" if restart else
                  "start the agent with `tessera agent run`"))


@agent.command()
def doctor() -> None:
    """Check configuration, database, disk, broker, central, clock and printer."""
    from store_agent.cli.doctor import run_checks

    try:
        settings = settings_mod.load()
    except settings_mod.SettingsError as exc:
        raise click.ClickException(f"configuration: {exc}") from exc
    findings = run_checks(settings)
    marks = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}
    for finding in findings:
        click.echo(f"[{marks[finding.level]}] {finding.check}: {finding.detail}")
        if finding.fix:
            click.echo(f"       -> {finding.fix}")
    if any(f.level == "fail" for f in findings):
        raise SystemExit(1)
