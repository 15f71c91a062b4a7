"""What storing a trial costs the database writer thread, by how many trials share a commit.

A busy server finishes trials at dozens a second. Each commit costs the writer a transaction's
set-up and (SQLite, ``synchronous=FULL``) a flush to disk, whatever it holds, so the server
gathers trials into few commits under load (``server/storage/gathered.py``). This measures the
writer's CPU and wall time per trial for commits of 1, 4, 10 and 40 trials, each with two range of
motion samples, on a fresh SQLite database (or ``--database-url``, migrated first).

    python bench/store_cost.py [--trials 400] [--database-url postgresql://...]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from games.base import Outcome, TrialResult
from games.events import Side
from scoring.trials import RomSample
from server.storage.database import migrate
from server.storage.store import Store, TrialWrite

BATCHES = (1, 4, 10, 40)


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def trial(index: int) -> TrialResult:
    return TrialResult(
        index=index, foot=Side.LEFT, direction="anterior", direction_deg=0.0, target_x_m=-0.1, target_y_m=0.3,
        target_distance_m=0.3, target_radius_m=0.1, outcome=Outcome.HIT, shown_at_s=1.0, ended_at_s=2.5,
        reaction_time_s=0.4, movement_time_s=0.6, placement_error_m=0.02, landing_x_m=-0.09, landing_y_m=0.31,
        foot_lift_m=0.06, difficulty={"step_distance_frac": 0.5, "target_radius_m": 0.1, "time_window_s": 3.0})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=400, help="trials stored per batch size")
    p.add_argument("--database-url", default="", help="default: SQLite in a temporary folder")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/store_cost.db"
        migrate(url)
        store = Store(url)
        clinic = store.ensure_clinic(f"store-cost-{time.time_ns()}")
        therapist = store.create_therapist(clinic, f"bench-{time.time_ns()}", "not a password hash")
        station = store.upsert_station(clinic, "bench-station", "not a token hash")
        patient = store.create_patient(clinic, therapist, "BENCH-1", "L", 0.9, None, "")
        session = store.start_session(patient.id, station, therapist, clinic, "stepping", {}, [])
        samples = [RomSample("L", "anterior", "step_reach_m", 0.3), RomSample("L", "anterior", "foot_lift_m", 0.05)]
        index = 0
        store.record_trials([TrialWrite(session, patient.id, trial(index), samples, [])])  # warm: statements compiled
        print(f"# {args.trials} trials per row, {url.split(':')[0]}; each trial with {len(samples)} ROM samples")
        print(f"{'trials per commit':>18} {'CPU us/trial':>13} {'wall us/trial':>14}")
        for batch in BATCHES:
            cpu0, wall0 = cpu_s(), time.perf_counter()
            for _ in range(args.trials // batch):
                writes = []
                for _ in range(batch):
                    index += 1
                    writes.append(TrialWrite(session, patient.id, trial(index), samples, []))
                store.record_trials(writes)
            n = args.trials // batch * batch
            print(f"{batch:>18} {(cpu_s() - cpu0) / n * 1e6:>13.0f} {(time.perf_counter() - wall0) / n * 1e6:>14.0f}")
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
