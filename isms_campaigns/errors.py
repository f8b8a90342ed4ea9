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

A message that names a setting names it as the reader can type it: a keyword
(``encoding='cp1252'``) in Python, an option (``--encoding cp1252``) from the
``isms-campaigns`` command. The message is written once, with each such phrase
in both spellings (:func:`setting`, :func:`spelled`); ``str(error)`` is the
Python one and :meth:`IsmsError.command_line` the other.

>>> error = ContactsError(f"Not UTF-8: pass {setting('encoding', 'cp1252')}.")
>>> str(error), error.command_line()
("Not UTF-8: pass encoding='cp1252'.", 'Not UTF-8: pass --encoding cp1252.')
"""

from __future__ import annotations

import re
import shlex

# A phrase in both spellings: OPEN python MIDDLE command-line CLOSE. Private-use
# characters, which no message contains otherwise.
_OPEN, _MIDDLE, _CLOSE = "\ue000", "\ue001", "\ue002"
_PHRASE = re.compile(f"{_OPEN}(.*?){_MIDDLE}(.*?){_CLOSE}", re.DOTALL)


def spelled(python: str, command_line: str) -> str:
    """A phrase of a message, as a Python user and as a command-line user would do it."""
    return f"{_OPEN}{python}{_MIDDLE}{command_line}{_CLOSE}"


def setting(keyword: str, value: object = True, *, option: str | None = None) -> str:
    """A setting named in a message: ``keyword=value`` in Python, ``--keyword value``
    on the command line, or ``option`` where the command line spells it otherwise
    (``--no-balance-check``, ``--number-column COLUMN``)."""
    if option is None:
        flag = "--" + keyword.replace("_", "-")
        option = flag if value is True else f"{flag} {shlex.quote(str(value))}"
    return spelled(f"{keyword}={value!r}", option)


def for_python(text: str) -> str:
    """``text`` with each phrase in its Python spelling."""
    return _PHRASE.sub(r"\1", text)


def for_command_line(text: str) -> str:
    """``text`` with each phrase in its command-line spelling."""
    return _PHRASE.sub(r"\2", text)


class IsmsError(Exception):
    """Root of every error isms_campaigns raises on purpose."""

    def __init__(self, *args: object) -> None:
        # The message in both spellings; args (and so str and pickling) hold Python's.
        self._spelled = args[0] if args and isinstance(args[0], str) else None
        if self._spelled is not None:
            args = (for_python(self._spelled), *args[1:])
        super().__init__(*args)

    def command_line(self) -> str:
        """The message as the ``isms-campaigns`` command shows it: options, not keywords."""
        return str(self) if self._spelled is None else for_command_line(self._spelled)


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
