"""isms_campaigns: plan, send and track SMS campaigns through iSMS from Jupyter.

>>> import isms_campaigns as ic
>>> contacts = ic.read_contacts("data/sample_contacts.csv")  # doctest: +SKIP
>>> camp = ic.Campaign("nov-promo", contacts, template="Hi %name%!")  # doctest: +SKIP
"""

from importlib.metadata import PackageNotFoundError, version

from . import gateway
from .campaign import Campaign
from .contacts import read_contacts
from .encoding import SMART_ASCII, BillingRule, read_rate_card
from .errors import (
    ContactsError,
    GatewayError,
    IsmsError,
    PlanError,
    SendError,
    StoreError,
    TemplateError,
)
from .gateway.client import Gateway
from .numbers import normalise_numbers
from .render import parse_template
from .send import SendReport
from .store import Store

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
    "PlanError",
    "SendError",
    "SendReport",
    "Store",
    "StoreError",
    "TemplateError",
    "__version__",
    "gateway",
    "normalise_numbers",
    "parse_template",
    "read_contacts",
    "read_rate_card",
]
