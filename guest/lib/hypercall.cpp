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

i16 hc::grant_copy1(u16 flags, domid_t sdom, u64 src, u16 soff, domid_t ddom, u64 dst, u16 doff, u16 len) {
    gnttab_copy_t op{};
    op.flags = flags;
    op.source.domid = sdom;
    op.source.offset = soff;
    op.dest.domid = ddom;
    op.dest.offset = doff;
    op.len = len;
    if (flags & GNTCOPY_source_gref) op.source.u.ref = static_cast<grant_ref_t>(src);
    else op.source.u.gmfn = src;
    if (flags & GNTCOPY_dest_gref) op.dest.u.ref = static_cast<grant_ref_t>(dst);
    else op.dest.u.gmfn = dst;
    long rc = grant_table_op(GNTTABOP_copy, &op, 1);
    return rc ? static_cast<i16>(-1000) : op.status;
}

void shutdown(unsigned reason) {
    sched_shutdown_t s{};
    s.reason = reason;
    hc::sched_op(SCHEDOP_shutdown, &s);
    // Only reached if the hypervisor ignored the request: stay out of its way.
    for (;;) hc::sched_op(SCHEDOP_yield, nullptr);
}

}  // namespace pvg
