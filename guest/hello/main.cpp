// hello.elf: the smallest useful domU, the first example guest of domain 0's store (issue 6).
// It greets on its console with its name and domain ID (read from XenStore), then waits: each
// line typed on its console (`xl console`) is answered, and domain 0's shutdown requests
// (control/shutdown: `xl shutdown`, `xl reboot`) are obeyed with that reason.  With `mode=fault` on
// its command line it executes an invalid instruction after greeting, with no trap handler: the
// hypervisor crashes the domain (on_crash's test).  With `mode=fill` it first fills its share of
// XenStore: nodes of FILL_VALUE bytes under data/fill until xenstored refuses one (its node
// quota: ENOSPC), and says how many it wrote (the store's growth test).
#include "guest/lib/check.hpp"
#include "guest/lib/cmdline.hpp"
#include "guest/lib/console.hpp"
#include "guest/lib/hypercall.hpp"
#include "guest/lib/xenbus/domu.hpp"
#include "lib/format.hpp"

namespace {

using namespace pvg;  // NOLINT

constinit xb::Domu g_domu;

constexpr usize LINE_MAX = 80;
constexpr usize FILL_VALUE = 1800;

// Writes nodes until one is refused; prints the count and the error.
void fill_store() {
    static char value[FILL_VALUE + 1];
    for (usize i = 0; i < FILL_VALUE; ++i) value[i] = static_cast<char>('a' + i % 26);
    u32 n = 0;
    int err = 0;
    for (; n < 100'000; ++n) {
        char path[48];
        pv::format(path, sizeof(path), "data/fill/%u/%u", n / 100, n);
        if ((err = g_domu.store().write(path, value))) break;
    }
    print("hello: filled XenStore with %u nodes, then %s\n", n, errno_name(err));
}

}  // namespace

extern "C" [[noreturn]] void guest_main(const start_info_t* si) {
    if (!g_domu.init(si)) shutdown(SHUTDOWN_crash);  // no console to say why
    char name[64] = "?", domid[8] = "?";
    u32 len = 0;
    (void)g_domu.store().read("name", name, sizeof(name), &len);
    (void)g_domu.store().read("domid", domid, sizeof(domid), &len);
    print("hello: Hello from %s (domain %s)\n", name, domid);
    const pv::StrView cmd = guest_cmdline(si);
    if (cmdline_value(cmd, "mode").equals("fill")) fill_store();
    if (cmdline_value(cmd, "mode").equals("fault")) {
        print("hello: executing ud2\n");
        console_flush();
        asm volatile("ud2");
    }
    if (const int err = g_domu.watch_shutdown()) print("hello: cannot watch control/shutdown: %d\n", err);
    char line[LINE_MAX + 1];
    usize n = 0;
    for (;;) {
        char buf[32];
        while (const usize got = xb::cons_read_input(g_domu.console(), buf, sizeof(buf))) {
            for (usize i = 0; i < got; ++i) {
                if (buf[i] != '\r' && buf[i] != '\n') {
                    if (n < LINE_MAX) line[n++] = buf[i];
                    continue;
                }
                if (n) print("hello: you typed '%.*s'\n", static_cast<int>(n), line);
                n = 0;
            }
        }
        const int reason = g_domu.shutdown_request();
        if (reason >= 0) {
            print("hello: %s requested, goodbye\n", reason == SHUTDOWN_reboot ? "reboot" : "poweroff");
            console_flush();
            shutdown(static_cast<unsigned>(reason));
        }
        g_domu.wait_store_or_console(0);
    }
}
