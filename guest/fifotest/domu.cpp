// Domain 0's side of fifotest's domU (domu.hpp), through the guest library's domain builder.
#include "guest/lib/builder/xen_tools.hpp"  // first: before any other Xen header

#include "core/diagnostics.hpp"
#include "guest/fifotest/domu.hpp"
#include "guest/lib/builder/builder.hpp"
#include "guest/lib/builder/xenctl.hpp"
#include "guest/lib/check.hpp"
#include "guest/lib/entry_state.hpp"
#include "guest/lib/hypercall.hpp"

namespace fifot {
namespace {

using namespace pvg;

// Bounds on the waits, in polls with a yield between them: the domU needs a few milliseconds,
// the bounds only keep a hung domU from hanging the test.
constexpr u64 PORT_POLLS = 200'000;
constexpr u64 SHUTDOWN_POLLS = 2'000'000;
constexpr u64 DESTROY_POLLS = 200'000;
constexpr u64 MEMORY_POLLS = 200'000;
constexpr u64 DOMU_MEMORY = 8ull << 20;

const char* first_error(const pv::Diagnostics& diags) {
    for (usize i = 0; i < diags.count(); ++i)
        if (diags[i].severity == pv::Severity::error) return diags.message(i);
    return "no detail";
}

// The domU's unbound port for domain 0 other than the builder's two (xenstore, console), 0 when
// it has none (yet).
evtchn_port_t offered_port(const pvb::BuiltDomain& b) {
    for (evtchn_port_t p = 1; p < 64; ++p) {
        evtchn_status_t st{};
        st.dom = b.domid;
        st.port = p;
        if (hc::event_channel_op(EVTCHNOP_status, &st) == 0 && st.status == EVTCHNSTAT_unbound &&
            st.u.unbound.dom == 0 && p != b.store_evtchn && p != b.console_evtchn)
            return p;
    }
    return 0;
}

}  // namespace

bool domu_start(const start_info_t* si, Domu& d) {
    pvb::BuildConfig cfg;
    // Without MOD_START_PFN in our notes, the module is mapped and mod_start is its address.
    cfg.kernel = reinterpret_cast<const u8*>(si->mod_start);
    cfg.kernel_size = si->mod_len;
    cfg.cmdline = "role=domu";
    cfg.memory = DOMU_MEMORY;
    cfg.self_pt_base = si->pt_base;
    cfg.self_virt_base = reinterpret_cast<uptr>(__image_start);
    if (!check("domu.module", si->mod_start && si->mod_len, "no boot module (this kernel, for the domU)"))
        return false;
    pv::Diagnostics diags;
    pv::Result<u64> before = pvb::free_pages(diags);
    d.memory_known = before.ok();
    if (before) d.free_before = *before;
    pvb::BuiltDomain b;
    pv::Result<void> built = pvb::build_domain(cfg, b, diags);
    if (!check("domu.build", built.ok(), "%s", first_error(diags))) return false;
    d.id = b.domid;
    pv::Result<void> started = pvb::unpause(d.id, diags);
    if (check("domu.unpause", started.ok(), "%s", first_error(diags))) {
        for (u64 i = 0; i < PORT_POLLS && !d.port; ++i) {
            d.port = offered_port(b);
            if (!d.port) hc::sched_op(SCHEDOP_yield, nullptr);
        }
        if (check("domu.port_offered", d.port != 0, "no unbound port for domain 0 after %lu polls", PORT_POLLS))
            return true;
    }
    pv::Diagnostics end;
    (void)pvb::destroy(d.id, DESTROY_POLLS, end);
    return false;
}

void domu_finish(Domu& d) {
    pv::Diagnostics diags;
    pv::Result<unsigned> code = pvb::wait_for_shutdown(d.id, SHUTDOWN_POLLS, diags);
    // Poweroff: the domU saw our event on its FIFO queue and answered it.
    check("domu.shutdown_poweroff", code.ok() && *code == SHUTDOWN_poweroff, "%s",
          code ? pvb::shutdown_name(*code) : first_error(diags));
    pv::Result<void> gone = pvb::destroy(d.id, DESTROY_POLLS, diags);
    check("domu.destroy", gone.ok(), "%s", first_error(diags));
    if (!d.memory_known) return;
    // Destruction may free the last frames a little after the domain left getdomaininfo.
    u64 now = 0;
    for (u64 i = 0; i < MEMORY_POLLS; ++i) {
        pv::Result<u64> f = pvb::free_pages(diags);
        if (!f) break;
        now = *f;
        if (now >= d.free_before) break;
        hc::sched_op(SCHEDOP_yield, nullptr);
    }
    check("domu.memory_returned", now == d.free_before, "free pages %lu before, %lu after", d.free_before, now);
}

}  // namespace fifot
