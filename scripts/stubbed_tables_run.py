"""``semcom-sim`` with every nr BLER table replaced by a step: for timing and memory only.

Run: SEMCOM_SIM_CACHE=/some/scratch python scripts/stubbed_tables_run.py run SCENARIO [options]

The nr link's abstraction costs the same whatever its tables say (it reads one value per block), so
a run whose tables are not built yet (the long code blocks of the media scheme's audio: about 30
minutes each on a 2-core CPU) can be timed with each table a step: BLER 1 up to 1 dB above the code
block's capacity SNR, 0 from 1.25 dB. Its accuracy columns mean nothing. The stubs are cached like
real tables, under the same keys: point ``SEMCOM_SIM_CACHE`` at a folder of its own (the script
refuses to run without it), so that no stub ever reaches a real run. Used for the cost figures in
docs/guide/media.md.
"""
import math
import os
import sys

import semcom_sim.links.nr_abstraction as tables
from semcom_sim.cli import main


def step(qm: int, cb_size: int, cb_coded_bits: int, iterations: int) -> dict:
    capacity_db = 10.0 * math.log10(2.0 ** (qm * cb_size / cb_coded_bits) - 1.0)
    return {"snr_db": [capacity_db, capacity_db + 1.0, capacity_db + 1.25], "bler": [1.0, 1.0, 0.0]}


if __name__ == "__main__":
    if not os.environ.get("SEMCOM_SIM_CACHE"):
        sys.exit("stubbed_tables_run.py: set SEMCOM_SIM_CACHE to a scratch folder: the stub tables are cached "
                 "under the real tables' keys")
    tables._simulate_table = step
    main(sys.argv[1:])
