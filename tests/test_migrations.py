"""Migrations: applied once, safe when run concurrently, and in Supabase mode add the auth
foreign key and row-level security that confines each user to their own rows."""

from __future__ import annotations

import threading
import uuid

import psycopg
import pytest

from core.settings import Settings
from db import migrate
from db.connection import connect, database_url

SEED_TABLES = [
    "profiles",
    "chatbots",
    "messages",
    "faqs",
    "data_sources",
    "connections",
    "workflows",
]


def test_seed_tables_keep_their_columns(pool: object, settings: Settings) -> None:
    contract = {
        "profiles": {"id", "name", "email", "subscription", "created_at"},
        "chatbots": {"id", "user_id", "name", "model", "settings", "created_at"},
        "messages": {"id", "chatbot_id", "role", "content", "created_at"},
        "faqs": {"id", "chatbot_id", "question", "answer"},
        "data_sources": {"id", "chatbot_id", "type", "path", "created_at"},
        "connections": {
            "id",
            "user_id",
            "chatbot_id",
            "platform",
            "credentials",
            "active",
            "created_at",
        },
        "workflows": {"id", "user_id", "chatbot_id", "name", "definition", "active", "created_at"},
    }
    with connect(database_url(settings)) as conn:
        for table, columns in contract.items():
            found = {
                r[0]
                for r in conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = %s",
                    (table,),
                )
            }
            assert columns <= found, f"{table} lost {columns - found}"


def test_upgrade_applies_each_migration_once(fresh_database: str) -> None:
    with connect(fresh_database, autocommit=True) as conn:
        first = migrate.upgrade(conn)
        second = migrate.upgrade(conn)
        versions = [r[0] for r in conn.execute("SELECT version FROM intaj_migrations ORDER BY 1")]
    assert [m.version for m in first] == [m.version for m in migrate.available()]
    assert second == []
    assert versions == [m.version for m in migrate.available()]


def test_concurrent_upgrades_do_not_collide(fresh_database: str) -> None:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with connect(fresh_database, autocommit=True) as conn:
                migrate.upgrade(conn)
        except BaseException as e:  # collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with connect(fresh_database) as conn:
        rows = conn.execute("SELECT version, count(*) FROM intaj_migrations GROUP BY 1").fetchall()
    assert all(n == 1 for _, n in rows) and len(rows) == len(migrate.available())


def test_plain_postgres_has_no_row_level_security(pool: object, settings: Settings) -> None:
    with connect(database_url(settings)) as conn:
        rls = conn.execute(
            "SELECT bool_or(relrowsecurity) FROM pg_class WHERE relname = ANY(%s)", (SEED_TABLES,)
        ).fetchone()
    assert rls == (False,)


def test_chatbot_deletion_cascades_to_everything_it_owns(fresh_database: str) -> None:
    with connect(fresh_database, autocommit=True) as conn:
        migrate.upgrade(conn)
        user = conn.execute("INSERT INTO profiles (email) VALUES ('a@x') RETURNING id").fetchone()
        bot = conn.execute(
            "INSERT INTO chatbots (user_id, name) VALUES (%s, 'b') RETURNING id", user
        ).fetchone()
        assert bot is not None
        conn.execute("INSERT INTO faqs (chatbot_id, question, answer) VALUES (%s, 'q', 'a')", bot)
        conn.execute(
            "INSERT INTO data_sources (chatbot_id, type, path) VALUES (%s, 'pdf', 'x')", bot
        )
        conn.execute(
            "INSERT INTO messages (chatbot_id, role, content) VALUES (%s, 'user', 'hi')", bot
        )
        conn.execute("DELETE FROM chatbots WHERE id = %s", bot)
        left = conn.execute(
            "SELECT (SELECT count(*) FROM faqs) + (SELECT count(*) FROM data_sources)"
            " + (SELECT count(*) FROM messages)"
        ).fetchone()
    assert left == (0,)


def test_check_constraints_refuse_unknown_values(fresh_database: str) -> None:
    with connect(fresh_database, autocommit=True) as conn:
        migrate.upgrade(conn)
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("INSERT INTO profiles (email, subscription) VALUES ('x@y', 'gold')")


SUPABASE_AUTH = """
CREATE SCHEMA auth;
CREATE TABLE auth.users (id uuid PRIMARY KEY);
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS
  $$ SELECT nullif(current_setting('request.jwt.claims', true)::json->>'sub', '')::uuid $$;
CREATE ROLE authenticated NOLOGIN;
"""


def test_supabase_mode_adds_auth_key_and_row_level_security(fresh_database: str) -> None:
    alice, bob = str(uuid.uuid4()), str(uuid.uuid4())
    with connect(fresh_database, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'authenticated'").fetchone():
            conn.execute(SUPABASE_AUTH.replace("CREATE ROLE authenticated NOLOGIN;", ""))
        else:
            conn.execute(SUPABASE_AUTH)
        migrate.upgrade(conn)
        conn.execute("INSERT INTO auth.users (id) VALUES (%s), (%s)", (alice, bob))
        for user in (alice, bob):
            conn.execute("INSERT INTO profiles (id, email) VALUES (%s, %s)", (user, f"{user}@x"))
            conn.execute("INSERT INTO chatbots (user_id, name) VALUES (%s, 'bot')", (user,))
            conn.execute(  # K3: each user's API key for their chatbot
                "INSERT INTO connections (user_id, chatbot_id, platform, credentials)"
                " SELECT user_id, id, 'openai', '{\"sealed\": \"x\"}' FROM chatbots"
                " WHERE user_id = %s",
                (user,),
            )
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute("INSERT INTO profiles (id, email) VALUES (gen_random_uuid(), 'ghost@x')")
        conn.execute(
            "GRANT USAGE ON SCHEMA auth TO authenticated;"
            " GRANT SELECT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO authenticated"
        )
        with conn.transaction():
            conn.execute("SET LOCAL ROLE authenticated")
            conn.execute(
                "SELECT set_config('request.jwt.claims', %s, true)", (f'{{"sub": "{alice}"}}',)
            )
            owners = {r[0] for r in conn.execute("SELECT user_id::text FROM chatbots")}
            profiles = conn.execute("SELECT count(*) FROM profiles").fetchone()
            keys = {r[0] for r in conn.execute("SELECT user_id::text FROM connections")}
            touched = (
                conn.execute(  # K3: bob's key can be neither changed nor deleted
                    "UPDATE connections SET active = false WHERE user_id = %s", (bob,)
                ).rowcount
                + conn.execute("DELETE FROM connections WHERE user_id = %s", (bob,)).rowcount
            )
        bobs_key = conn.execute(
            "SELECT active FROM connections WHERE user_id = %s", (bob,)
        ).fetchone()
        rls = conn.execute(
            "SELECT bool_and(relrowsecurity AND relforcerowsecurity) FROM pg_class"
            " WHERE relname = ANY(%s) AND relnamespace = 'public'::regnamespace",
            ([*SEED_TABLES, "chunks", "ingestion_runs"],),
        ).fetchone()
        audit = conn.execute(  # T3: no permissive policy, no SECURITY DEFINER for end users
            "SELECT (SELECT count(*) FROM pg_policies WHERE schemaname = 'public'"
            "        AND (qual = 'true' OR with_check = 'true')),"
            "       (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            "        WHERE n.nspname = 'public' AND p.prosecdef"
            "        AND has_function_privilege('authenticated', p.oid, 'EXECUTE'))"
        ).fetchone()
    assert owners == {alice}
    assert profiles == (1,)
    assert keys == {alice}
    assert touched == 0 and bobs_key == (True,)
    assert rls == (True,)
    assert audit == (0, 0)
