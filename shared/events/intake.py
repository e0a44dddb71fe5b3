"""The inbound topic on which the provincial dossier system reports dossiers received."""

from typing import Literal

from .assist import DossierReceivedData
from .envelope import Event

TOPIC = "cdt.intake.dossiers"


class IntakeDossierReceived(Event):
    TYPE = "vn.cdt.intake.dossier.received.v1"
    SUBJECT = "dossier/{dossier_id}"
    type: Literal["vn.cdt.intake.dossier.received.v1"] = TYPE
    data: DossierReceivedData


EVENT_TYPES: tuple[type[Event], ...] = (IntakeDossierReceived,)
