"""``semcom-sim`` with every nr BLER table replaced by a step: for timing and memory only.

Run: python scripts/stubbed_tables_run.py run SCENARIO [options]

The nr link's abstraction costs the same whatever its tables say (it reads one value per block), so
a run whose tables are not built yet (the long code blocks of the media scheme's audio: about an
hour each on a 2-core CPU) can be timed with each table a step: BLER 1 up to 0.25 dB above the
code block's capacity SNR, 0 from 0.5 dB. Its accuracy columns mean nothing. The stubs replace the
link's table lookup itself, so they are never cached and no real run ever reads one. On exit it
prints the tables the run read (Qm, code-block size, coded bits, iterations), the list
``scripts/build_bler_tables.py`` takes (how the shipped tables' codes were found); with link
adaptation the bisection visits tables by their values, so that list may differ from a real run's.
"""
import atexit
import math
import sys

import semcom_sim.links.nr as nr
from semcom_sim.cli import main
from semcom_sim.links.nr_abstraction import BlerTable


READ: dict[tuple[int, int, int, int], None] = {}


def step(qm: int, cb_size: int, cb_coded_bits: int, iterations: int) -> BlerTable:
    READ[(qm, cb_size, cb_coded_bits, iterations)] = None
    capacity_db = 10.0 * math.log10(2.0 ** (qm * cb_size / cb_coded_bits) - 1.0)
    return BlerTable([capacity_db, capacity_db + 0.25, capacity_db + 0.5], [1.0, 1.0, 0.0])


if __name__ == "__main__":
    nr.bler_table = step
    atexit.register(lambda: print("stubbed tables:", " ".join(f"{q},{k},{n},{it}" for q, k, n, it in READ),
                                  file=sys.stderr))
    main(sys.argv[1:])
