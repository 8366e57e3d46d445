"""Our flow runs send no Prefect heartbeat: its thread made every run end up to 1 s late, and
the ingestion run's lease already tells a lost worker (flows/startup.py)."""

from __future__ import annotations

from prefect import flow
from prefect.settings import get_current_settings

from flows.startup import flow_settings, without_flow_heartbeat


@flow(name="heartbeat-probe")
def heartbeat_seen() -> int | None:
    return get_current_settings().flows.heartbeat_frequency


def test_flow_runs_inside_send_no_heartbeat_and_outside_keep_prefects_default() -> None:
    default = get_current_settings().flows.heartbeat_frequency
    assert default is not None  # Prefect's default (180 s)
    with without_flow_heartbeat():
        assert heartbeat_seen() is None
        with without_flow_heartbeat():  # nested and repeated: the same settings, cached
            assert heartbeat_seen() is None
    assert heartbeat_seen() == default


def test_only_a_temporary_server_turns_it_off() -> None:
    with flow_settings(temporary_server=False):
        assert get_current_settings().flows.heartbeat_frequency is not None
    with flow_settings(temporary_server=True):
        assert get_current_settings().flows.heartbeat_frequency is None
