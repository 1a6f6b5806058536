"""Run by tests/test_quiet_flush.py as a pytest session of its own (the name keeps it out of
the suite): a test whose connection holds a lock when the test ends and asks for another once
the flush has begun, the deadlock that made the suite red at random, made certain."""

import threading

import psycopg
from django.db import connection

from tests.helpers import database_url, wait_until

HELD = "held-lock"


def truncate_waits_for(cursor, table: str) -> bool:
    cursor.execute(
        "SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
        " WHERE c.relname = %s AND NOT l.granted AND l.mode = 'AccessExclusiveLock'",
        [table],
    )
    return cursor.fetchone() is not None


def test_a_transaction_outlives_its_test(transactional_db, django_user_model):
    django_user_model.objects.create_user(username="held")
    # The flush truncates the tables in this order (the same call, in this same process).
    tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
    first, last = tables[0], tables[-1]
    holder = psycopg.connect(database_url(), application_name=HELD)
    holder.execute(f'SELECT count(*) FROM "{last}"')  # a read in an open transaction

    def ask_for_first():
        """Once the TRUNCATE waits for `last` it holds `first`: asking for it closes the
        circle. A flush that ends this connection first never gets here."""
        try:
            with holder.cursor() as cursor:
                wait_until(lambda: truncate_waits_for(cursor, last), timeout=60, interval=0.02)
                cursor.execute(f'SELECT count(*) FROM "{first}"')
            holder.commit()
        except psycopg.Error:
            pass  # ended by the flush's guard

    threading.Thread(target=ask_for_first, daemon=True).start()
