"""Kernel library (Ke): processors and IRQL, thread states, the dispatcher (ke/kernel.py),
and what a bugcheck records (KeBugCheckEx itself is Core.bugcheck).

The dispatcher keeps one set of 32 ready queues with a ready-summary bitmask, as the
classic NT dispatcher database does (newer Windows also keeps per-processor queues; the model
does not). Quantum is counted in whole clock ticks.
"""

from kmshell.nt.ke.bugcheck import BugcheckInfo
from kmshell.nt.ke.processor import Processor
from kmshell.nt.ke.thread_state import ThreadState, WaitReason

__all__ = ["BugcheckInfo", "Processor", "ThreadState", "WaitReason"]
