"""The history store on PostgreSQL (the fleet setup): the same paging, date-range and reply
thread tests as on SQLite; the reply_thread trigger is PL/pgSQL there. Skipped, with the
reason, when no PostgreSQL server binaries are installed."""

from __future__ import annotations

import peewee

import tests.store.test_history as on_sqlite

pytest_plugins = ["tests.store.pg_server"]  # the server and database fixtures


def test_pages_cover_every_row_once(pg_db: peewee.Database):
    on_sqlite.test_pages_walked_back_and_forth_cover_every_row_once(pg_db)


def test_a_date_range_lists_exactly_its_rows(pg_db: peewee.Database):
    on_sqlite.test_a_date_range_lists_exactly_the_rows_stamped_inside_it(pg_db)


def test_filters_with_user_and_campaign(pg_db: peewee.Database):
    on_sqlite.test_user_and_campaign_filters_also_with_the_others(pg_db)


def test_threads_follow_inbound_messages_through_the_trigger(pg_db: peewee.Database):
    on_sqlite.test_threads_follow_inbound_messages_with_unread_counts(pg_db)
