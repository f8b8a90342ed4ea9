"""isms_campaigns: plan, send and track SMS campaigns through iSMS from Jupyter.

>>> import isms_campaigns as ic
>>> contacts = ic.read_contacts("data/sample_contacts.csv")  # doctest: +SKIP
>>> camp = ic.Campaign("nov-promo", contacts, template="Hi %name%!")  # doctest: +SKIP
"""

import importlib
from importlib.metadata import PackageNotFoundError, version

from . import analytics, gateway, plots
from .analytics import ReportError, delivery_summary
from .campaign import Campaign
from .contacts import read_contacts
from .encoding import SMART_ASCII, BillingRule, read_rate_card
from .errors import (
    ContactsError,
    GatewayError,
    IsmsError,
    PlanChanged,
    PlanError,
    SendError,
    StoreError,
    TemplateError,
)
from .gateway.client import Gateway
from .numbers import normalise_numbers
from .receiver import Receiver
from .render import parse_template
from .report import write_report
from .send import SendReport
from .store import Store
from .variants import split


def __getattr__(name: str) -> object:
    if name == "widgets":  # ipywidgets is imported only when the widgets are asked for
        return importlib.import_module(f"{__name__}.widgets")
    raise AttributeError(f"module 'isms_campaigns' has no attribute {name!r}")


try:
    __version__ = version("isms_campaigns")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "SMART_ASCII",
    "BillingRule",
    "Campaign",
    "ContactsError",
    "Gateway",
    "GatewayError",
    "IsmsError",
    "PlanChanged",
    "PlanError",
    "Receiver",
    "ReportError",
    "SendError",
    "SendReport",
    "Store",
    "StoreError",
    "TemplateError",
    "__version__",
    "analytics",
    "delivery_summary",
    "gateway",
    "normalise_numbers",
    "parse_template",
    "plots",
    "read_contacts",
    "read_rate_card",
    "split",
    "widgets",
    "write_report",
]
