#include "guest/lib/hypercall.hpp"

namespace pvg {

void hc::iret(const iret_context& ctx) {
    // Xen reads the frame at RSP (rax first) and resumes the context it describes.
    asm volatile("movq %0, %%rsp\n\t"
                 "movl %1, %%eax\n\t"
                 "syscall"
                 :
                 : "r"(&ctx), "i"(__HYPERVISOR_iret)
                 : "memory");
    __builtin_unreachable();
}

void shutdown(unsigned reason) {
    sched_shutdown_t s{};
    s.reason = reason;
    hc::sched_op(SCHEDOP_shutdown, &s);
    // Only reached if the hypervisor ignored the request: stay out of its way.
    for (;;) hc::sched_op(SCHEDOP_yield, nullptr);
}

}  // namespace pvg
