"""KTHREAD_STATE and KWAIT_REASON, with the values the public symbols give them."""

from enum import IntEnum


class ThreadState(IntEnum):
    Initialized = 0
    Ready = 1
    Running = 2
    Standby = 3
    Terminated = 4
    Waiting = 5
    Transition = 6
    DeferredReady = 7


class WaitReason(IntEnum):
    Executive = 0
    FreePage = 1
    PageIn = 2
    PoolAllocation = 3
    DelayExecution = 4
    Suspended = 5
    UserRequest = 6
    WrExecutive = 7
    WrDelayExecution = 11
    WrUserRequest = 13
    WrQueue = 15
    WrLpcReceive = 16
    WrResource = 27
    WrMutex = 29
    WrQuantumEnd = 30
