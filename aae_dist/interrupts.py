"""Stopping on a signal without losing work: SIGTERM (what Slurm and Kubernetes send before a kill) and SIGINT
(Ctrl-C) set a flag; the training loop sees it between steps, writes a checkpoint and exits. A second Ctrl-C
ends the process at once."""

import signal
import threading


class StopRequests:
    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        self.signum = 0
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():  # Python delivers signals there only
            self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc):
        for s, handler in self._previous.items():
            signal.signal(s, handler)

    def _handle(self, signum, frame):
        if self.signum == signum == signal.SIGINT:  # Ctrl-C twice: stop now, the default way
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)
        # A repeated SIGTERM changes nothing: schedulers and launchers (torchrun forwards the job's SIGTERM to
        # its workers) may send several, and the checkpoint must still be written.
        self.signum = self.signum or signum
