"""The projection's bookkeeping out of sight on Datasette's pages: every table whose name
starts with `_` (DESIGN: bookkeeping, left out of the contract) is hidden, as metadata's
`hidden: true` hides a table, including any the projection adds later. Hidden is not
closed: their pages still answer, for the audit."""

from datasette import hookimpl


@hookimpl
def startup(datasette):
    for database in datasette.databases.values():
        hide_bookkeeping(database)


def hide_bookkeeping(database) -> None:
    listed = database.hidden_table_names

    async def hidden_table_names():
        bookkeeping = [name for name in await database.table_names() if name.startswith("_")]
        return sorted(set(await listed()) | set(bookkeeping))

    database.hidden_table_names = hidden_table_names
