"""An agency's own site as a NATS leaf node of the national hub.

An agency that runs its services on its own site (a shelter: the shelter service and the
console) runs a nats-server of its own, a *leaf node*, that dials the hub with the agency's
NKey (shared.natsauth) and keeps working when the link is down:

- JetStream domains: the hub's is `hub` (HUB_DOMAIN), the leaf's is its own; each side's
  streams are addressed without ambiguity (`$JS.<domain>.API`) across the link.
- The leaf has a stream `AGENCY` of its own that *sources* the hub's `AGENCY` stream, filtered
  on the agency's subjects (`qorgau.agency.<agency_id>.>`). The source remembers the last hub
  sequence it stored: when the link returns it asks for the next one, so nothing is lost, and
  the hub's Nats-Msg-Id travels with each message, so the leaf's duplicate window drops any
  message offered twice. The agency's services consume the local stream (same name and
  subjects as on the hub: `shared.bus` finds it as it finds the hub's), through the outage.
- The hub lets the agency's user create only consumers filtered on its own subjects, and
  delivers them on the agency's own prefix (`_DELIVER_<agency_id>`): a leaf cannot source
  another agency's deliveries.
- The agency's answers (referral_acknowledged, ...) go from its services' outboxes to the hub
  through the link; while it is down the outbox keeps them and the relay retries.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import nats
from nats.js.api import ExternalStream, StreamConfig, StreamSource
from nats.js.errors import NotFoundError

from shared.natsauth import HUB_DOMAIN, connect_options, leaf_deliver_prefix
from shared.streams import DUPLICATE_WINDOW, PREFIX

__all__ = ["LEAF_STREAM", "hub_leafnodes_config", "leaf_remote_config", "provision_leaf"]

LEAF_STREAM = "AGENCY"


def _quote(value: str) -> str:
    return json.dumps(value)


def hub_leafnodes_config(listen: str, *, tls: str = "") -> str:
    """Return the hub's `leafnodes` block: where agencies' leaf nodes connect.

    Leaf nodes authenticate as the platform's users (the agency's NKey) with its permissions.
    """
    inner = [
        f"  listen: {_quote(listen)}",
        # Leaf nodes dial the addresses they were given (the hub's public name), never the
        # nodes' own addresses the hub would otherwise advertise to them.
        "  no_advertise: true",
    ]
    inner += ["  " + line for line in tls.splitlines()]
    return "\n".join(["leafnodes {", *inner, "}"]) + "\n"


def leaf_remote_config(hub_urls: Sequence[str], *, seed: str, tls: str = "") -> str:
    """Return a leaf node's `leafnodes` block: dial the hub with the agency's NKey seed.

    hub_urls: the hub nodes' leafnode URLs (`nats-leaf://host:7422`). The seed is the
    agency's own secret: the file holding this block is owner-only, on the agency's site.
    """
    urls = ", ".join(_quote(url) for url in hub_urls)
    inner = [f"    urls: [{urls}]", f"    nkey: {_quote(seed)}"]
    inner += ["    " + line for line in tls.splitlines()]
    return "\n".join(["leafnodes {", "  remotes: [", "   {", *inner, "   }", "  ]", "}"]) + "\n"


def leaf_stream_config(agency_id: str, *, replicas: int = 1) -> StreamConfig:
    """Return the leaf's AGENCY stream: the hub's AGENCY, the agency's subjects only."""
    return StreamConfig(
        name=LEAF_STREAM,
        description=f"Deliveries to {agency_id}, sourced from the hub",
        # No subjects of its own: local publications (the agency's answers) go to the hub.
        subjects=[],
        sources=[
            StreamSource(
                name="AGENCY",
                filter_subject=f"{PREFIX}.agency.{agency_id}.>",
                external=ExternalStream(
                    api=f"$JS.{HUB_DOMAIN}.API", deliver=leaf_deliver_prefix(agency_id)
                ),
            )
        ],
        duplicate_window=DUPLICATE_WINDOW,
        num_replicas=replicas,
        # The agency's record of what it was sent.
        deny_delete=True,
        deny_purge=True,
    )


async def provision_leaf(url: str, agency_id: str, *, replicas: int = 1) -> str:
    """Create (or update) the leaf's AGENCY stream; return what was done."""
    nc = await nats.connect(**connect_options(url), allow_reconnect=False, connect_timeout=5)
    try:
        js = nc.jetstream(timeout=10)
        wanted = leaf_stream_config(agency_id, replicas=replicas)
        try:
            await js.stream_info(LEAF_STREAM)
        except NotFoundError:
            await js.add_stream(wanted)
            return f"{LEAF_STREAM}: created, sourcing the hub's deliveries to {agency_id}"
        await js.update_stream(wanted)
        return f"{LEAF_STREAM}: updated"
    finally:
        await nc.close()
