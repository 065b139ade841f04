"""The dispatcher at work: the clock tick, context switches, preemption, quantum end, and
running each thread's program one step at a time.

`Scheduler` is mixed into `System` (nt/system.py), as Ke's routines in NT all work on the one
dispatcher database; it uses the system's processors, dispatcher, sleepers and emit().
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

from kmshell.nt.constants import QUANTUM_TICKS, Irql, NtStatus
from kmshell.nt.ke.processor import Processor
from kmshell.nt.ke.sync import KSemaphore, SpinLock
from kmshell.nt.ke.thread_state import ThreadState, WaitReason
from kmshell.nt.ps import TIMED_STEPS, Step, Thread

# A program of steps that take no time (`set E; repeat 1000000`) would otherwise run inside one
# tick without end, out of reach of Ctrl-C, which is looked at between ticks.
INSTANT_STEPS_PER_TICK = 256
from kmshell.nt.se import SYNCHRONIZE

MODIFY_STATE = 0x0002  # EVENT_MODIFY_STATE and SEMAPHORE_MODIFY_STATE


class Scheduler:
    """Ke: the clock interrupt and the dispatcher (KiDispatcherReadyListHead, quanta)."""

    def _ready(self, thread: Thread, front: bool = False) -> None:
        thread.state = ThreadState.Ready
        thread.wait_reason = None
        self.dispatcher.insert(thread, front)

    def _switch(self, cpu: Processor, thread: Thread, why: str) -> None:
        old = cpu.current_thread
        thread.state = ThreadState.Running
        thread.last_cpu = cpu.number
        if thread.quantum <= 0:
            thread.quantum = QUANTUM_TICKS
        cpu.current_thread = thread
        old_label = "idle" if old is cpu.idle_thread else old.label
        self.emit("Ke", "context-switch", f"CPU{cpu.number}: {old_label} → {thread.label} "
                  f"(priority {thread.priority}){why}", "The dispatcher runs at DISPATCH_LEVEL "
                  "and always picks the highest-priority ready thread.",
                  cpu=cpu.number, irql=Irql.DISPATCH_LEVEL)

    def dispatch(self) -> None:
        """Give idle processors a ready thread, then preempt lower-priority running threads."""
        for cpu in self.processors:
            if not self.dispatcher.summary:
                return
            if cpu.is_idle:
                self._switch(cpu, self.dispatcher.pop(), "")
        while self.dispatcher.summary:
            # a processor at DISPATCH_LEVEL or above cannot be preempted: skip it
            preemptible = [c for c in self.processors if c.irql < Irql.DISPATCH_LEVEL]
            if not preemptible:
                return
            victim = min(preemptible, key=lambda c: (c.current_thread.priority, -c.number))
            best = self.dispatcher.highest_priority()
            if best <= victim.current_thread.priority:
                return
            preempted = victim.current_thread
            self._ready(preempted, front=True)
            self._switch(victim, self.dispatcher.pop(),
                         f", preempting {preempted.label} (priority {preempted.priority})")

    def step(self, ticks: int = 1, stop: Callable[[], bool] | None = None) -> int:
        """Advance the clock; returns the ticks taken, fewer than asked when `stop` (asked
        between ticks, where the machine is consistent) said to stop."""
        self._require_running()
        for taken in range(ticks):
            if stop is not None and stop():
                return taken
            self._clock_tick()
        return ticks

    def run_until_idle(self, max_ticks: int, stop: Callable[[], bool] | None = None) -> int:
        """Step until no thread is running or ready; returns the ticks taken."""
        self._require_running()
        taken = 0
        while taken < max_ticks and not self.idle and not (stop is not None and stop()):
            self._clock_tick()
            taken += 1
        return taken

    @property
    def idle(self) -> bool:
        return all(cpu.is_idle for cpu in self.processors) and not self.dispatcher.summary and \
            not self.sleepers

    def _clock_tick(self) -> None:
        """One tick on every processor at once, in two phases so that no processor runs a
        whole tick ahead of another: first every thread's instant steps (waits, lock
        acquisitions, exits), refilling processors that fall idle; then every thread's timed
        step (compute, or one half of an increment), after which a thread whose step ended
        goes on with its instant steps."""
        self.tick += 1
        if self.pending_power:
            self._power_watchdog()
        while self.timers and self.timers[0][0] <= self.tick:
            due, _, timer = heapq.heappop(self.timers)
            if timer.due_tick == due:
                self._expire_timer(timer)
        while self.sleepers and self.sleepers[0][0] <= self.tick:
            _, _, thread = heapq.heappop(self.sleepers)
            if thread.state is ThreadState.Waiting and thread.wake_tick == self.tick:
                if thread.waiting_on is not None:
                    obj = thread.waiting_on
                    obj.waiters.remove(thread)
                    thread.wait_status = NtStatus.STATUS_TIMEOUT
                    self._wake(thread, f"its wait on {obj.header.name} timed out "
                                       "(STATUS_TIMEOUT)")
                else:
                    self._wake(thread, "its sleep ended")
        spinning: set[Thread] = set()
        started: set[Thread] = set()
        while True:
            self.dispatch()
            pending = [c for c in self.processors
                       if not c.is_idle and c.current_thread not in started]
            if not pending:
                break
            for cpu in pending:
                thread = cpu.current_thread
                self.cpu_context = cpu.number
                result = self._run_instant_steps(cpu, thread)
                if result != "left":
                    started.add(thread)
                if result == "spin":
                    spinning.add(thread)
        self.cpu_context = 0
        running = " · ".join(f"CPU{c.number} {'idle' if c.is_idle else c.current_thread.label}"
                             for c in self.processors)
        self.emit("Ke", "tick", f"tick {self.tick}: {running}", "The clock interrupt (CLOCK_LEVEL) "
                  "charges the running thread one tick of its quantum.", irql=Irql.CLOCK_LEVEL)
        self.timeline.append((self.tick, tuple(None if c.is_idle else c.current_thread
                                               for c in self.processors)))
        for cpu in self.processors:
            if cpu.is_idle:
                cpu.idle_ticks += 1
                continue
            cpu.busy_ticks += 1
            thread = cpu.current_thread
            self.cpu_context = cpu.number
            self._run_timed_step(cpu, thread, spinning=thread in spinning)
            if cpu.current_thread is thread and cpu.irql < Irql.DISPATCH_LEVEL:
                thread.quantum -= 1
                if thread.quantum <= 0:
                    self._quantum_end(cpu, thread)
        self.cpu_context = 0
        self.dispatch()

    def _quantum_end(self, cpu: Processor, thread: Thread) -> None:
        if thread.base_priority < thread.priority < 16:  # a boost decays, one per quantum
            thread.priority -= 1
            self.emit("Ke", "decay", f"{thread.label}'s boost decays: priority "
                      f"{thread.priority} (base {thread.base_priority})", cpu=cpu.number,
                      irql=Irql.DISPATCH_LEVEL)
        if self.dispatcher.highest_priority() >= thread.priority:
            self._ready(thread)
            self.emit("Ke", "quantum-end", f"{thread.label} used up its quantum; another thread "
                      f"of priority {thread.priority} is ready, so it goes to the back of the "
                      "queue", "Round robin: threads of equal priority take turns, one quantum "
                      "each.", cpu=cpu.number, irql=Irql.DISPATCH_LEVEL)
            self._switch(cpu, self.dispatcher.pop(), "")
        else:
            thread.quantum = QUANTUM_TICKS

    def _run_timed_step(self, cpu: Processor, thread: Thread, spinning: bool) -> None:
        """Spend this tick on the thread's timed step (or on spinning for a lock)."""
        step = thread.current_step
        in_kernel = step.op == "syscall" and not spinning
        if thread.system_thread or cpu.irql >= Irql.DISPATCH_LEVEL or in_kernel:
            thread.kernel_ticks += 1
        else:
            thread.user_ticks += 1
        if spinning:
            return
        if step.op == "syscall" and thread.step_done == 0 and not thread.system_thread:
            self.emit("Ke", "syscall", f"{thread.label} makes a system call: syscall "
                      "instruction → KiSystemCall64, user → kernel", "A system call is the "
                      "only door from user mode into the kernel: the processor switches mode "
                      "and stack, and the kernel checks every argument.",
                      cpu=cpu.number, mode="U")
        if step.op == "inc":
            self._inc_tick(cpu, thread, step)
            done = thread.step_done >= 2 * step.count
        else:
            thread.step_done += 1
            done = thread.step_done >= step.count
        if done:  # the rest of the tick: carry on with the steps that take no time
            if step.op == "syscall" and not thread.system_thread:
                self.emit("Ke", "syscall", f"{thread.label}'s system call returns (sysret): "
                          "kernel → user", cpu=cpu.number)
            thread.pc += 1
            thread.step_done = 0
            self._run_instant_steps(cpu, thread)

    def _run_instant_steps(self, cpu: Processor, thread: Thread) -> str:
        """Carry out steps that take no clock time, up to the next timed step.

        Returns "timed" (a timed step is next), "spin" (the thread spins on a held spin lock,
        or has used up this tick's steps, and burns this tick) or "left" (it waited or exited
        and left the processor).
        """
        for _ in range(INSTANT_STEPS_PER_TICK):
            step = thread.current_step
            if step is None:
                self._exit_thread(cpu, thread, "its program ended")
                return "left"
            if step.op in TIMED_STEPS:
                return "timed"
            result = self._instant_step(cpu, thread, step)
            if result != "next":
                return result
            thread.pc += 1
        self.emit("Ke", "busy", f"{thread.label} ran {INSTANT_STEPS_PER_TICK} steps that take "
                  "no clock time of their own; it goes on next tick",
                  "Every instruction takes time: the model lets a thread do a bounded number "
                  "of zero-time steps (set, wait, repeat ...) in one tick.", cpu=cpu.number)
        return "spin"

    def _instant_step(self, cpu: Processor, thread: Thread, step: Step) -> str:
        """One step that takes no clock time: "next" when done, else "spin" or "left"."""
        if step.op == "exit":
            self._exit_thread(cpu, thread, "it called exit")
            return "left"
        if step.op == "sleep":
            self._block(cpu, thread, WaitReason.DelayExecution,
                        f"NtDelayExecution: sleeps {step.count} tick(s)")
            self._wake_at(thread, self.tick + step.count)
            return "left"
        if step.op == "wait-input":
            self._block(cpu, thread, WaitReason.UserRequest, "calls GetMessage and waits for input")
            return "left"
        if step.op == "dequeue":
            return self._worker_dequeue(cpu, thread)
        if step.op == "touch":
            if thread.process.address_space is None:  # a system thread: a kernel-mode fault
                self.crash_process(thread.process, step.count, thread=thread)
            self.touch(thread.process, step.count, thread=thread)
            return "next" if thread.process.alive else "left"
        if step.op == "repeat":
            if thread.repeats_done < step.count:
                thread.repeats_done += 1
                thread.pc = -1  # the caller's pc += 1 lands on the first step
            return "next"
        obj = self.sync_object(step.name)
        if step.op == "acquire" and isinstance(obj, SpinLock):
            return self._acquire_spin_lock(cpu, thread, obj)
        if step.op == "release" and isinstance(obj, SpinLock):
            self._release_spin_lock(cpu, thread, obj)
            return "next"
        # The first use of a named object opens a handle to it, through an access check.
        desired = MODIFY_STATE if step.op in ("set", "release") else SYNCHRONIZE
        if not self._open_handle(thread.process, obj, desired):
            self._exit_thread(cpu, thread, f"opening {obj.header.name} failed with "
                              "STATUS_ACCESS_DENIED", NtStatus.STATUS_ACCESS_DENIED)
            return "left"
        if step.op in ("acquire", "wait"):
            return self._wait_for(cpu, thread, obj, timeout=step.count)
        if step.op == "release" and isinstance(obj, KSemaphore):
            self.release_semaphore(obj, by=thread)
            return "next"
        if step.op == "release":
            self._release_mutant(cpu, thread, obj)
            return "next"
        if step.op == "set":
            self.set_event(obj, by=thread)
            return "next"
        raise AssertionError(f"unhandled step {step.op}")


    def _block(self, cpu: Processor, thread: Thread, reason: WaitReason, text: str) -> None:
        thread.state = ThreadState.Waiting
        thread.wait_reason = reason
        cpu.current_thread = cpu.idle_thread
        mode_note = "" if thread.system_thread else ": system call, user → kernel"
        self.emit("Ke", "wait", f"{thread.label} {text}{mode_note}; state Waiting ({reason.name})",
                  "A waiting thread uses no processor time; the dispatcher gives the processor "
                  "to the next ready thread.", cpu=cpu.number)

    def _exit_thread(self, cpu: Processor, thread: Thread, why: str,
                     status: int = NtStatus.STATUS_SUCCESS) -> None:
        self._terminate_thread(thread, status)
        self.emit("Ps", "thread-exit", f"{thread.label} exits ({why})", cpu=cpu.number)
        process = thread.process
        if not process.live_threads and process.alive:
            self.terminate_process(process, status, reason=" because its last thread exited")


    def _wake_at(self, thread: Thread, tick: int) -> None:
        thread.wake_tick = tick
        self._wait_sequence += 1
        heapq.heappush(self.sleepers, (tick, self._wait_sequence, thread))

    def _wake(self, thread: Thread, why: str) -> None:
        thread.waiting_on = None
        thread.wake_tick = None
        thread.pc += 1
        self._ready(thread)
        self.emit("Ke", "wake", f"{thread.label} wakes: {why}; Ready at priority "
                  f"{thread.priority}")
