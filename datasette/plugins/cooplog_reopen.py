"""The site heals when the database is rebuilt under it: a database file deleted, replaced
or damaged while `serve` runs is built anew by the watcher, at the same path, and every
read connection still open on the old file is reopened on the new one
(`cooplog.site_support.reopen_when_replaced`)."""

from datasette import hookimpl

from cooplog.site_support import reopen_when_replaced


@hookimpl
def startup(datasette):
    for database in datasette.databases.values():
        if not database.is_memory:
            reopen_when_replaced(datasette, database)
