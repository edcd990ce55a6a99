// consoletest: a domain-0 kernel for the serial console's input path (issue 6): it binds
// VIRQ_CONSOLE, sleeps in SCHEDOP_poll on that port, and reads what arrives with CONSOLEIO_read,
// echoing each line it completes ("consoletest: line 'hello'") until it reads "quit".  A test
// types into the serial line (boottest.py --send): text for domain 0, and in between Ctrl-A
// three times to switch to the hypervisor's debug keys and back.  The check lines are the same
// on Xen 4.17 (the oracle) and on pvisor; the hypervisors' own debug-key output differs.
#include "guest/lib/check.hpp"
#include "guest/lib/console.hpp"
#include "guest/lib/hypercall.hpp"
#include "guest/lib/pte.hpp"
#include "guest/lib/xen.hpp"
#include "lib/string.hpp"

namespace {

using namespace pvg;

alignas(4096) constinit char shared_info_page[4096];

constexpr usize LINE_MAX = 80;

}  // namespace

extern "C" [[noreturn]] void guest_main(start_info_t* si) {
    set_report_prefix("consoletest");
    print("consoletest: start\n");
    u64 pte = (si->shared_info & PTE_ADDR) | PTE_P | PTE_RW | PTE_A | PTE_D;
    if (!CHECK_EQ("shared_info.map", hc::update_va_mapping(arg(shared_info_page), pte, UVMF_INVLPG | UVMF_LOCAL), 0))
        finish();
    auto* shared = reinterpret_cast<volatile shared_info_t*>(shared_info_page);

    evtchn_bind_virq_t bind{};
    bind.virq = VIRQ_CONSOLE;
    bind.vcpu = 0;
    if (!CHECK_EQ("virq_console.bind", hc::event_channel_op(EVTCHNOP_bind_virq, &bind), 0)) finish();
    evtchn_port_t port = bind.port;
    // Counts above INT_MAX could not be told from an errno: E2BIG.  Nothing typed yet: 0.
    char buf[64];
    CHECK_EQ("console_io.read_count_above_int_max", hc::console_io(CONSOLEIO_read, 0x80000000u, buf), -XEN_E2BIG);
    CHECK_EQ("console_io.read_nothing_yet", hc::console_io(CONSOLEIO_read, sizeof buf, buf), 0);
    print("consoletest: ready\n");

    char line[LINE_MAX + 1];
    usize len = 0;
    unsigned lines = 0, wakeups = 0;
    for (;;) {
        // Clear the port's pending bit before reading, so input arriving after the read raises
        // it again and the poll below returns.
        __atomic_and_fetch(&shared->evtchn_pending[port / 64], ~(1ull << (port % 64)), __ATOMIC_SEQ_CST);
        long n = hc::console_io(CONSOLEIO_read, sizeof buf, buf);
        if (n < 0) {
            check_fail("console_io.read", "rc %ld", n);
            finish();
        }
        for (long i = 0; i < n; ++i) {
            char c = buf[i];
            if (c != '\r' && c != '\n') {
                if (len < LINE_MAX) line[len++] = c;
                continue;
            }
            if (len == 0) continue;
            line[len] = '\0';
            print("consoletest: line '%s'\n", line);
            ++lines;
            if (pv::StrView(line, len).equals("quit")) {
                info("%u lines, %u wake-ups", lines, wakeups);
                CHECK("console.lines_read", lines >= 2);
                CHECK("console.woken_by_virq", wakeups > 0);
                finish();
            }
            len = 0;
        }
        if (n > 0) continue;
        sched_poll_t poll{};
        set_xen_guest_handle(poll.ports, &port);
        poll.nr_ports = 1;
        poll.timeout = 0;  // no timeout: only the event wakes us
        if (hc::sched_op(SCHEDOP_poll, &poll) == 0) ++wakeups;
    }
}
