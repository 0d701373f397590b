"""Results as data (CSV/JSON), plots made from those files, progress on the console."""
from .progress import NullReporter, Reporter, RichReporter
from .results import RESULT_COLUMNS, read_results, write_results

__all__ = ["NullReporter", "Reporter", "RichReporter", "RESULT_COLUMNS", "read_results", "write_results"]
