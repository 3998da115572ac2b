"""Start a command (`dagster dev ...`) so that SIGINT to its process id stops it cleanly.

Started from a non-interactive background job, a process inherits an ignored SIGINT, and `dagster dev` then never
stops on INT or TERM; so restore the default handlers, and start a session of its own (its process group holds
the webserver, the daemon and the runs they launch). Usage: python casi_pipeline_tests/ui_launcher.py dagster dev ...
"""

import os
import signal
import sys

if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.setsid()
    os.execvp(sys.argv[1], sys.argv[1:])
