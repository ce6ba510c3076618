"""The benchmarks, each run as ``python -m benchmarks.<name>``.

Importing the package makes SIGTERM leave a benchmark through its ``with`` and ``finally`` blocks
(:func:`launchers.child_process.exit_on_sigterm`), so a stopped benchmark leaves none of the
processes it started (Triton and its backend stubs, ``tandem serve``, workers, moto) nor their
shared memory.
"""

from launchers.child_process import exit_on_sigterm

exit_on_sigterm()
