"""Events of the assist service: desk check-ins, citizens helped and dossiers received."""

from typing import Literal

from pydantic import AwareDatetime, Field, model_validator

from .envelope import WARD_ID_PATTERN, Event, EventData

TOPIC = "cdt.assist.events"
SERVICE = "assist"

Venue = Literal["service_center", "cultural_house", "household_visit", "other"]
Field_ = Literal["civil_status", "residence", "land", "social_insurance", "business", "justice",
                 "other"]
Action = Literal["vneid_login", "vneid_activation", "account_setup", "form_filling",
                 "document_upload", "online_payment", "status_lookup", "information_only"]
Outcome = Literal["submitted_online", "referred_to_counter", "not_completed"]
Reason = Literal["no_vneid_level2", "missing_documents", "portal_unavailable", "citizen_declined",
                 "other"]
VneidLevel = Literal["none", "level1", "level2"]
AgeBand = Literal["under_18", "18_29", "30_44", "45_59", "60_74", "75_plus"]
Channel = Literal["online", "in_person", "postal"]


class _WardData(EventData):
    ward_id: str = Field(pattern=WARD_ID_PATTERN)


class DeskCheckedInData(_WardData):
    checkin_id: str
    shift_id: str
    member_id: str
    at: AwareDatetime


class DeskCheckedIn(Event):
    TYPE = "vn.cdt.assist.desk.checked_in.v1"
    SUBJECT = "shift/{shift_id}"
    type: Literal["vn.cdt.assist.desk.checked_in.v1"] = TYPE
    data: DeskCheckedInData


class DeskCheckedOutData(DeskCheckedInData):
    pass


class DeskCheckedOut(Event):
    TYPE = "vn.cdt.assist.desk.checked_out.v1"
    SUBJECT = "shift/{shift_id}"
    type: Literal["vn.cdt.assist.desk.checked_out.v1"] = TYPE
    data: DeskCheckedOutData


class AssistCompletedData(_WardData):
    assist_id: str
    shift_id: str | None = None
    member_ids: list[str] = Field(min_length=1)
    venue: Venue
    procedure_code: str | None = None
    field: Field_
    actions: list[Action]
    outcome: Outcome
    reason: Reason | None = None
    dossier_id: str | None = None
    started_at: AwareDatetime
    ended_at: AwareDatetime
    satisfaction: int | None = Field(default=None, ge=1, le=5)
    vneid_level: VneidLevel | None = None
    citizen_age_band: AgeBand | None = None
    citizen_vulnerable: bool = False

    @model_validator(mode="after")
    def _outcome_rules(self) -> "AssistCompletedData":
        if (self.outcome == "not_completed") != (self.reason is not None):
            raise ValueError("reason is required exactly when the outcome is not_completed")
        if self.outcome == "submitted_online" and not self.dossier_id:
            raise ValueError("dossier_id is required when the outcome is submitted_online")
        if self.ended_at < self.started_at:
            raise ValueError("ended_at must not be before started_at")
        return self


class AssistCompleted(Event):
    TYPE = "vn.cdt.assist.assist.completed.v1"
    type: Literal["vn.cdt.assist.assist.completed.v1"] = TYPE
    data: AssistCompletedData


class DossierReceivedData(_WardData):
    dossier_id: str = Field(min_length=1, max_length=64)
    procedure_code: str = Field(min_length=1, max_length=64)
    field: Field_
    channel: Channel
    received_at: AwareDatetime
    assisted: bool = False
    assist_id: str | None = None
    eligible_fully_online: bool = False
    fully_online: bool = False
    fee_due: bool | None = None
    paid_online: bool | None = None


class DossierReceived(Event):
    TYPE = "vn.cdt.assist.dossier.received.v1"
    SUBJECT = "dossier/{dossier_id}"
    type: Literal["vn.cdt.assist.dossier.received.v1"] = TYPE
    data: DossierReceivedData


EVENT_TYPES: tuple[type[Event], ...] = (
    DeskCheckedIn, DeskCheckedOut, AssistCompleted, DossierReceived,
)
