// fifotest's domU (domu.cpp): domain 0 builds a second copy of this kernel (the boot module,
// started with role=domu), which switches itself to FIFO and offers domain 0 an unbound port;
// domain 0 binds it, they exchange an event, the domU shuts down, and its destruction must give
// back every frame, its control-block and event-array pages included.  The domU's own side is
// main.cpp's run_domu.
#pragma once
#include "guest/lib/xen.hpp"

namespace fifot {

struct Domu {
    domid_t id = DOMID_INVALID;
    evtchn_port_t port = 0;  // the domU's port waiting for domain 0
    unsigned long free_before = 0;
    bool memory_known = false;
};

// Builds and starts the domU from the boot module, then finds its offered port; false (after
// failing a check) when any step fails, the domU then destroyed.
bool domu_start(const start_info_t* si, Domu& d);
// Waits for its shutdown (poweroff: its own checks passed), destroys it and checks that the
// hypervisor's free memory is back.
void domu_finish(Domu& d);

}  // namespace fifot
