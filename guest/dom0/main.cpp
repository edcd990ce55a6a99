// dom0.elf: pvisor's domain 0 kernel (issue 5; issue 6 adds the xl toolstack and its prompt).
// It runs domain 0's services in one event loop (event_loop.hpp): xenstored (store.hpp), the
// console backend (console.hpp), and a toolstack (toolstack.hpp) that builds domUs from the
// initrd, a cpio archive (made by mkinitrd.py): the read-only file store.
//
// By default domain 0 is what a user meets: the `manifest` file of the store, if any, lists
// configs to start at boot ("autostart <xl.cfg>" lines, each run as `xl create`), then the
// prompt (shell.hpp) reads commands from the serial line (terminal.hpp) forever: `xl ...`
// (xl_backend.hpp), `ls`, `help`, `poweroff`.  Domain consoles appear as "[<name>] <line>".
//
// time_create=1 (user mode): each `xl create` prints the ticks to the new domain's first console
// output (console.hpp), for bench/run.py; time_line=<prefix> also to its first line starting
// with the prefix (time_line=pvinit:_shell: `_` stands for a space, which a command-line value
// cannot hold).
//
// With mode=batch (or test=<name>) the manifest is a scenario instead:
//
//   domain <name> <kernel file> <memory> <ramdisk file or -> <command line...>
//   device <type> <frontend domain name> <backend domain name>
//
// Every domain is created (paused), every device written, then all are unpaused and served
// until each has shut down; they are destroyed and domain 0 powers off.
//
// With test=<name> on the command line the same run reports check lines (guest/lib/check.hpp,
// prefix "dom0") — builds, XenStore entries and introductions, each domU's own checks relayed
// from its console as <domain>.<check>, shutdown codes, the release of dying domains, and free
// memory back at its baseline — for tests/guest (test=ringpair: issue 5's ring pair).
#include "guest/dom0/shell.hpp"
#include "guest/dom0/toolstack.hpp"

#include <new>

#include "guest/lib/builder/cpio.hpp"
#include "guest/lib/builder/xenctl.hpp"
#include "guest/lib/check.hpp"
#include "guest/lib/cmdline.hpp"
#include "guest/lib/console.hpp"
#include "guest/lib/entry_state.hpp"
#include "guest/lib/hypercall.hpp"
#include "guest/lib/time.hpp"
#include "lib/format.hpp"

namespace dom0 {

namespace {

using pv::StrView;

constexpr unsigned MAX_GUESTS = 16;
constexpr u64 RUN_LIMIT_NS = 120'000'000'000;  // a hung domU ends the run after this

struct Guest {
    char name[ConsoleService::NAME_MAX] = {};
    char cmdline[MAX_GUEST_CMDLINE] = {};
    domid_t domid = DOMID_INVALID;
    bool shut_down = false;
    unsigned code = 0;
    unsigned lines = 0;
    bool verdict_seen = false, verdict_pass = false;
    bool echoed = false;  // its console showed the input we typed (test mode)
};

// What test mode types on every domU's console before it runs; a test domU echoes it as a line
// ending in "echo ping" (guest/ringpair).
constexpr char CONSOLE_PING[] = "ping\n";

constinit const start_info_t* g_si = nullptr;
constinit bool g_checks = false;
constinit Guest g_guests[MAX_GUESTS];
constinit unsigned g_nguests = 0;
constinit EventLoop g_loop;

void report(const pv::Diagnostics& diags) {
    for (usize i = 0; i < diags.count(); ++i) info("%s", diags.message(i));
}

const char* first_error(const pv::Diagnostics& diags) {
    for (usize i = 0; i < diags.count(); ++i)
        if (diags[i].severity == pv::Severity::error) return diags.message(i);
    return "no detail";
}

// A check in test mode; a message on failure otherwise.
bool verify(const char* name, bool ok, const char* detail) {
    if (g_checks) return check(name, ok, "%s", detail);
    if (!ok) print("dom0: %s: %s\n", name, detail);
    return ok;
}

const char* qualified(const char* guest, const char* what) {
    static char buf[96];
    pv::format(buf, sizeof(buf), "%s.%s", guest, what);
    return buf;
}

Guest* guest_by_name(StrView name) {
    for (unsigned i = 0; i < g_nguests; ++i)
        if (name.equals(g_guests[i].name)) return &g_guests[i];
    return nullptr;
}

// Sees every console line: counts them and, in test mode, relays the domU's check lines.
class Relay final : public ConsoleService::Listener {
public:
    void line(u32 domid, const char* name, const char* s, usize n) override {
        Guest* g = guest_by_name(name);
        if (!g || g->domid != domid) return;
        ++g->lines;
        if (!g_checks) return;
        const StrView text(s, n);
        if (text.len >= 9 && text.substr(text.len - 9).equals("echo ping")) g->echoed = true;
        const usize colon = text.find(':');
        bool pass = false;
        if (relay_check(text, text.substr(0, colon), name, &pass) && text.substr(colon).starts_with(": verdict: ")) {
            g->verdict_seen = true;
            g->verdict_pass = pass;
        }
    }
};

// xenstored's arena grows into domain 0's spare memory, taken from the toolstack's: its scratch
// is in use only while the builder runs, which makes no XenStore request, so the store never
// grows under it.
class SpareMemory final : public StoreService::Memory {
public:
    explicit SpareMemory(pvb::OwnMemory& m) : m_(m) {}
    void* take(usize bytes) override {
        pv::Diagnostics quiet;
        pv::Result<u8*> r = m_.take(bytes, quiet);
        return r ? *r : nullptr;
    }
private:
    pvb::OwnMemory& m_;
};

const u8* initrd_file(StrView name, usize* size) {
    pv::Diagnostics diags;
    pvb::CpioEntry e;
    if (!pvb::cpio_find(reinterpret_cast<const u8*>(g_si->mod_start), g_si->mod_len, name, e, diags)) return nullptr;
    *size = e.size;
    return e.data;
}

void create_domain(Toolstack& ts, StrView line, usize pos) {
    if (g_nguests == MAX_GUESTS) return;
    StrView name = next_word(line, &pos), kernel = next_word(line, &pos), mem = next_word(line, &pos);
    StrView ramdisk = next_word(line, &pos);
    StrView cmd = line.substr(pos);
    while (cmd.len && cmd[0] == ' ') cmd = cmd.substr(1);
    Guest& g = g_guests[g_nguests];
    pv::format(g.name, sizeof(g.name), "%.*s", static_cast<int>(name.len), name.ptr);
    pv::format(g.cmdline, sizeof(g.cmdline), "%.*s", static_cast<int>(cmd.len), cmd.ptr);
    DomainSpec spec;
    spec.name = g.name;
    spec.cmdline = g.cmdline;
    spec.kernel = initrd_file(kernel, &spec.kernel_size);
    if (!ramdisk.equals("-")) spec.ramdisk = initrd_file(ramdisk, &spec.ramdisk_size);
    if (!verify(qualified(g.name, "files"), spec.kernel && pv::parse_size(mem, &spec.memory) &&
                                               (spec.ramdisk || ramdisk.equals("-")),
                "a file is missing from the initrd, or the memory size is bad"))
        return;
    spec.maxmem = spec.memory;
    ++g_nguests;
    pv::Diagnostics diags;
    pv::Result<domid_t> dom = ts.create(spec, diags);
    report(diags);
    if (!verify(qualified(g.name, "build"), dom.ok(), first_error(diags))) return;
    g.domid = *dom;
    info("%s is d%u", g.name, g.domid);
}

void add_device(Toolstack& ts, StrView line, usize pos) {
    StrView type = next_word(line, &pos), front = next_word(line, &pos), back = next_word(line, &pos);
    Guest *f = guest_by_name(front), *b = guest_by_name(back);
    char t[16];
    pv::format(t, sizeof(t), "%.*s", static_cast<int>(type.len), type.ptr);
    const int err = f && b && f->domid != DOMID_INVALID && b->domid != DOMID_INVALID
                        ? ts.add_device(t, f->domid, b->domid)
                        : XEN_ENOENT;
    char name[64];
    pv::format(name, sizeof(name), "device.%s.%.*s", t, static_cast<int>(front.len), front.ptr);
    verify(name, err == 0, xs::error_string(err));
}

// What the toolstack wrote and xenstored knows, read back through domain 0's client.
void check_store(StoreService& store, const Guest& g) {
    xb::XsClient& xs = store.client();
    char path[64], v[64];
    u32 len = 0;
    pv::format(path, sizeof(path), "/local/domain/%u/name", g.domid);
    verify(qualified(g.name, "xs.name"), xs.read(path, v, sizeof(v), &len) == 0 && StrView(v).equals(g.name),
           "/local/domain/<id>/name does not hold the name");
    bool in = false;
    verify(qualified(g.name, "xs.introduced"), xs.is_domain_introduced(g.domid, &in) == 0 && in,
           "IS_DOMAIN_INTRODUCED says F");
    verify(qualified(g.name, "xs.domain_path"),
           xs.get_domain_path(g.domid, v, sizeof(v)) == 0 && StrView(v).equals(StrView(path, pv::str_len(path) - 5)),
           "GET_DOMAIN_PATH is not /local/domain/<id>");
}

// Whether every domain built has shut down (getdomaininfo), recording their codes.
bool all_shut_down() {
    bool all = true;
    pv::Diagnostics quiet;
    for (unsigned i = 0; i < g_nguests; ++i) {
        Guest& g = g_guests[i];
        if (g.domid == DOMID_INVALID || g.shut_down) continue;
        pv::Result<xen_domctl_getdomaininfo> info = pvb::domain_info(g.domid, quiet);
        if (info && (info->flags & XEN_DOMINF_shutdown)) {
            g.shut_down = true;
            g.code = (info->flags >> XEN_DOMINF_shutdownshift) & XEN_DOMINF_shutdownmask;
        } else {
            all = false;
        }
    }
    return all;
}

// Runs the services until every domain built has shut down (or the time limit).  Domain states
// are looked at only when VIRQ_DOM_EXC said something changed: the loop otherwise sleeps.
void serve(StoreService& store) {
    const u64 limit = g_loop.now_ns() + RUN_LIMIT_NS;
    u64 seen = ~u64{0};
    while (g_loop.now_ns() < limit) {
        if (store.dom_exc_count() != seen) {
            seen = store.dom_exc_count();
            if (all_shut_down()) break;
        }
        g_loop.run_once(limit);
    }
}

// Domain 0's first grant mapping makes Xen allocate its maptrack frame, which it keeps for its
// lifetime: one map and unmap of a grant of our own, before the free-memory baseline is taken,
// keeps that frame out of the comparison.
alignas(4096) constinit u8 g_warmup_page[4096];

void warm_up_grants(xb::GrantMapper& mapper) {
    xb::GrantTable gt;
    long rc = gt.init();
    if (rc == 0) rc = gt.grant(xb::FIRST_FREE_REF, 0, xb::virt_to_mfn(g_si, g_warmup_page), true);
    xb::GrantMapper::Mapping m;
    if (rc == 0) rc = mapper.map(0, xb::FIRST_FREE_REF, true, &m);
    if (rc == 0) rc = mapper.unmap(m);
    if (rc == 0) rc = gt.revoke(xb::FIRST_FREE_REF);
    char detail[48];
    pv::format(detail, sizeof(detail), "rc %ld", rc);
    verify("dom0.grant.self_map", rc == 0, detail);
}

void run(StoreService& store, ConsoleService& console, Toolstack& ts, xb::GrantMapper& mapper) {
    usize size = 0;
    const u8* manifest = initrd_file("manifest", &size);
    if (!verify("dom0.manifest", manifest != nullptr, "no file `manifest` in the initrd")) return;
    warm_up_grants(mapper);
    pv::Diagnostics diags;
    pv::Result<u64> baseline = pvb::free_pages(diags);
    if (baseline) info("free pages at start: %lu", *baseline);

    // dom0 watches @releaseDomain, as libxl does to notice domains going away.
    verify("dom0.xs.watch_release", store.client().watch("@releaseDomain", "release") == 0, "XS_WATCH failed");
    char path[64], token[16];
    while (store.client().next_event(path, sizeof(path), token, sizeof(token))) {}  // the initial event

    Relay relay;
    console.set_listener(&relay);
    const StrView text(reinterpret_cast<const char*>(manifest), size);
    for (int pass = 0; pass < 2; ++pass) {  // domains first, then the devices between them
        for (usize pos = 0; pos < text.len;) {
            usize end = text.find('\n', pos);
            StrView line = text.substr(pos, end - pos);
            pos = end + 1;
            usize p = 0;
            StrView kind = next_word(line, &p);
            if (pass == 0 && kind.equals("domain")) create_domain(ts, line, p);
            if (pass == 1 && kind.equals("device")) add_device(ts, line, p);
        }
    }
    for (unsigned i = 0; i < g_nguests; ++i)
        if (g_guests[i].domid != DOMID_INVALID) check_store(store, g_guests[i]);
    for (unsigned i = 0; i < g_nguests; ++i) {
        Guest& g = g_guests[i];
        if (g.domid == DOMID_INVALID) continue;
        if (g_checks)
            verify(qualified(g.name, "console.input"),
                   console.input(g.domid, CONSOLE_PING, sizeof(CONSOLE_PING) - 1) == sizeof(CONSOLE_PING) - 1,
                   "the console ring did not take the input");
        pv::Diagnostics d;
        verify(qualified(g.name, "unpause"), ts.unpause(g.domid, d).ok(), first_error(d));
    }

    serve(store);

    unsigned releases = 0;
    while (store.client().next_event(path, sizeof(path), token, sizeof(token)))
        if (StrView(path).equals("@releaseDomain")) ++releases;
    info("@releaseDomain fired %u times while the domains ran", releases);
    verify("dom0.xs.release_domain_fired", releases > 0, "no @releaseDomain event after the shutdowns");

    for (unsigned i = 0; i < g_nguests; ++i) {
        Guest& g = g_guests[i];
        if (g.domid == DOMID_INVALID) continue;
        char detail[64];
        pv::format(detail, sizeof(detail), "shutdown code %u%s", g.code, g.shut_down ? "" : " (still running)");
        verify(qualified(g.name, "shutdown"), g.shut_down && g.code == SHUTDOWN_poweroff, detail);
        pv::Diagnostics d;
        pv::Result<void> gone = ts.destroy(g.domid, d);
        report(d);
        verify(qualified(g.name, "destroy"), gone.ok(), first_error(d));
        verify(qualified(g.name, "console.lines"), g.lines > 0, "no console line came through the backend");
        if (g_checks) {
            verify(qualified(g.name, "verdict"), g.verdict_seen && g.verdict_pass, "no PASS verdict on its console");
            verify(qualified(g.name, "console.input_echoed"), g.echoed, "its console never echoed our input");
        }
        bool in = true;
        verify(qualified(g.name, "xs.released"), store.client().is_domain_introduced(g.domid, &in) == 0 && !in,
               "still introduced after its destruction");
        char v[8];
        u32 len = 0;
        pv::format(path, sizeof(path), "/local/domain/%u", g.domid);
        verify(qualified(g.name, "xs.tree_removed"), store.client().read(path, v, sizeof(v), &len) == XEN_ENOENT,
               "its directory is still there");
    }
    if (baseline) {
        u64 now = 0;
        for (u64 i = 0; i < 200'000; ++i) {
            pv::Result<u64> f = pvb::free_pages(diags);
            if (!f) break;
            now = *f;
            if (now >= *baseline) break;
            hc::sched_op(SCHEDOP_yield, nullptr);
        }
        char detail[64];
        pv::format(detail, sizeof(detail), "free pages %lu at start, %lu at the end", *baseline, now);
        verify("dom0.memory_returned", now == *baseline, detail);
    }
}

// The shell, each `xl create` timed to the new domain's first console output (time_create=1 on
// domain 0's command line: bench/run.py's create figure), and with time_line=<prefix> also to
// its first console line starting with the prefix.
class TimedShell final : public Terminal::LineHandler {
public:
    TimedShell(Shell& shell, ConsoleService& console) : shell_(shell), console_(console) {}
    void line(const char* s, usize n) override {
        if (StrView(s, n).starts_with("xl create")) console_.time_next_attach(rdtsc(), g_loop.now_ns());
        shell_.line(s, n);
    }
    const char* prompt() const override { return shell_.prompt(); }
private:
    Shell& shell_;
    ConsoleService& console_;
};

// The user's domain 0: the autostart configs, then the prompt, forever.
[[noreturn]] void prompt(StoreService& store, ConsoleService& console, Toolstack& ts, xb::GrantMapper& mapper,
                         bool time_create) {
    static Terminal term;
    static XlBackend xl(g_si, g_loop, store, console, ts, term);
    static Shell plain(g_si, xl, store.client());
    static TimedShell timed(plain, console);
    Terminal::LineHandler& shell = time_create ? static_cast<Terminal::LineHandler&>(timed) : plain;
    xl.init();
    if (!term.init(g_loop, shell)) {
        print("dom0: cannot bind VIRQ_CONSOLE: no prompt\n");
        console_flush();
        shutdown(SHUTDOWN_crash);
    }
    warm_up_grants(mapper);
    usize size = 0;
    if (const u8* manifest = initrd_file("manifest", &size)) {
        const StrView text(reinterpret_cast<const char*>(manifest), size);
        for (usize pos = 0; pos < text.len;) {
            const usize end = text.find('\n', pos);
            const StrView line = text.substr(pos, end - pos);
            pos = end + 1;
            usize p = 0;
            if (!next_word(line, &p).equals("autostart")) continue;
            char cmd[Terminal::LINE_MAX];
            const StrView rest = line.substr(p);
            const usize n = pv::format(cmd, sizeof(cmd), "xl create%.*s", static_cast<int>(rest.len), rest.ptr);
            print("%s%s\n", shell.prompt(), cmd);
            shell.line(cmd, n < sizeof(cmd) ? n : sizeof(cmd) - 1);
        }
    }
    print("dom0: pvisor's domain 0 is ready: type `help` or `xl help` (Ctrl-A three times: debug keys)\n");
    term.show_prompt();
    for (;;) xl.serve();
}

}  // namespace
}  // namespace dom0

extern "C" [[noreturn]] void guest_main(const start_info_t* si) {
    using namespace dom0;
    g_si = si;
    set_report_prefix("dom0");
    print("dom0: start\n");
    const StrView cmd = guest_cmdline(si);
    g_checks = !cmdline_value(cmd, "test").empty();
    const bool batch = g_checks || cmdline_value(cmd, "mode").equals("batch");

    // Two grant mappings a domain (its store and console rings), and the warm-up's.
    static xb::GrantMapper::Pages<2 * StoreService::MAX_DOMAINS + 1> grant_pages;
    static xb::GrantMapper mapper(si, grant_pages);
    volatile shared_info_t* shared = xb::shared_info(si);
    if (!verify("dom0.shared_info", shared != nullptr, "cannot map shared_info")) finish();
    if (!verify("dom0.event_loop", g_loop.init(shared), "cannot register the event callback or bind VIRQ_TIMER"))
        finish();
    // Never destroyed (domain 0 ends by powering off): placed, not a function-local static, whose
    // destructor would need the C++ runtime's atexit.
    alignas(StoreService) static u8 store_mem[sizeof(StoreService)];
    StoreService& store = *new (store_mem) StoreService(g_loop, mapper);
    static ConsoleService console(g_loop, mapper);
    static Toolstack ts(si, store, console);
    if (!verify("dom0.xenstored", store.init(), "the XenStore arena or VIRQ_DOM_EXC failed")) finish();
    static SpareMemory spare(ts.own_memory());
    store.set_memory(&spare);
    if (!verify("dom0.initrd", si->mod_start && si->mod_len, "no initrd")) finish();
    if (!batch) {
        static char prefix[64];
        const StrView want = cmdline_value(cmd, "time_line");
        usize n = 0;
        for (; n < want.len && n + 1 < sizeof(prefix); ++n) prefix[n] = want.ptr[n] == '_' ? ' ' : want.ptr[n];
        console.time_line(StrView(prefix, n));
        prompt(store, console, ts, mapper, cmdline_value(cmd, "time_create").equals("1"));
    }
    run(store, console, ts, mapper);
    if (g_checks) finish();
    console_flush();
    shutdown(SHUTDOWN_poweroff);
}
