"""Deadlines settings (prefix DEADLINES_); durations are ISO 8601, e.g. PT15M, PT1H."""

from datetime import timedelta
from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from services.deadlines import ladder
from services.deadlines.counting import WarningPolicy, parse_term
from services.deadlines.domain import DEFAULT_SUPERVISOR, EscalationChain, Policy
from shared.agencies import AgencyType
from shared.calendar import Term
from shared.settings import ServiceSettings


class DeadlinesSettings(ServiceSettings):
    """Settings of the deadlines service."""

    model_config = SettingsConfigDict(env_prefix="DEADLINES_", extra="ignore")

    service_name: str = "deadlines"
    http_port: int = 8103
    # "Immediately" is breached after this grace (REGULATIONS.md "Time").
    immediate_grace: timedelta = timedelta(minutes=15)
    # The government's yearly day transfers, as {"days_off": [...], "working_days": [...]}.
    calendar_overrides_file: Path | None = None
    # A breach fires within 2 seconds of its due time: the poll interval leaves room for it.
    poll_interval: float = Field(default=0.5, gt=0, le=1.5)
    poll_batch: int = Field(default=500, ge=1, le=10_000)
    # Breaches falling due within this window are computed ahead (in memory, nothing written),
    # so that a midnight wave only has to be written at its due time; at most prepare_keep.
    prepare_ahead: timedelta = timedelta(seconds=30)
    prepare_keep: int = Field(default=20_000, ge=0, le=100_000)
    # The due-soon point: before a term in hours; n working days before the last day of a
    # term in days (0: the start of the last working day).
    warn_before_hours: timedelta = timedelta(hours=1)
    warn_working_days_before: int = Field(default=0, ge=0, le=30)
    # The supervisor's term once a breach is escalated to it.
    escalation_term: str = "working_days:1"
    # The escalation ladder: who supervises whom, each step with its clause (JSON, the form of
    # services/deadlines/seed/ladder.json).
    escalation_ladder_file: Path = ladder.LADDER_FILE
    # Agency type -> the type that supervises it (null: the top of a chain); JSON in the
    # environment, replacing the ladder's map (a step the ladder also has keeps its clause).
    # Types not listed climb to escalation_default.
    escalation_chain: dict[str, str | None] | None = None
    escalation_default: str | None = DEFAULT_SUPERVISOR
    escalation_max_level: int = Field(default=5, ge=1, le=20)

    @field_validator("escalation_term")
    @classmethod
    def _term(cls, value: str) -> str:
        if parse_term(value) is None:
            raise ValueError("an escalation needs a term, not 'none'")
        return value

    @model_validator(mode="after")
    def _chain(self) -> "DeadlinesSettings":
        self.chain().validate(kind.value for kind in AgencyType)
        return self

    def chain(self) -> EscalationChain:
        """The escalation chain these settings describe (raises on a loop)."""
        shipped = ladder.load(self.escalation_ladder_file).chain(
            max_level=self.escalation_max_level
        )
        if self.escalation_chain is None and self.escalation_default == shipped.default:
            return shipped
        supervisors = (
            shipped.supervisors if self.escalation_chain is None else dict(self.escalation_chain)
        )
        return EscalationChain(
            supervisors=supervisors,
            default=self.escalation_default,
            max_level=self.escalation_max_level,
            # A step keeps the ladder's clause only where it is the ladder's own step.
            bases={
                kind: basis
                for kind, basis in shipped.bases.items()
                if supervisors.get(kind, "") == shipped.supervisors.get(kind)
            },
            default_basis=(
                shipped.default_basis if self.escalation_default == shipped.default else None
            ),
        )

    def policy(self) -> Policy:
        """The deployment's choices, as the handlers take them."""
        return Policy(
            warning=WarningPolicy(
                before_hours=self.warn_before_hours,
                working_days_before=self.warn_working_days_before,
            ),
            chain=self.chain(),
            escalation_term=Term.parse(self.escalation_term),
            immediate_grace=self.immediate_grace,
            batch=self.poll_batch,
        )
