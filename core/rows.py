"""A fixed-shape read of one model and the rows its foreign keys name, as ``select_related``
gives it, from a statement built once from the models' metadata.

The approve command locks its expense with the employee, their user, the cost centre and the
category in one statement. Through the ORM, building that query and its five instances costs
three times the statement itself (``bench/profile_approve.py --phases``: compiling the query
alone is longer than running it). The statement never changes shape, so it is built once; each
call only binds its values, runs it and makes the instances with ``Model.from_db`` and the
fields' own database converters, which is what the ORM does with the row.
``expenses/tests/test_command_reads.py`` proves the instances equal the ORM's, field for field.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Model, signals
from django.db.models.base import ModelState
from django.db.models.fields.files import FileDescriptor
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query_utils import DeferredAttribute

from . import prepared


@dataclass(frozen=True)
class _Part:
    model: type[Model]
    parent: int | None  # index of the part whose relation names this row
    field: Any  # that relation: a foreign key or one-to-one field, or a reverse one-to-one (None for the base)
    outer: bool  # joined with LEFT JOIN: the row may be absent (a nullable key, a reverse one-to-one)
    alias: str
    start: int  # its first column in the row
    names: tuple[str, ...]
    pk_index: int  # the primary key's column within the part (None there: an absent outer row)
    converters: tuple[tuple[int, tuple], ...]  # (column within the part, (its expression, its converters))
    plain: bool  # made without Model.__init__ (``_plain_init``)


class JoinedRead:
    """``model.objects.select_related(*paths).filter(<where> = %s, ...)``, optionally
    ``select_for_update(of=lock_of)``, as one statement built once. ``paths`` are
    ``select_related`` paths (``"employee__user"`` also joins ``"employee"``): foreign keys and
    one-to-one fields either way; a nullable key or a reverse one-to-one is an outer join, and
    an absent row is None, cached as ``select_related`` caches it. ``where``: the base model's
    field names (``"pk"`` too), compared for equality in order; ``lock_of``: the paths whose
    rows are locked (``"self"`` for the base row), in the order PostgreSQL takes the locks;
    ``extra``: ``(attribute, SQL expression)`` pairs, each set on the base instance as an
    ``annotate`` would (``t0`` names the base table; their ``%s`` come first in ``get``);
    ``condition``: more SQL ANDed to the equalities (its ``%s`` come after theirs); ``order_by``:
    the SQL of an ORDER BY, for ``all`` (its ``%s`` come last); ``limit``: at most that many rows
    (after the order). Each part's alias is ``t<n>`` in ``paths`` order (``t0``
    the base, then each path's rows as they are first named)."""

    def __init__(self, model: type[Model], paths: tuple[str, ...], *, where: tuple[str, ...],
                 lock_of: tuple[str, ...] = (), extra: tuple[tuple[str, str], ...] = (),
                 condition: str = "", order_by: str = "", limit: int | None = None) -> None:
        self.model, self.paths, self.where, self.lock_of, self.extra = model, paths, where, lock_of, extra
        self.condition, self.order_by, self.limit = condition, order_by, limit
        self._built: tuple[str, tuple[_Part, ...]] | None = None

    def _build(self) -> tuple[str, tuple[_Part, ...]]:
        q = connection.ops.quote_name
        parts: list[_Part] = []
        by_path: dict[str, int] = {}
        joins: list[str] = []

        def add(model, parent, field, path):
            alias = f"t{len(parts)}"
            start = sum(len(p.names) for p in parts)
            concrete = model._meta.concrete_fields
            converters = []
            for i, f in enumerate(concrete):
                column = f.get_col(alias)
                found = tuple(connection.ops.get_db_converters(column) + column.get_db_converters(connection))
                if found:
                    converters.append((i, (column, found)))
            outer = False
            if field is not None:
                up = parts[parent]
                if field.concrete:  # a foreign key or one-to-one field of the parent
                    outer = up.outer or field.null
                    condition = (f"{alias}.{q(field.target_field.column)} = {up.alias}.{q(field.column)}")
                else:  # a reverse one-to-one: the child's key names the parent
                    outer = True
                    condition = (f"{alias}.{q(field.field.column)} = "
                                 f"{up.alias}.{q(field.field.target_field.column)}")
                joins.append(f"{'LEFT JOIN' if outer else 'JOIN'} {q(model._meta.db_table)} {alias} ON {condition}")
            names = tuple(f.attname for f in concrete)
            parts.append(_Part(model, parent, field, outer, alias, start, names,
                               names.index(model._meta.pk.attname), tuple(converters), _plain_init(model)))
            by_path[path] = len(parts) - 1

        add(self.model, None, None, "self")
        for path in self.paths:
            names = path.split("__")
            for depth in range(1, len(names) + 1):
                sub = "__".join(names[:depth])
                if sub in by_path:
                    continue
                parent = by_path["__".join(names[:depth - 1]) or "self"]
                field = parts[parent].model._meta.get_field(names[depth - 1])
                if not (field.many_to_one or field.one_to_one):
                    raise ValueError(f"{sub}: only single-valued relations can be joined")
                add(field.related_model, parent, field, sub)
        columns = ", ".join([f"{p.alias}.{q(f.column)}" for p in parts for f in p.model._meta.concrete_fields]
                            + [f"({expression})" for _, expression in self.extra])
        meta = self.model._meta
        where = " AND ".join(f"t0.{q((meta.pk if name == 'pk' else meta.get_field(name)).column)} = %s"
                             for name in self.where)
        if self.condition:
            where = f"{where} AND ({self.condition})"
        sql = f"SELECT {columns} FROM {q(self.model._meta.db_table)} t0 {' '.join(joins)} WHERE {where}"
        if self.order_by:
            sql += f" ORDER BY {self.order_by}"
        if self.limit is not None:
            sql += f" LIMIT {int(self.limit)}"
        if self.lock_of:
            sql += " FOR UPDATE OF " + ", ".join(parts[by_path[path]].alias for path in self.lock_of)
        return sql, tuple(parts)

    def get(self, *values: Any) -> Model | None:
        """The base instance with its related ones cached (``instance.employee.user`` reads
        nothing more), or None when no row matches. ``values`` in ``where``'s order, already of
        the columns' types (a malformed UUID must be refused before: the database would abort
        the transaction)."""
        sql, parts = self._statement()
        with prepared.cursor() as cursor:
            cursor.execute(sql, values)
            row = cursor.fetchone()
        return None if row is None else self._instances(parts, row, connections[DEFAULT_DB_ALIAS])

    def all(self, *values: Any) -> list[Model]:
        """Every matching row as ``get`` gives one, in ``order_by``'s order."""
        sql, parts = self._statement()
        with prepared.cursor() as cursor:
            cursor.execute(sql, values)
            rows = cursor.fetchall()
        # the connection looked up once: each ``connection.x`` goes through the proxy's lookup of
        # the thread's connection, and a queue of 20 rows made a hundred instances
        db = connections[DEFAULT_DB_ALIAS]
        return [self._instances(parts, row, db) for row in rows]

    def sql(self) -> str:
        """The statement, to run inside another (``from_row`` then reads its columns)."""
        return self._statement()[0]

    def from_row(self, row: tuple) -> Model | None:
        """``get``'s instance from ``row``, this statement's columns (read as part of another
        statement), or None where the row was absent (an outer join that found none: its
        primary key is null)."""
        parts = self._statement()[1]
        if row[parts[0].start + parts[0].pk_index] is None:
            return None
        return self._instances(parts, row, connections[DEFAULT_DB_ALIAS])

    def _statement(self) -> tuple[str, tuple[_Part, ...]]:
        if self._built is None:
            self._built = self._build()
        return self._built

    def _instances(self, parts: tuple[_Part, ...], row: tuple, db) -> Model:
        instances: list[Model | None] = []
        for part in parts:
            parent = instances[part.parent] if part.parent is not None else None
            values_of = list(row[part.start:part.start + len(part.names)])
            if part.outer and values_of[part.pk_index] is None:
                instance = None  # no such row (and no row below it)
            else:
                for i, (column, converters) in part.converters:
                    for converter in converters:
                        values_of[i] = converter(values_of[i], column, db)
                instance = (_made(part.model, part.names, values_of, db.alias) if part.plain
                            else part.model.from_db(db.alias, part.names, values_of))
            if part.field is not None and parent is not None:
                part.field.set_cached_value(parent, instance)  # what select_related caches, None too
                if instance is not None and part.field.one_to_one:  # and the other side of a one-to-one
                    (part.field.field if not part.field.concrete else part.field.remote_field).set_cached_value(
                        instance, parent)
            instances.append(instance)
        base = instances[0]
        for (name, _), value in zip(self.extra, row[len(row) - len(self.extra):], strict=True):
            setattr(base, name, value)
        return base


# The attribute types of fields whose value ``Model.__init__`` simply stores in the instance's
# ``__dict__`` under the field's attname (a foreign key's and a file's only also drop a cached
# object or wrap the value later, which a new instance has not and does on access).
_STORED = (DeferredAttribute, ForeignKeyDeferredAttribute, FileDescriptor)


def _plain_init(model: type[Model]) -> bool:
    """``Model.from_db`` for ``model`` only stores each column under its attname and marks the
    instance as loaded: no ``__init__`` or ``from_db`` of its own, no receiver of ``pre_init`` or
    ``post_init`` (an image field's dimensions, a generic relation), and every field's attribute
    one that stores what it is given (``_STORED``, exactly: an image's descriptor also measures).
    Asked once, when the statement is built: a receiver connected later (apps connect theirs when
    they are ready, before any request) would not be seen."""
    if model.__init__ is not Model.__init__ or model.from_db.__func__ is not Model.from_db.__func__:
        return False
    if signals.pre_init.has_listeners(model) or signals.post_init.has_listeners(model):
        return False
    return all(type(inspect.getattr_static(model, f.attname, None)) in _STORED for f in model._meta.concrete_fields)


def _made(model: type[Model], names: tuple[str, ...], values: list, alias: str = DEFAULT_DB_ALIAS) -> Model:
    """What ``model.from_db(connection.alias, names, values)`` makes for a ``_plain_init`` model,
    without ``Model.__init__``'s per-field work: 6.2 against 1.4 us for an expense (timeit), and
    the approval queue makes a hundred instances a read. ``tests/test_joined_rows.py`` proves the
    two instances equal, attribute for attribute."""
    instance = model.__new__(model)
    instance.__dict__.update(zip(names, values, strict=True))
    state = ModelState()
    state.adding, state.db = False, alias
    instance._state = state
    return instance
