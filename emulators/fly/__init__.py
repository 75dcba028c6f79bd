"""Emulated Fly Machines API (api.machines.dev) and logs API (api.fly.io), with OpenClaw inside.

A real HTTP server on loopback for tests, the offline demo and benchmarks. It
reproduces the real platform's behaviour (including where it differs from the
published OpenAPI spec), enforces each method's request rules in its own code
(it never loads the spec or anything outside this package), and by default
simulates inside every machine the OpenClaw gateway and CLI the bot drives;
then it must never run a real command, a real shell or touch the network
beyond its own socket. In real-OpenClaw mode (below) it runs the real runtime
instead — the configured node binary only, never a shell.

Use::

    from emulators.fly import FlyEmulator, FlyTimings
    async with FlyEmulator(token=None, apps=("agents",), app_tokens={},
                           timings=FlyTimings.for_tests()) as emu:
        emu.base_url   # "http://127.0.0.1:PORT/v1"  (Machines API)
        emu.root_url   # "http://127.0.0.1:PORT"     (logs API + control API)

CLI: ``python -m emulators.fly --port 0 [--host H] [--token T] [--app NAME]...
[--app-token APP=TOKEN]... [--openclaw-dir /app] [--openclaw PATH/TO/openclaw.mjs
[--node PATH] --telegram-api-root URL]`` prints the base URL as the first stdout
line. ``openclaw_dir`` (``--openclaw-dir``) is the image's folder holding
``openclaw.mjs``: exec's ``cd DIR && node ./openclaw.mjs`` finds the CLI there.

Auth
----
``Authorization: Bearer <token>`` or ``FlyV1 <token>``; missing/empty -> 401
``{"error": "..."}``. ``token=``: only that token (every app). ``app_tokens``:
each valid only for its app (another app -> 401). Neither: any non-empty token.
Every answer carries a ``fly-request-id`` header.

Machines API routes (prefix ``/v1``)
------------------------------------
``GET|POST /apps`` (create: ``{"app_name"|"name", "org_slug"}`` -> 201 App),
``GET /apps/{app}``; under ``/apps/{app}``: ``GET|POST /machines``,
``GET|POST|DELETE /machines/{id}``, ``POST /machines/{id}/start|stop|restart|
suspend|cordon|uncordon|exec``, ``GET /machines/{id}/wait|events``,
``GET|POST|DELETE /machines/{id}/lease``, ``GET /machines/{id}/metadata``,
``GET|POST|DELETE /machines/{id}/metadata/{key}``, ``GET|POST /volumes``,
``GET|DELETE /volumes/{vol}``, ``GET|POST /volumes/{vol}/snapshots``,
``GET|POST /secrets``, ``GET|POST|DELETE /secrets/{name}`` (a machine reads the
app secrets into its env at every boot; a secret wins over config ``env``).
Logs API: ``GET /api/v1/apps/{app}/logs?instance=&region=&next_token=``.
Anything else: 404 ``{"error": ...}``.

Behaviour choices where the sources leave room (all deliberate):

- start of a ``started``/``starting`` machine -> 412 ``failed_precondition: machine
  still active, refusing to start`` (what flyd answers); start while the machine
  is still ``created`` by its own launch -> 412 ``unable to start machine from
  current state: 'created'``; a ``skip_launch`` machine in ``created`` starts.
  Start answers ``{"previous_state", "migrated", "new_host"}``.
- stop of an already stopped/failed/created machine -> 200 ``{"ok": true}`` (no-op,
  but it calls off a restart flyd had scheduled after the main process exited).
- restart and suspend need a ``started`` machine (else 412); restart, suspend,
  cordon and uncordon answer 200 with an empty body (as the spec declares).
- update: ``current_version`` different from the ``instance_id`` -> 409;
  a different ``name``/``region`` -> 400; swapping or removing the mounted
  volume -> 400; a stopped machine is started by an update unless
  ``skip_launch``; a running one goes ``updating`` -> ``started``.
- a new ``instance_id`` on every API start, restart and update; flyd's own
  restarts (restart policy) keep it.
- destroy without ``force``/``kill`` of a machine not stopped/suspended/failed/
  created -> 412; destroying an already destroyed machine -> 200.
- config validation: JSON type errors -> 400, rule violations (image missing,
  memory not a multiple of 256, unknown cpu_kind/restart policy, bad checks)
  -> 422; mount problems (volume unknown, other region, attached) -> 412.
- wait: ``stopped`` without ``instance_id``/``version`` -> 400 ``instance_id required
  when waiting for stopped machine``; an unknown version -> 400; a superseded
  version counts as stopped; timeout 408 ``deadline_exceeded: machine failed to
  reach desired state, STATE, currently STATE``.
- exec: machine must be ``started`` (412); ``timeout`` clamped to 1..60 s,
  default 60; on timeout 408 ``{"error": "deadline_exceeded: ..."}`` while the
  command keeps running; answers ``{"stdout","stderr","exit_code","exit_signal"}``
  (``exit_code`` always present, 0 included); a command killed by a stop or
  restart of its machine while the client still waits -> 500.
- leases: POST -> 201 ``{"status":"success","data":{nonce, expires_at (int),
  owner, description, version}}``; the same nonce in ``fly-machine-lease-nonce``
  refreshes; held by another -> 409 ``{"status":"error","message","code":
  "already_leased"}``; GET without lease -> 404; DELETE needs the nonce header
  (400 without, 409 wrong) and answers ``{"status":"success","data":{"ok":true}}``.
  update/start/stop/restart/suspend/cordon/uncordon/destroy on a leased machine
  without the right nonce -> 409 ``{"error": ...}``. Metadata and exec are not
  lease-guarded.
- snapshot create -> 200 with an EMPTY body; status ``waiting`` -> ``running``
  -> ``created``; snapshots of a deleted volume stay listable; a volume from a
  snapshot is ``restoring`` (from a fork ``hydrating``) then ``created`` and
  carries the snapshot's OpenClaw state.
- rate limits (token buckets): 1 req/s burst 3 per (action, machine id | volume
  id | app); ``machine_get`` 5/s burst 10; 429 ``{"error":"rate limit exceeded"}``
  with ``Retry-After`` (integer seconds). The logs API is not rate limited.
- logs: JSON:API ``{"data":[{"id","type":"logs","attributes":{"timestamp",
  "message","level","instance","region","meta"}}],"meta":{"next_token"}}``;
  OpenClaw's own lines carry a timestamp prefix and ANSI colours (strip them).

Simulated OpenClaw (per machine, state on its mounted volume)
-------------------------------------------------------------
Exec shapes: ``["node","./openclaw.mjs",...]`` (also ``/app/openclaw.mjs``),
``["sh","-lc","cd /app && [exec] node ./openclaw.mjs ..."]`` and the same with
``"$1"`` plus ``[..., "sh", CODE]`` positional arguments; anything else ->
exit 127 ``sh: 1: X: not found``. Commands: ``pairing list telegram [--json]``,
``pairing approve telegram CODE``, ``models set ID``, ``models status
[--plain]``, ``config set|get commands.ownerAllowFrom``, ``--version``; outputs as
OpenClaw 2026.9.6 prints them. ``node -e JS`` (also as ``sh -lc 'cd /app && exec node -e
"$1"' NAME JS``) is modelled for one script only: reading the approved Telegram senders from
OpenClaw's state database (JS naming table ``channel_pairing_allow_entries``), answered with
the JSON line that script prints, ``{"channel":"telegram","allowFrom":["2002"]}``.
Each run takes ``timings.cli``. Two pairing commands at once on one machine make its
gateway unstable: every later exec on it hangs until the machine is
stopped/restarted/updated. Gateway boot lines go to the logs API on every start; a
missing ``OPENCLAW_GATEWAY_TOKEN`` makes it refuse to bind and exit 78 (restart policy
applies: ``always`` loops).

Real OpenClaw mode
------------------
``FlyEmulator(..., openclaw=Path, node=Path | None, telegram_api_root=URL)`` (the
``--openclaw``/``--node``/``--telegram-api-root`` flags): a started machine's main
process is the real ``node openclaw.mjs gateway run``, configured from its env as
the agent image does (a free loopback port per machine, token auth from
``OPENCLAW_GATEWAY_TOKEN``, the Telegram channel on ``TELEGRAM_BOT_TOKEN`` polling
``telegram_api_root`` with DM policy ``pairing``; no token: the real refusal, exit 78,
and the restart policy); its stdout/stderr lines are the logs; TCP checks follow
whether its port accepts connections; stop/restart/update/suspend send the signal
and SIGKILL after the stop timeout; exec runs the recognised CLI shapes for real
(other commands get the simulated shell's answers; no simulated pairing
instability). Each volume has a host folder (copied for snapshots and restores)
that the mount path maps onto. The machines' npm registry and ClawHub are the
emulator's ``/_emulator/offline/...`` (404 to everything: OpenClaw's plugin installs
fail at once instead of reaching out). ``POST /_emulator/machines/{id}/pairing-codes`` answers
409 (DM the agent's bot through the Telegram emulator instead); the state's
machines carry ``emulator.real_gateway`` ``{pid, port}`` (null when not running).
Details and limits (about 0.8 GB per gateway: run at most three at once on a
small host) in ``emulators.fly.real_openclaw``.

Control API (no auth, JSON; not recorded)
-----------------------------------------
- ``GET /_emulator/state`` -> ``{"apps": [{"name", "org_slug", "machines": [Machine
  JSON + "emulator": {gateway_listening, gateway_mode, gateway_unstable,
  launching, lease, openclaw}], "volumes": [Volume JSON + "emulator":
  {openclaw}], "snapshots": [VolumeSnapshot JSON + "volume_id"]}], "clock": {...}}``
- ``GET /_emulator/exec`` -> ``[{"app", "machine_id", "argv", "started_at", "ended_at"
  (null while running), "exit_code" (null while running/hung/killed), "status"
  (running|hung|completed|killed), "answered" (pending|200|408|500), "stdout",
  "stderr"}]``
- ``GET /_emulator/requests[?since=SEQ]`` -> every Machines/logs API exchange:
  ``[{"seq", "method", "path", "query": {name: [values]}, "headers" (lower-case,
  no authorization), "token" (first 4 chars + "…"), "request_body",
  "status", "response_body" (null when empty), "response_headers"}]``
- ``GET /_emulator/requests/in-flight`` -> the API requests received and not answered yet
  (e.g. held by a latency fault): ``[{"id", "method", "path"}]``
- ``POST /_emulator/machines/{id}/pairing-codes`` ``{"sender_id"?: N, "first_name"?,
  "username"?}`` -> ``{"code", "sender_id", "created"}``; the same pending sender
  gets the same code (``created: false``); a 4th pending sender or an approved
  one -> 409 ``{"error": ...}``. Codes expire after 1 hour of emulator clock.
- ``POST /_emulator/machines/{id}/pairing-codes/expire`` ``{"code"?: CODE}`` -> ``{"expired":
  [codes]}``: that pending code (or every one) expires now, as if its hour had passed; the
  allow list is unchanged (409 in real-OpenClaw mode).
- ``GET|POST /_emulator/faults`` — rules documented in ``emulators.fly.faults``
  (HTTP status/latency by route with rate/count/mode before|after/retry_after/
  body, ``exec_hang``, ``exec_slow``, ``gateway_mode``, ``crash``, ``clear``).
- ``POST /_emulator/reset`` -> back to the initial apps, no faults, initial timings,
  clock offset 0, empty records, default rate limits.
- ``GET|POST /_emulator/timings`` ``{field: seconds}`` (fields of ``FlyTimings``).
- ``POST /_emulator/clock`` ``{"advance_s": 3600}`` -> ``{"now", "offset_s"}``.
- ``GET|POST /_emulator/rate-limits`` ``{"enabled"?: bool, "default"?: {"rate",
  "burst"}, "actions"?: {action: {"rate", "burst"}}, "reset"?: true}``. Actions:
  app_list, app_create, app_get, machine_list, machine_launch, machine_get,
  machine_update, machine_destroy, machine_start, machine_stop, machine_restart,
  machine_suspend, machine_cordon, machine_uncordon, machine_wait,
  machine_events, machine_exec, machine_find_lease, machine_acquire_lease,
  machine_release_lease, metadata_get, metadata_set, metadata_del, volume_list,
  volume_create, volume_get, volume_delete, volume_snapshot_list,
  volume_snapshot_create, app_secrets_list, app_secrets_update, app_secret_get,
  app_secret_set, app_secret_delete.
"""

from .emulator import FlyEmulator
from .timings import FlyTimings

__all__ = ["FlyEmulator", "FlyTimings"]
