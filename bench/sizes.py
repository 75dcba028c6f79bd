"""How big each scenario runs: `default` (the issue's sizes), `small`, and `tiny` (smoke test).

Only counts and observation windows live here; what a scenario does with them is its own
business. Never read the environment here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Size:
    name: str
    # 1. monitor sweep: machines in one app, and sweeps timed.
    sweep_machines: int
    sweeps: int
    # 2. bulk stop then wake under Fly's rate limits.
    bulk_machines: int
    # 3. pairing storm: end users (one code each) spread over machines.
    pairing_users: int
    pairing_machines: int
    # 4. alert storm: machine failures within a window, watched for at most `alert_watch_s`.
    alert_failures: int
    alert_failure_window_s: float
    alert_watch_s: float
    # 5. update throughput: updates sent, by this many users at once.
    updates: int
    update_users: int
    # 6. memory: agents in the database (and machines on Fly), sweeps watched.
    memory_agents: int
    memory_sweeps: int
    # 7. stranger flood: the stranger's messages, and the admin's commands timed (each phase).
    flood_messages: int
    flood_admin_commands: int


SIZES: dict[str, Size] = {
    "default": Size(
        name="default",
        sweep_machines=5_000,
        sweeps=2,
        bulk_machines=1_000,
        pairing_users=1_000,
        pairing_machines=200,
        alert_failures=2_000,
        alert_failure_window_s=10.0,
        alert_watch_s=62.0,
        updates=2_000,
        update_users=64,
        memory_agents=10_000,
        memory_sweeps=2,
        flood_messages=200,
        flood_admin_commands=20,
    ),
    "small": Size(
        name="small",
        sweep_machines=1_000,
        sweeps=2,
        bulk_machines=200,
        pairing_users=200,
        pairing_machines=40,
        alert_failures=300,
        alert_failure_window_s=5.0,
        alert_watch_s=40.0,
        updates=1_000,
        update_users=32,
        memory_agents=2_000,
        memory_sweeps=2,
        flood_messages=200,
        flood_admin_commands=10,
    ),
    "tiny": Size(
        name="tiny",
        sweep_machines=40,
        sweeps=2,
        bulk_machines=8,
        pairing_users=6,
        pairing_machines=2,
        alert_failures=12,
        alert_failure_window_s=1.0,
        alert_watch_s=8.0,
        updates=40,
        update_users=8,
        memory_agents=50,
        memory_sweeps=1,
        flood_messages=20,
        flood_admin_commands=2,
    ),
}
