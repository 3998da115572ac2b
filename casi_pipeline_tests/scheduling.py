"""How xdist hands out the modules (pyproject's `--dist loadfile`): each module whole on one worker, as xdist does,
but one worker is kept for the modules that mostly wait until they are done.

The UI module spends most of its time waiting on `dagster dev`'s daemon (its 30-s backfill pass, runs started as
processes of their own, the sensors' ticks). On a worker of its own it waits while the other workers keep both cores
busy; that worker then takes the other modules like the rest.
"""

from __future__ import annotations

from pathlib import Path

from xdist.scheduler import LoadFileScheduling

WAITING = ("test_ui.py",)


class WaitingLaneScheduling(LoadFileScheduling):
    """xdist's loadfile scheduling, where the last worker starts with the WAITING modules, the others take those
    only when nothing else is left, and a worker is given its next module at the last test of the one before."""

    def _lane(self):
        return self.nodes[-1]

    def _assign_work_unit(self, node) -> None:
        waiting = [scope for scope in self.workqueue if Path(scope).name in WAITING]
        others = [scope for scope in self.workqueue if scope not in waiting]
        preferred, fallback = (waiting, others) if node is self._lane() else (others, waiting)
        scope = (preferred or fallback)[0]
        work_unit = self.workqueue.pop(scope)
        self.assigned_work.setdefault(node, {})[scope] = work_unit
        collection = self.registered_collections[node]
        node.send_runtest_some([collection.index(nodeid) for nodeid, done in work_unit.items() if not done])

    def _reschedule(self, node) -> None:
        # xdist hands a worker its next module while two of its tests are still to run, so the modules pile up on
        # busy workers. Here a worker gets it at its last test (a worker runs its last test only once it knows
        # what comes next, more tests or shutdown).
        if self.workqueue and self._pending_of(self.assigned_work[node]) > 1:
            return
        super()._reschedule(node)


def make_scheduler(config, log):
    """The scheduler for `--dist loadfile` on several workers; None leaves every other case to xdist."""
    if config.getvalue("dist") != "loadfile":
        return None
    return WaitingLaneScheduling(config, log)
