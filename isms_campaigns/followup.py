"""Follow-ups and exports: a campaign's messages with the contact columns its plan kept.

Every send keeps, with each message of its plan, the contact columns a new
plan of that recipient needs (``Campaign.contacts``: the number column, the
template column and the columns the template reads), and with the plan the
keywords it was planned with (``Campaign.plan_settings()``). From those:

- ``store.follow_up(campaign, name, where=…)`` plans the recipients ``where``
  selects again, as a new campaign linked to the first (``parent``);
- ``store.export(campaign, path)`` writes one row per message: its contact
  columns, then the ``messages`` view's columns (state, code, delivery
  status and times).

The named selections, in the words of the delivery summary
(:mod:`.analytics`):

- ``"undelivered"``: submitted (the gateway accepted it, code 2000) and its
  current delivery report is UNDELIVERED (``dlr_class = 'failed'``);
- ``"failed"``: refused by the gateway for that recipient (state ``failed``:
  a code other than 2000, such as -1008), so never sent;
- ``"no_dlr"``: submitted, with no delivery report imported yet.

Any other ``where`` is an SQL condition on the columns of the ``messages``
view and the kept contact columns (a contact column named like a view
column is ``contact_<name>``), e.g. ``"state = 'failed' or dlr_class =
'failed'"`` or ``"operator = 'Maxis' and dlr_status is null"``.

This module owns the SQL that reads the kept contact columns; the outbox
writes them with the plan.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import polars as pl
import polars.selectors as cs

from . import schedule
from ._sql import first_line
from .errors import PlanError, StoreError, TemplateError
from .numbers import DUPLICATE
from .schedule import shown, stored_send_later

if TYPE_CHECKING:
    from .campaign import Campaign
    from .store import Store

# The named selections (see the module docstring), as conditions on the messages view.
WHERE: dict[str, str] = {
    "undelivered": "state = 'submitted' and dlr_class = 'failed'",
    "failed": "state = 'failed'",
    "no_dlr": "state = 'submitted' and dlr_class is null",
}
EXPORT_FORMATS = (".csv", ".parquet", ".xlsx")
EXCEL_ROWS = 1_048_576  # a sheet's rows, the header included
TIME_ZONE = "Asia/Kuala_Lumpur"  # the times of an export
_KEPT = "__kept"  # whether a row's contact columns were kept (not by older versions)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _contact_name(column: str, view: set[str]) -> str:
    """A kept contact column's name beside the messages view's columns (``view``, lower case)."""
    return f"contact_{column}" if column.lower() in view else column


def recipients(con: duckdb.DuckDBPyConnection, campaign: str) -> tuple[str, dict[str, str]]:
    """The SQL of one row per message of ``campaign`` in the ``messages`` view (its
    columns but ``campaign``), with the contact columns kept by its plan; and those
    columns, as the result names them, to the contact columns they are.

    The query takes one parameter, ``$campaign``. Each plan version's rows are read
    with that version's contact columns (a version may have kept others).
    """
    # SQL names ignore case: a contact column "State" would hide the view's state.
    view = {c.lower() for c in con.sql("select * from messages limit 0").columns}
    versions = con.execute(
        "select version, contact_type from ic_plans where campaign = ? order by version",
        [campaign],
    ).fetchall()
    kept = [(v, t) for v, t in versions if t is not None]
    names: dict[str, str] = {}
    parts = []
    for version, struct in kept:
        fields = con.sql(f"select unnest(null::{struct})").columns
        select = ", ".join(f"i.c.{_quoted(f)} as {_quoted(_contact_name(f, view))}" for f in fields)
        names |= {_contact_name(f, view): f for f in fields}
        parts.append(
            f"""
            select {select}, m.* exclude (campaign), i.row is not null as {_KEPT}
            from messages m
            left join (select row, contact::json::{struct} as c from ic_messages
                       where campaign = $campaign and version = {int(version)}) i
              on i.row = m.row
            where m.campaign = $campaign and m.version = {int(version)}"""
        )
    old = ", ".join(str(int(v)) for v, t in versions if t is None)
    if old:  # rows left under versions that kept no contact columns
        parts.append(
            f"""
            select m.* exclude (campaign), false as {_KEPT} from messages m
            where m.campaign = $campaign and m.version in ({old})"""
        )
    query = " union all by name ".join(parts)
    order = "".join(f"{_quoted(c)}, " for c in names)
    exclude = f" exclude ({order.removesuffix(', ')})" if names else ""
    return f"select {order}*{exclude} from ({query}) order by version, row", names


def _condition(where: str) -> tuple[str, str]:
    """The SQL condition of ``where`` and how to say what it selects."""
    if not isinstance(where, str) or not where.strip():
        raise StoreError(
            f"where={where!r}: give {', '.join(map(repr, WHERE))} or an SQL condition on "
            f"the messages view, e.g. \"state = 'failed' or dlr_class = 'failed'\"."
        )
    named = WHERE.get(where.strip().lower())
    return (named, f"{where.strip()} ({named})") if named else (where, where)


def follow_up(
    store: Store, campaign: str, name: str, where: str, template: str | None = None
) -> Campaign:
    """See :meth:`Store.follow_up`."""
    from .campaign import Campaign

    condition, said = _condition(where)
    if isinstance(name, str) and name.strip() == campaign:
        raise PlanError(
            f"A follow-up needs a name of its own: {name!r} is the campaign it follows."
        )
    con = store.connection
    # Run again under its name, a follow-up resumes its own plan: the reports imported
    # since may have changed what ``where`` selects, not whom it was planned for.
    source = campaign if _earlier_follow_up(store, campaign, name) is None else name
    query, columns = recipients(con, source)
    if not columns:
        raise StoreError(
            f"Campaign {source!r} was planned by an older isms_campaigns (or is a test "
            f"send), which kept no contact columns: plan the follow-up from your contact "
            f"list with ic.Campaign(…), keeping the numbers that "
            f'store.sql("select dstno from messages where campaign = ? and …", '
            f"[{source!r}]) returns."
        )
    if source == campaign:  # a new follow-up: whom ``where`` selects
        if condition == WHERE["no_dlr"]:
            _refuse_scheduled(store, campaign)
        try:
            # Checked alone first, so that an error names the user's SQL, not ours.
            con.sql(
                f"select * from ({query}) where ({condition}) limit 0", params={"campaign": source}
            )
        except duckdb.Error as exc:
            raise StoreError(
                f"where={where!r} is not a condition on the messages of {campaign!r}: "
                f"{first_line(exc)}. Use {', '.join(map(repr, WHERE))} or an SQL condition on "
                f"the messages view's columns and the kept contact columns {list(columns)}."
            ) from None
        # A row skipped as a duplicate is not a recipient: its number's first row is.
        query = (
            f"select * from ({query}) where ({condition}) "
            f"and problem is distinct from '{DUPLICATE}'"
        )
    chosen = pl.DataFrame(con.sql(query, params={"campaign": source}).pl())
    if chosen.is_empty():
        raise StoreError(
            f"No message of {campaign!r} is {said}: nothing to follow up. Its messages: "
            f"{_states(store, campaign)}. Import the latest delivery reports first "
            f"(store.import_dlr), or choose other recipients with where=…."
        )
    if not chosen[_KEPT].all():
        lost = int((~chosen[_KEPT]).sum())
        raise StoreError(
            f"{lost:,} of the {chosen.height:,} recipients chosen in {campaign!r} were planned "
            f"by an older isms_campaigns that did not keep their contact columns: narrow "
            f"where=… to the others, or plan them from your contact list."
        )
    settings = json.loads(
        store.sql(
            "select p.settings from ic_plans p join ic_campaigns c "
            "on c.campaign = p.campaign and c.version = p.version where c.campaign = ?",
            [source],
        ).item()
        or "null"
    )
    if settings is None:
        raise StoreError(
            f"The current plan of {campaign!r} was saved by an older isms_campaigns without "
            f"its settings: plan the follow-up with ic.Campaign(…) from your contact list."
        )
    contacts = chosen.select(list(columns)).rename(columns)
    overrides: dict[str, Any] = {"store": store}
    if template is not None:  # the new text for every row, whatever the first's column
        overrides |= {"template": template, "template_column": None}
    try:
        follow = Campaign.from_settings(name, contacts, settings, **overrides)
    except TemplateError as exc:
        raise TemplateError(
            f"{exc} The plan of {campaign!r} kept only the contact columns its template read "
            f"({', '.join(contacts.columns)}): a follow-up's template can read those."
        ) from None
    follow.parent = campaign
    return follow


def _earlier_follow_up(store: Store, campaign: str, name: str) -> str | None:
    """``name`` when it is already a follow-up of ``campaign`` in the store (None when it
    is not a campaign yet); a campaign of that name that is not one is an error."""
    found = store.sql("select parent from ic_campaigns where campaign = ?", [name])
    if found.is_empty():
        return None
    parent = found.item()
    if parent != campaign:
        raise StoreError(
            f"{name!r} is already a campaign in this store ("
            + (f"a follow-up of {parent!r}" if parent else "not a follow-up")
            + f"): give the follow-up of {campaign!r} a name of its own."
        )
    return name


def _refuse_scheduled(store: Store, campaign: str) -> None:
    """No report can come for messages the gateway holds until their time: following
    them up as "no_dlr" would send each one twice."""
    send_later = store.sql(
        "select send_later from ic_campaigns where campaign = ?", [campaign]
    ).item()
    if send_later is None:
        return
    when = stored_send_later(send_later)
    if when > schedule.now():
        raise StoreError(
            f"The messages of {campaign!r} are scheduled for {shown(when)}: the gateway holds "
            f"them until then, so none has a delivery report yet. A no_dlr follow-up now "
            f"would message each recipient twice; import the reports after that time."
        )


def _states(store: Store, campaign: str) -> str:
    counts = store.sql(
        """
        select case when state <> 'submitted' then state
                    when dlr_class is null then 'no_dlr'
                    when dlr_class = 'failed' then 'undelivered'
                    when dlr_class = 'unknown' then 'other DLR'
                    else dlr_class end as what,
               count(*) as n
        from messages where campaign = ? group by all order by n desc, what
        """,
        [campaign],
    )
    return ", ".join(f"{what} {n:,}" for what, n in counts.iter_rows()) or "none"


def export(store: Store, campaign: str, path: str | Path) -> Path:
    """See :meth:`Store.export`."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in EXPORT_FORMATS:
        raise StoreError(
            f"Cannot export to {str(target)!r}: end the file name with "
            f"{', '.join(EXPORT_FORMATS)} (the format written)."
        )
    if target.is_dir():
        raise StoreError(f"{str(target)!r} is a folder: give a file name, e.g. {target / 'x.csv'}.")
    # A cursor of its own: its time zone (the times written) is not the caller's.
    con = store.connection.cursor()
    try:
        query, names = recipients(con, campaign)
        con.execute(f"set TimeZone = '{TIME_ZONE}'")
        # The kept variant is the messages view's own column: once is enough.
        hidden = [_KEPT, *(_quoted(n) for n, f in names.items() if f == "variant" and n != f)]
        shown = f"select * exclude ({', '.join(hidden)}) from ({query})"
        with _written(target) as temporary:
            if suffix == ".xlsx":
                _write_excel(con, shown, campaign, temporary, target)
            else:
                kind = "csv" if suffix == ".csv" else "parquet"
                path = temporary.replace("'", "''")  # an SQL string: o'brien/x.csv
                con.execute(f"copy ({shown}) to '{path}' (format {kind})", {"campaign": campaign})
    except duckdb.Error as exc:
        raise StoreError(
            f"Cannot export {campaign!r} to {str(target)!r}: {first_line(exc)}"
        ) from None
    finally:
        con.close()
    return target


def _write_excel(
    con: duckdb.DuckDBPyConnection, query: str, campaign: str, temporary: str, target: Path
) -> None:
    rows = con.execute(f"select count(*) from ({query})", {"campaign": campaign}).fetchall()[0][0]
    if rows >= EXCEL_ROWS:
        raise StoreError(
            f"Cannot export {campaign!r} to {str(target)!r}: it has {rows:,} messages and an "
            f"Excel sheet holds {EXCEL_ROWS - 1:,}: export to .csv or .parquet instead."
        )
    frame = pl.DataFrame(con.sql(query, params={"campaign": campaign}).pl())
    # Excel has no time zones: the times are Malaysian wall-clock times.
    frame = frame.with_columns(
        cs.datetime(time_zone="*").dt.convert_time_zone(TIME_ZONE).dt.replace_time_zone(None)
    )
    frame.write_excel(temporary, worksheet="messages", autofit=True)


@contextmanager
def _written(target: Path) -> Iterator[str]:
    """A file name next to ``target`` that becomes it only once all was written.

    The writer creates it, so it gets the permissions any new file of the user
    gets (a ``mkstemp`` file would be readable by its owner only).
    """
    name = str(target.parent / f".{target.stem}.{uuid.uuid4().hex}{target.suffix}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        yield name
        os.replace(name, target)
    except OSError as exc:
        raise StoreError(f"Cannot write {str(target)!r}: {exc.strerror or exc}.") from None
    finally:
        with suppress(OSError):  # written and renamed, or never made
            os.unlink(name)
