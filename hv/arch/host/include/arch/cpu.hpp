// Host stand-ins for the CPU primitives the generic core uses, so it runs inside unit tests.
#pragma once
#include <sched.h>

namespace pv::arch {

// Host threads are preemptible and may outnumber CPUs: a spinning waiter yields, or a ticket
// lock's hand-off would wait out a whole scheduler time slice.
inline void cpu_relax() { sched_yield(); }
// There are no interrupts to mask in a host process; the flags word is carried through unchanged.
inline unsigned long irq_save() { return 0; }
inline void irq_restore(unsigned long) {}
// The host build is one CPU as far as the core is concerned.
inline unsigned this_cpu_index() { return 0; }

}  // namespace pv::arch
