"""Intake settings (prefix INTAKE_)."""

from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    """Settings of the intake service."""

    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore")

    service_name: str = "intake"
    http_port: int = 8101
    # Load shedding (docs/reliability.md): past this backlog of messages on a report's path
    # (shared.backlog.REPORT_PATH plus intake's unsent outbox rows) a new report is refused
    # with 503 and Retry-After. 2,000 messages is a few reports' worth of minutes at the rate
    # the platform saturated at (issue 15) and seconds at the rate it is built for: the
    # platform's share of an "immediately" term's 15-minute grace stays about a minute.
    shed_backlog: int = Field(default=2000, gt=0)
    # Reports are accepted again once the backlog is below this (hysteresis: no flapping).
    shed_resume_backlog: int = Field(default=1500, ge=0)

    @model_validator(mode="after")
    def _resume_below_bound(self) -> Self:
        if self.shed_resume_backlog >= self.shed_backlog:
            raise ValueError("shed_resume_backlog must be below shed_backlog")
        return self
