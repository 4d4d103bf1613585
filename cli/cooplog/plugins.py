"""Other projects' Datasette plugins registered again with a change, for the modules in
`datasette/plugins/` (which Datasette loads by path, so they cannot import one another)."""

from __future__ import annotations

import types


def register_again(plugin: types.ModuleType, without: tuple[str, ...] = (), **hooks) -> None:
    """Register `plugin` again under its name, without the hooks named in `without` and with
    `hooks` in place of its own. Done once per process: Datasette imports the modules of
    `datasette/plugins/` anew for every instance it builds, and a plugin already changed is
    no longer registered under its own module."""
    from datasette.plugins import pm

    name = pm.get_name(plugin)
    if name is None:  # done already, or not installed as a plugin
        return
    pm.unregister(plugin)
    changed = types.ModuleType(plugin.__name__, plugin.__doc__)
    vars(changed).update({k: v for k, v in vars(plugin).items() if k not in without}, **hooks)
    pm.register(changed, name=name)
