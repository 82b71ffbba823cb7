"""nova's databases by nova-manage's own commands, in one process.

``python -m scenarios.stack.novadb CONF CELL0_URL`` runs the steps of
``nova-manage api_db sync``, ``cell_v2 map_cell0``, ``cell_v2 create_cell
--name cell1`` and ``db sync`` (nova's documented order) with nova-manage's
command classes in one interpreter: each ``nova-manage`` run costs a nova
import (~15 s on a loaded 2-core machine).
Exit status: 0, or the failing command's own.
"""

from __future__ import annotations

import sys

__all__ = ["main"]


def main(conf_file: str, cell0_url: str) -> int:
    from nova.cmd import manage  # first: it sets up (or forbids) eventlet before anything
    import nova.config
    from nova import objects

    nova.config.parse_args(["nova-manage"], default_config_files=[conf_file])
    objects.register_all()
    cells = manage.CellV2Commands()
    for name, step in (("api_db sync", manage.ApiDbCommands().sync),
                       ("cell_v2 map_cell0", lambda: cells.map_cell0(cell0_url)),
                       ("cell_v2 create_cell", lambda: cells.create_cell(name="cell1")),
                       ("db sync", manage.DbCommands().sync)):
        status = step()
        if status:
            print(f"nova-manage {name} failed ({status})", file=sys.stderr)
            return status
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
