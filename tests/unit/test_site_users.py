"""An agency's site user: a shelter's hub user also publishes the shelter service's events."""

from __future__ import annotations

from pathlib import Path

from qorgau.cli import directory, nats_users
from shared import natsauth


def test_shelters_publish_the_shelter_services_events_and_no_one_else_does(
    tmp_path: Path,
) -> None:
    users = {user.name: user for user in nats_users(tmp_path / "nats-users.json")}
    types = {agency["agency_id"]: agency["agency_type"] for agency in directory()}
    shelters = [agency_id for agency_id, kind in types.items() if kind == "shelter"]
    assert shelters
    for agency_id, kind in types.items():
        publishes = users[agency_id].publish
        if kind == "shelter":
            assert "qorgau.shelter.>" in publishes
        else:
            assert "qorgau.shelter.>" not in publishes, agency_id
        # No agency, site or not, publishes another service's events.
        for service in ("intake", "routing", "deadlines", "casework", "familycentre"):
            assert f"qorgau.{service}.>" not in publishes
        # Replies cross the link on the agency's own inbox prefix only.
        assert users[agency_id].subscribe[0] == f"{natsauth.inbox_prefix(agency_id)}.>"
