"""Intake settings (prefix INTAKE_)."""

from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from shared.backlog import MESSAGES_PER_REPORT
from shared.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    """Settings of the intake service."""

    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore")

    service_name: str = "intake"
    http_port: int = 8101
    # Load shedding (docs/reliability.md): past this backlog of messages on a report's path
    # (shared.backlog.REPORT_PATH plus intake's unsent outbox rows, each report weighed as
    # shed_report_weight messages) a new report is refused
    # with 503 and Retry-After. A school's report of violence puts 51 messages on that path
    # (its report event, and routing's 50 events, all read by deadlines' one consumer): 3,600
    # is about 70 reports ahead, some 30 s of work at the rate the platform saturates at on
    # two cores (about 2.5 reports a second), under 2 s at the 50 a second it is built for;
    # well within a tenth of the 15-minute grace of an "immediately" term (R1).
    shed_backlog: int = Field(default=3600, gt=0)
    # Reports are accepted again once the backlog is below this (hysteresis: no flapping).
    shed_resume_backlog: int = Field(default=2700, ge=0)
    # What a report not yet handled by routing weighs in that backlog (its outbox row, its
    # report event, each report let in since the last reading): the messages it becomes.
    shed_report_weight: int = Field(default=MESSAGES_PER_REPORT, gt=0)

    @model_validator(mode="after")
    def _resume_below_bound(self) -> Self:
        if self.shed_resume_backlog >= self.shed_backlog:
            raise ValueError("shed_resume_backlog must be below shed_backlog")
        return self
