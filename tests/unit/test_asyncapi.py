"""The event catalogue kept in the repository is the one FastStream generates today."""

from pathlib import Path

from qorgau.cli import main

KEPT = Path(__file__).parents[2] / "docs" / "asyncapi.json"


def test_kept_asyncapi_document_is_current() -> None:
    # A new or changed event must come with `make asyncapi`, so integrators see it.
    assert main(["asyncapi", "--check", str(KEPT)]) == 0


def test_catalogue_names_every_published_subject() -> None:
    text = KEPT.read_text(encoding="utf-8")
    for subject in (
        "qorgau.intake.report_received.v1",
        "qorgau.routing.referral_issued.v1",
        "qorgau.routing.obligation_opened.v1",
        "qorgau.deadlines.obligation_breached.v1",
        "qorgau.agency.{agency_id}.referral_issued.v1",
    ):
        assert subject in text
