"""Reusing a test's PostgreSQL database for the next test, when it is safe.

Creating a database from the migrated template costs PostgreSQL about 0.3–0.7 s of CPU (it
writes a file for every table, index and sequence), and a suite of a thousand database tests
makes a thousand. Most tests only add rows: emptying their tables, putting back the rows the
migrations seeded and setting the sequences back gives the next test the same database as a
fresh copy, in a few milliseconds.

"Only added rows" is checked, not assumed: a fingerprint of the database's own objects (every
relation and its file, column, constraint, index, trigger and its enabled state, partition,
function, type, rule, policy, extension and database setting) is compared with the
template's. A test that changed any of them (a migration test, a partition attached or
detached, a trigger left disabled) gets its database dropped, as before. So does one whose
database someone is still connected to after the test's connections were ended.

The emptied database takes a new name before it is handed out again, so that a thread of an
earlier test that reconnects by the old name finds nothing."""

from __future__ import annotations

import io

import psycopg
from psycopg import sql

# Objects created after initdb have oids from 16384 (FirstNormalObjectId) up.
FINGERPRINT = """
SELECT md5(string_agg(x, ',' ORDER BY x)) FROM (
  SELECT concat_ws(':', 'c', oid, relname, relnamespace, relfilenode, relkind, relnatts,
                   relispartition, relrowsecurity, relhastriggers, relpersistence) AS x
    FROM pg_class WHERE oid >= 16384
  UNION ALL SELECT concat_ws(':', 'a', attrelid, attnum, attname, atttypid, attnotnull,
                             atthasdef, attisdropped, attidentity, attgenerated)
    FROM pg_attribute WHERE attrelid >= 16384
  UNION ALL SELECT concat_ws(':', 't', oid, tgname, tgenabled) FROM pg_trigger
    WHERE oid >= 16384
  UNION ALL SELECT concat_ws(':', 'k', oid, conname, convalidated) FROM pg_constraint
    WHERE oid >= 16384
  UNION ALL SELECT concat_ws(':', 'i', indexrelid, indisvalid, indisready) FROM pg_index
    WHERE indexrelid >= 16384
  UNION ALL SELECT concat_ws(':', 'h', inhrelid, inhparent) FROM pg_inherits
  UNION ALL SELECT concat_ws(':', 'd', oid) FROM pg_attrdef WHERE oid >= 16384
  UNION ALL SELECT concat_ws(':', 'p', oid, proname) FROM pg_proc WHERE oid >= 16384
  UNION ALL SELECT concat_ws(':', 'y', oid, typname) FROM pg_type WHERE oid >= 16384
  UNION ALL SELECT concat_ws(':', 'n', oid, nspname) FROM pg_namespace WHERE oid >= 16384
  UNION ALL SELECT concat_ws(':', 'r', oid, rulename) FROM pg_rewrite WHERE oid >= 16384
  UNION ALL SELECT concat_ws(':', 'o', oid) FROM pg_policy
  UNION ALL SELECT concat_ws(':', 'e', oid, extname, extversion) FROM pg_extension
  UNION ALL SELECT concat_ws(':', 'l', oid) FROM pg_largeobject_metadata
  UNION ALL SELECT concat_ws(':', 's', setrole, array_to_string(setconfig, ';'))
    FROM pg_db_role_setting WHERE setdatabase = (SELECT oid FROM pg_database
                                                 WHERE datname = current_database())
) AS objects
"""

# The tables to empty: ordinary and partitioned tables outside the system schemas (a
# partition is emptied through its parent).
TABLES = """
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.oid >= 16384
   AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
 ORDER BY 1, 2
"""

SEQUENCES = "SELECT schemaname, sequencename, start_value, last_value FROM pg_sequences"


class Recycler:
    def __init__(self, conninfo_for):
        self.conninfo_for = conninfo_for  # database name -> libpq connection string
        self.fingerprint = ""
        self.tables: list[sql.Composable] = []
        self.seeds: list[tuple[sql.Composable, bytes]] = []
        self.sequences: list[tuple[str, str, int, int | None]] = []

    def learn(self, template: str) -> None:
        """What a fresh copy of `template` holds."""
        with psycopg.connect(self.conninfo_for(template)) as conn:
            self.fingerprint = conn.execute(FINGERPRINT).fetchone()[0]
            self.tables = [sql.Identifier(s, t) for s, t in conn.execute(TABLES).fetchall()]
            for table in self.tables:
                if conn.execute(sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(table)
                                ).fetchone()[0]:
                    out = io.BytesIO()
                    with conn.cursor().copy(sql.SQL("COPY {} TO STDOUT").format(table)) as copy:
                        for chunk in copy:
                            out.write(chunk)
                    self.seeds.append((table, out.getvalue()))
            self.sequences = conn.execute(SEQUENCES).fetchall()

    def reset(self, name: str) -> bool:
        """Empty `name` back to the template's rows, if nothing else about it changed and no
        one is connected to it. True when it was."""
        with psycopg.connect(self.conninfo_for(name)) as conn:
            others = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                  "current_database() AND pid <> pg_backend_pid()").fetchone()[0]
            if others or conn.execute(FINGERPRINT).fetchone()[0] != self.fingerprint:
                return False
            with conn.transaction():
                # Foreign keys and the log's append-only triggers are triggers: not fired in
                # the replica role (superuser only, as the test role is).
                conn.execute("SET LOCAL session_replication_role = replica")
                for table in self.tables:
                    conn.execute(sql.SQL("DELETE FROM {}").format(table))
                for table, rows in self.seeds:
                    with conn.cursor().copy(sql.SQL("COPY {} FROM STDIN").format(table)) as copy:
                        copy.write(rows)
                for schema, name_, start, last in self.sequences:
                    conn.execute("SELECT setval(%s, %s, %s)",
                                 (sql.Identifier(schema, name_).as_string(conn),
                                  start if last is None else last, last is not None))
            return True
