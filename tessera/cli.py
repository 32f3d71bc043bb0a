"""``tessera``: groups the central, agent and demo commands."""

from __future__ import annotations

import click

from central import broker_cli, import_cli
from central.cli import central
from central.fleet_cli import fleet
from store_agent.cli import counter_sim, printer
from store_agent.cli.agent import agent


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Tessera: run a chain of shops from one head office."""


# Every command group, and the commands of other modules that join it: a new command is a
# function in its feature's module and an entry here.
GROUPS: tuple[tuple[click.Group, tuple[click.Command, ...]], ...] = (
    (central, (fleet, *import_cli.COMMANDS, *broker_cli.COMMANDS)),
    (agent, (*printer.COMMANDS, counter_sim.counter_sim)),
)
for group, commands in GROUPS:
    for command in commands:
        group.add_command(command)
    main.add_command(group)
main.add_command(fleet)  # also at the top: `tessera fleet`


@main.group(invoke_without_command=True)
@click.option("--var-dir", default="var/demo", show_default=True,
              help="Where the demo keeps its databases and logs.")
@click.option("--fresh", is_flag=True, help="Start from empty databases.")
@click.option("--secure", is_flag=True,
              help="Per-store broker logins as deployed: the stores are enrolled with "
                   "one-time codes, so enrolment, doctor and revocation can be rehearsed.")
@click.option("--base-port", type=click.IntRange(1024, 65000), default=None,
              help="Listen on eight ports from this one instead of the usual ones "
                   "(18830, 18831, 8000, 8101, 8102, 4991, 4992, 8001).")
@click.pass_context
def demo(ctx: click.Context, var_dir: str, fresh: bool, secure: bool,
         base_port: int | None) -> None:
    """Run broker, central and two stores with demo data until Ctrl-C.

    A part that stops leaves the others running; `tessera demo stop PART` and `tessera demo
    start PART` (from another terminal) stop and start one: broker, central, kiosk-1,
    market, printer-kiosk-1, printer-market, media (the display pictures), counter-kiosk-1,
    counter-market.
    """
    ctx.obj = var_dir
    if ctx.invoked_subcommand is not None:
        return
    from tessera.demo import run_demo

    run_demo(var_dir, fresh, secure, base_port)


def _control(ctx: click.Context, action: str, part: str) -> None:
    from pathlib import Path

    from tessera.demo_control import DemoNotRunning, request

    try:
        request(Path(ctx.obj).resolve(), action, part)
    except (DemoNotRunning, ValueError, TimeoutError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{part} {'started' if action == 'start' else 'stopped'}")


@demo.command("stop")
@click.argument("part")
@click.pass_context
def demo_stop(ctx: click.Context, part: str) -> None:
    """Stop one part of the running demo (the others keep running)."""
    _control(ctx, "stop", part)


@demo.command("start")
@click.argument("part")
@click.pass_context
def demo_start(ctx: click.Context, part: str) -> None:
    """Start again a part of the running demo that was stopped or exited."""
    _control(ctx, "start", part)


@demo.command("status")
@click.pass_context
def demo_status(ctx: click.Context) -> None:
    """Each part of the running demo and its state."""
    from pathlib import Path

    from tessera.demo_control import DemoNotRunning, read_state

    try:
        state = read_state(Path(ctx.obj).resolve())
    except DemoNotRunning as exc:
        raise click.ClickException(str(exc)) from exc
    for name, part in state["parts"].items():
        click.echo(f"{name:<16} {part['state']}")
