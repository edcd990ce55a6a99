// Serial input switching and domain 0's input ring (serial_input.hpp).
#include "core/serial_input.hpp"

namespace pv {

void SerialInput::deliver(char c, Result& r) {
    if (target_ == Target::hypervisor) {
        if (r.nkeys < sizeof(r.keys)) r.keys[r.nkeys++] = c;
        return;
    }
    if (prod_ - cons_ == RING_SIZE) {
        ++r.dropped;
        return;
    }
    ring_[prod_++ % RING_SIZE] = c;
    r.dom0_input = true;
}

SerialInput::Result SerialInput::feed(char c) {
    Result r;
    IrqSpinGuard g(lock_);
    if (switch_char_ && c == switch_char_) {
        if (++switch_count_ == 3) {
            switch_count_ = 0;
            target_ = target_ == Target::dom0 ? Target::hypervisor : Target::dom0;
            r.switched = true;
        }
        return r;
    }
    for (; switch_count_; --switch_count_) deliver(switch_char_, r);
    deliver(c, r);
    return r;
}

usize SerialInput::read(char* buf, usize max) {
    IrqSpinGuard g(lock_);
    usize n = 0;
    while (n < max && cons_ != prod_) buf[n++] = ring_[cons_++ % RING_SIZE];
    return n;
}

usize SerialInput::pending() const {
    IrqSpinGuard g(lock_);
    return prod_ - cons_;
}

void SerialInput::set_target(Target t) {
    IrqSpinGuard g(lock_);
    target_ = t;
    switch_count_ = 0;
}

}  // namespace pv
