// Serial input, as Xen's console driver handles it (xen/drivers/char/console.c, serial_rx and
// __serial_rx): characters typed on the serial line go either to the hypervisor, as debug keys,
// or to domain 0, which reads them with CONSOLEIO_read after a VIRQ_CONSOLE.  Typing the switch
// character (Ctrl-A unless conswitch= says otherwise) three times in a row flips between the
// two; one or two switch characters followed by anything else are not a switch and are passed
// on, then the character.  Domain 0's characters wait in a ring of Xen's size (128); when it is
// full, further input is dropped (Xen drops it too), never blocks the interrupt handler.
//
// The interrupt handler feeds characters (feed) and acts on the result; CONSOLEIO_read drains
// the ring (read) from any CPU.  One lock, taken with interrupts off, covers both.
#pragma once
#include "lib/spinlock.hpp"
#include "lib/types.hpp"

namespace pv {

class SerialInput {
public:
    enum class Target : u8 { hypervisor, dom0 };
    static constexpr usize RING_SIZE = 128;  // Xen's SERIAL_RX_SIZE
    static constexpr char CTRL_A = 0x01;

    // What one character did.  Keys for the hypervisor: the character, possibly preceded by
    // switch characters that turned out not to be a switch (at most two of them).
    struct Result {
        bool switched = false;      // the input now goes to target()
        bool dom0_input = false;    // characters were queued for domain 0 (raise VIRQ_CONSOLE)
        usize dropped = 0;          // characters for domain 0 lost to a full ring
        char keys[3] = {};
        unsigned nkeys = 0;
    };

    explicit SerialInput(char switch_char = CTRL_A, Target initial = Target::hypervisor)
        : switch_char_(switch_char), target_(initial) {}

    Result feed(char c);
    // Domain 0's characters, up to max, oldest first; the count copied.
    usize read(char* buf, usize max);
    usize pending() const;

    Target target() const { return target_; }
    void set_target(Target t);
    char switch_char() const { return switch_char_; }
    void set_switch_char(char c) { switch_char_ = c; }

private:
    // With lock_ held: c for the current target.
    void deliver(char c, Result& r);

    mutable Spinlock lock_;
    char switch_char_;
    Target target_;
    unsigned switch_count_ = 0;
    char ring_[RING_SIZE] = {};
    u32 prod_ = 0, cons_ = 0;  // free-running
};

}  // namespace pv
