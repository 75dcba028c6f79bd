"""Suite-wide fixtures: in-process emulators whose every exchange is checked against the real specs.

``fly_emulator`` and ``telegram_emulator`` start the local Fly Machines and Telegram Bot API servers
with tiny delays. At teardown they read the emulator's request log and check each exchange with
``contracts.fly_spec.FlySpec`` / ``contracts.telegram_spec.TelegramSpec``; any violation fails the
test, listed. The ``*_factory`` variants build emulators with other settings under the same check.
A test that sends out-of-contract requests on purpose (to pin how the emulator rejects them) marks
itself ``sends_invalid_requests``: request-side violations the emulator answered with a 4xx are
then tolerated, answer-side ones never are. The session ends with a one-line tally so CI output
shows the check really ran.

When a spec file is absent the emulator fixtures still run but cannot check (the tally says so);
with ``FLYAGENTS_REQUIRE_SPECS=1`` they fail instead. The tests that need a spec itself (the
``fly_spec`` / ``telegram_spec`` fixtures) are skipped in one place, ``pytest_runtest_setup``, with
one reason naming every missing spec, so a run without specs reports one skip line, not one per
test. Emulators are imported inside the fixtures so the validators' own tests never depend on them.

``SLOW_SUITES`` lists the suites that take minutes, or over ~20 s in one test or one matrix of
subprocess runs (real OpenClaw runtime, fresh clone, bench smoke, a clean-venv install, the
offline demo and console, the settings matrix, the fleet-scale tests): each of their tests is
marked ``slow``, so ``make test-fast`` (``pytest -m "not slow"``) is the loop to live in and
``make test`` / CI run everything.
Nothing here may mock the code under test.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from contracts.fly_spec import FlySpec
from contracts.specs_dir import (
    SPECS_DIR_ENV,
    SpecLocation,
    locate_fly_spec,
    locate_telegram_spec,
    require_spec,
    specs_required,
)
from contracts.telegram_spec import TelegramSpec
from contracts.traffic import contract_failures, fetch_request_log

if TYPE_CHECKING:
    from emulators.fly import FlyEmulator
    from emulators.telegram import TelegramEmulator

INVALID_REQUESTS_MARKER = "sends_invalid_requests"
SLOW_MARKER = "slow"
MAX_LISTED_VIOLATIONS = 20

TESTS_ROOT = Path(__file__).resolve().parent

# Suites that take minutes rather than seconds (measured with `pytest --durations`); every test
# under these paths is marked `slow`. Path (relative to tests/) -> why it is slow.
SLOW_SUITES: dict[str, str] = {
    "openclaw_real": "boots the real OpenClaw runtime (Node, ~0.8 GB per gateway)",
    "e2e_real": "the real bot driving real OpenClaw agents end to end",
    "product/test_demo_real.py": "the demo with the real OpenClaw runtime",
    "product/test_demo.py": "plays the whole offline demo as a subprocess (~25 s)",
    "product/test_console.py": "drives `python -m bot console` through stdin (~20 s)",
    (
        "flyclient/test_against_emulator.py::"
        "test_the_limiter_keeps_a_200_machine_bulk_stop_free_of_429s"
    ): "a bulk stop of 200 machines under Fly's rate limits (fleet scale)",
    "fleet/test_monitor.py::test_a_sweep_of_500_machines_uses_one_list_call": (
        "a monitor sweep over 500 machines (fleet scale)"
    ),
    "product/test_fresh_clone.py": "clones the repository and installs it in a fresh venv",
    "bench": "runs the benchmark scenarios (smoke size)",
    "test_packaging.py::test_dockerfile_install_steps_work_in_a_clean_venv": (
        "installs the project into a clean venv"
    ),
    "bot/test_settings.py::test_a_malformed_setting_stops_run_and_check_with_the_settings_error": (
        "starts `python -m bot run` and `check` for each of 28 bad settings (~100 s in all)"
    ),
}

# The fixtures that hand a test the spec itself, and where each spec is looked for.
SPEC_FIXTURES: dict[str, Callable[[], SpecLocation]] = {
    "fly_spec": locate_fly_spec,
    "telegram_spec": locate_telegram_spec,
}


@dataclass
class ContractTally:
    """What the emulator fixtures checked during the session, for the closing summary line."""

    fly_exchanges: int = 0
    telegram_calls: int = 0
    violations: int = 0
    tolerated_request_violations: int = 0
    unchecked: dict[str, str] = field(default_factory=dict)  # spec label -> why it was not used


TALLY_KEY = pytest.StashKey[ContractTally]()
TALLY_OUTPUT_KEY = "contract_tally"  # in a pytest-xdist worker's output to the controller


def pytest_configure(config: pytest.Config) -> None:
    # The markers themselves are registered in pyproject.toml (with --strict-markers).
    config.stash[TALLY_KEY] = ContractTally()


def _is_slow(item: pytest.Item) -> bool:
    relative = item.path.relative_to(TESTS_ROOT).as_posix()
    test_id = f"{relative}::{item.name.split('[')[0]}"
    return any(
        relative == suite or relative.startswith(f"{suite}/") or test_id == suite
        for suite in SLOW_SUITES
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _is_slow(item):
            item.add_marker(SLOW_MARKER)


def _missing_specs_reason() -> str | None:
    """One reason naming every absent spec, or None when all are there."""
    locations = [locate() for locate in SPEC_FIXTURES.values()]
    missing = [location for location in locations if not location.available]
    if not missing:
        return None
    listed = ", ".join(f"{location.label} ({location.path})" for location in missing)
    return f"not found: {listed}; set {SPECS_DIR_ENV} to the folder holding the specs"


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip every test that needs an absent spec, from this one line, so the skips fold into one.

    Under FLYAGENTS_REQUIRE_SPECS=1 (CI) nothing is skipped here: the spec fixtures fail instead.
    """
    fixtures = getattr(item, "fixturenames", ())
    needs_absent_spec = any(
        name in fixtures and not locate().available for name, locate in SPEC_FIXTURES.items()
    )
    if needs_absent_spec and not specs_required():
        pytest.skip(_missing_specs_reason() or "")


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Under pytest-xdist (`make test-fast`), a worker hands its tally to the controller."""
    workeroutput = getattr(session.config, "workeroutput", None)
    tally = session.config.stash.get(TALLY_KEY, None)
    if workeroutput is not None and tally is not None:
        workeroutput[TALLY_OUTPUT_KEY] = dataclasses.asdict(tally)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """The controller adds each finished worker's tally to its own (which checked nothing)."""
    received = getattr(node, "workeroutput", {}).get(TALLY_OUTPUT_KEY)
    tally = node.config.stash.get(TALLY_KEY, None)
    if received is None or tally is None:
        return
    tally.fly_exchanges += received["fly_exchanges"]
    tally.telegram_calls += received["telegram_calls"]
    tally.violations += received["violations"]
    tally.tolerated_request_violations += received["tolerated_request_violations"]
    tally.unchecked.update(received["unchecked"])


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    tally = config.stash.get(TALLY_KEY, None)
    if tally is None:
        return
    line = (
        f"contract check: {tally.fly_exchanges} Fly exchanges, {tally.telegram_calls} Telegram "
        f"calls validated, {tally.violations} violations"
    )
    if tally.tolerated_request_violations:
        line += f" ({tally.tolerated_request_violations} deliberate invalid requests tolerated)"
    terminalreporter.write_line(line)
    for reason in sorted(tally.unchecked.values()):
        terminalreporter.write_line(f"contract check: traffic NOT checked: {reason}")


# -- specs -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def fly_spec() -> FlySpec:
    """The Fly Machines contract; skips (fails under FLYAGENTS_REQUIRE_SPECS=1) if absent."""
    return FlySpec.load(require_spec(locate_fly_spec()).parent)


@pytest.fixture(scope="session")
def telegram_spec() -> TelegramSpec:
    """The Telegram Bot API contract; skips (fails under FLYAGENTS_REQUIRE_SPECS=1) if absent."""
    return TelegramSpec.load(require_spec(locate_telegram_spec()).parent)


def _spec_for_traffic(location: SpecLocation, tally: ContractTally) -> Path | None:
    """The spec folder to check traffic with, or None (noted in the tally) when it is absent."""
    if location.available:
        return location.path.parent
    if specs_required():
        pytest.fail(location.missing_reason, pytrace=False)
    tally.unchecked[location.label] = location.missing_reason
    return None


# -- checking recorded traffic -----------------------------------------------------------------


def _fail_on(failures: list[str], service: str, total: int) -> None:
    if not failures:
        return
    listed = "\n".join(f"  {line}" for line in failures[:MAX_LISTED_VIOLATIONS])
    more = len(failures) - MAX_LISTED_VIOLATIONS
    tail = f"\n  … and {more} more" if more > 0 else ""
    pytest.fail(
        f"{len(failures)} {service} contract violation(s) in {total} recorded exchanges:\n"
        f"{listed}{tail}",
        pytrace=False,
    )


def _tolerates_invalid_requests(request: pytest.FixtureRequest) -> bool:
    return request.node.get_closest_marker(INVALID_REQUESTS_MARKER) is not None


# -- emulators ---------------------------------------------------------------------------------

FlyEmulatorFactory = Callable[..., Awaitable["FlyEmulator"]]
TelegramEmulatorFactory = Callable[..., Awaitable["TelegramEmulator"]]


@pytest.fixture
async def fly_emulator_factory(
    request: pytest.FixtureRequest,
) -> AsyncIterator[FlyEmulatorFactory]:
    """Start Fly emulators with any constructor arguments (tiny timings unless given).

    Every emulator started through it is checked against the Fly spec at teardown.
    """
    from emulators.fly import FlyEmulator, FlyTimings

    tally = request.config.stash[TALLY_KEY]
    specs = _spec_for_traffic(locate_fly_spec(), tally)
    started: list[FlyEmulator] = []
    failures: list[str] = []
    recorded = 0
    async with AsyncExitStack() as running:

        async def start(**kwargs: Any) -> FlyEmulator:
            kwargs.setdefault("timings", FlyTimings.for_tests())
            emulator = await running.enter_async_context(FlyEmulator(**kwargs))
            started.append(emulator)
            return emulator

        yield start
        for emulator in started:
            records = await fetch_request_log(emulator.root_url)
            recorded += len(records)
            if specs is None:
                continue
            spec = FlySpec.load(specs)
            found, tolerated = contract_failures(
                records,
                spec.exchange_violations,
                spec.describe,
                _tolerates_invalid_requests(request),
            )
            tally.fly_exchanges += len(records)
            tally.violations += len(found)
            tally.tolerated_request_violations += tolerated
            failures.extend(found)
    _fail_on(failures, "Fly Machines API", recorded)


@pytest.fixture
async def fly_emulator(fly_emulator_factory: FlyEmulatorFactory) -> FlyEmulator:
    """A started Fly emulator (app "agents", any token, tiny timings), checked at teardown."""
    return await fly_emulator_factory()


@pytest.fixture
async def telegram_emulator_factory(
    request: pytest.FixtureRequest,
) -> AsyncIterator[TelegramEmulatorFactory]:
    """Start Telegram emulators with any constructor arguments, each checked at teardown."""
    from emulators.telegram import TelegramEmulator

    tally = request.config.stash[TALLY_KEY]
    specs = _spec_for_traffic(locate_telegram_spec(), tally)
    started: list[TelegramEmulator] = []
    failures: list[str] = []
    recorded = 0
    async with AsyncExitStack() as running:

        async def start(**kwargs: Any) -> TelegramEmulator:
            emulator = await running.enter_async_context(TelegramEmulator(**kwargs))
            started.append(emulator)
            return emulator

        yield start
        for emulator in started:
            records = await fetch_request_log(emulator.root_url)
            recorded += len(records)
            if specs is None:
                continue
            spec = TelegramSpec.load(specs)
            found, tolerated = contract_failures(
                records, spec.call_violations, spec.describe, _tolerates_invalid_requests(request)
            )
            tally.telegram_calls += len(records)
            tally.violations += len(found)
            tally.tolerated_request_violations += tolerated
            failures.extend(found)
    _fail_on(failures, "Telegram Bot API", recorded)


@pytest.fixture
async def telegram_emulator(
    telegram_emulator_factory: TelegramEmulatorFactory,
) -> TelegramEmulator:
    """A started Telegram emulator, every call contract-checked at teardown."""
    return await telegram_emulator_factory()
