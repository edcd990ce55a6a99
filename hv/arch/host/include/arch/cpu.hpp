// Host stand-ins for the CPU primitives the generic core uses, so it runs inside unit tests.
#pragma once

namespace pv::arch {

inline void cpu_relax() { __builtin_ia32_pause(); }
// There are no interrupts to mask in a host process; the flags word is carried through unchanged.
inline unsigned long irq_save() { return 0; }
inline void irq_restore(unsigned long) {}
// The host build is one CPU as far as the core is concerned.
inline unsigned this_cpu_index() { return 0; }

}  // namespace pv::arch
