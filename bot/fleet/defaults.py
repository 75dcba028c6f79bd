"""Fleet-wide values every agent falls back to, taken from the settings once.

Secrets stay `SecretStr` here; they are revealed only when a machine's environment or a Fly
client is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import SecretStr

from bot.fleet import validation
from bot.settings import Settings


@dataclass(frozen=True)
class FleetTimings:
    """How often the service polls while it waits; tests shrink these."""

    # Each poll reads the logs API (no per-machine limit) and, once the gateway says ready, GETs
    # the machine: at most 2 GETs/s against Fly's 5/s per machine. A slower poll only adds up to
    # one interval to every wake, restart and provisioning.
    gateway_poll_s: float = 0.5
    wait_slice_s: float = 60.0
    snapshot_poll_s: float = 2.0
    stop_deadline_s: float = 120.0
    start_deadline_s: float = 180.0
    snapshot_wait_s: float = 120.0


@dataclass(frozen=True)
class FleetDefaults:
    fly_app: str | None
    fly_token: SecretStr | None
    image: str
    region: str
    cpu_kind: str
    cpus: int
    memory_mb: int
    volume_size_gb: int
    bridge_url: str | None
    app_key: str
    service_id: str | None
    service_key: SecretStr | None
    model: str
    llm_api_key: SecretStr | None
    openai_api_key: SecretStr | None
    allowed_skills: tuple[str, ...]
    startup_timeout_s: int
    openclaw_dir: str
    owner_entries: tuple[str, ...] | None
    exec_timeout_s: int
    gateway_dev_mode: bool
    timings: FleetTimings = field(default_factory=FleetTimings)
    # Agents a bulk stop/wake/restart works on at once. On 2 cores (bench scenario 2, 1,000
    # machines) 50 kept the run within 12 % of the platform's own time, 100 was 33-66 % over
    # (the bot's CPU), and all at once overran the store's 10 s write-lock timeout.
    bulk_concurrency: int = 50

    @classmethod
    def from_settings(
        cls, settings: Settings, timings: FleetTimings | None = None
    ) -> FleetDefaults:
        cpu_kind, cpus = validation.vm_size(settings.agent_vm)
        owners = settings.owner_entries()
        return cls(
            fly_app=settings.fly_app_name,
            fly_token=settings.fly_api_token,
            image=settings.agent_image,
            region=settings.region,
            cpu_kind=cpu_kind,
            cpus=cpus,
            memory_mb=settings.agent_memory_mb,
            volume_size_gb=settings.volume_size_gb,
            bridge_url=settings.bridge_url,
            app_key=settings.app_key,
            service_id=settings.service_id,
            service_key=settings.service_key,
            model=settings.llm_model,
            llm_api_key=settings.llm_api_key,
            openai_api_key=settings.openai_api_key,
            allowed_skills=tuple(settings.allowed_skills),
            startup_timeout_s=settings.startup_timeout_s,
            openclaw_dir=settings.openclaw_dir,
            owner_entries=None if owners is None else tuple(owners),
            exec_timeout_s=settings.exec_timeout_s,
            gateway_dev_mode=settings.gateway_dev_mode,
            timings=timings or FleetTimings(),
            bulk_concurrency=settings.bulk_concurrency,
        )
