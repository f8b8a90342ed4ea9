"""The exceptions isms_campaigns raises.

Everything the *gateway* says (a rejected request, a failed number) is a value,
not an exception. Exceptions are for input we cannot use and for misuse::

    IsmsError                 root: catch this to catch everything of ours
    ├── ContactsError         a contact file or frame we cannot read or use
    ├── TemplateError         a message template with an unknown token
    ├── PlanError             a campaign setting that cannot work (sender ID …)
    │   └── PlanChanged       a re-planned campaign differs from what was sent
    ├── GatewayError          the gateway client was misused or misconfigured
    ├── SendError             a send refused before it started (balance short …)
    └── StoreError            the DuckDB store cannot be used (in use, newer …)

Every message says what was wrong, with the offending value, and what to do.
``ContactsError``, ``TemplateError`` and ``PlanError`` are also ``ValueError``
so code written against plain Python conventions keeps working.
"""

from __future__ import annotations


class IsmsError(Exception):
    """Root of every error isms_campaigns raises on purpose."""


class ContactsError(IsmsError, ValueError):
    """A contact list that cannot be read or has no usable number column."""


class TemplateError(IsmsError, ValueError):
    """A template token that matches no contact column or iSMS token."""


class PlanError(IsmsError, ValueError):
    """A campaign setting that the gateway would reject (sender ID, type …)."""


class PlanChanged(PlanError):
    """A campaign sent in part was planned again differently: pass ``amend=True``."""


class GatewayError(IsmsError):
    """The gateway client cannot be used as asked (missing credentials …)."""


class SendError(IsmsError):
    """A send that was refused before anything went out (credits short, …)."""


class StoreError(IsmsError):
    """The campaign store cannot be opened or used."""
