// dom0test's hostile-guest modes (issue 9, and issue 5's isolation): mode=attack runs the attack
// suite, mode=fuzz the hypercall fuzzer, each as unprivileged domUs beside a victim domU.
//
// The victim is domutest in mode=victim (guest/domutest/victim.hpp): a data region with a
// checksum and a heartbeat, published in its console page.  Domain 0 reads that page and the
// data frames through read-only foreign mappings, and after each hostile domU checks that the
// victim is intact: still running (not shut down), the data's checksum as domain 0 computes it
// equal to the one the victim published at start, no mismatch found by the victim's own
// rechecks, and its heartbeat advanced.
//
// mode=attack: for each class of guest/attack (ATTACKS below, in the order they run), domain 0
// builds attack.elf with `attack=<class>`, makes the grants and event channels the attacker
// aims at (guest/attack/protocol.hpp) and writes their numbers into the attacker's console page,
// starts it and waits for its end.  Checks per class:
//   attack.<class>.shutdown_poweroff|shutdown_crash  how it ended (crash: the hypervisor killed
//                                                    it, and only it)
//   attack.<class>.<its own checks>                  relayed from its console ring
//   attack.<class>.verdict                           (poweroff classes) its verdict said PASS
//   attack.<class>.memory_returned                   free pages back after its destruction
//   attack.<class>.victim_intact                     the victim as above
// (grant_held_at_death also attack.<class>.grants_released: domain 0's own grants after the
// attacker died holding maps of them), and at the end attack.victim_shutdown_poweroff (told to stop, it powers off) and
// attack.victim_memory_returned.  Free pages are compared with a baseline taken after a warm-up
// victim (warm_up(): Xen 4.17 keeps a frame the first time).  only=<class> runs one class.
//
// mode=fuzz: fuzz.elf as a 16 MiB domU with our seed=, calls= and trace=, aimed at the victim's
// status page and a data frame (target_mfns=): fuzz.shutdown_poweroff, its verdict (fuzz.verdict,
// from its ring), fuzz.memory_returned, fuzz.victim_intact, then the victim's end as above.
#include "guest/dom0test/dom0test.hpp"  // first: the builder's Xen headers

#include "guest/attack/protocol.hpp"
#include "guest/domutest/victim.hpp"
#include "guest/lib/builder/builder.hpp"
#include "guest/lib/builder/foreign.hpp"
#include "guest/lib/builder/xenctl.hpp"
#include "guest/lib/xenbus/grant.hpp"
#include "guest/lib/entry_state.hpp"
#include "lib/format.hpp"

namespace dom0t {
namespace {

constexpr u64 MS = 1'000'000;
constexpr u64 VICTIM_MEMORY = 8 * pv::MiB, ATTACKER_MEMORY = 8 * pv::MiB, FUZZER_MEMORY = 16 * pv::MiB;
constexpr i32 ATTACKER_MAPTRACK_FRAMES = 4;
constexpr u64 VICTIM_START_WAIT = 2000 * MS;  // for the victim to publish its status
constexpr u64 HEARTBEAT_WAIT = 2000 * MS;     // for its heartbeat to advance after an attack
constexpr u64 ATTACK_WAIT = 60'000 * MS;      // for an attacker to end
constexpr u64 FUZZ_WAIT_BASE = 30'000 * MS;   // for the fuzzer to end: this, plus
constexpr u64 FUZZ_WAIT_PER_CALL = MS;        // this per call (about 10x what either needs)
constexpr u64 POLL_EVERY = 5 * MS;

// What hostile domains wrote to their console rings (one at a time), drained while they run.
char g_console[16384];

pvb::BuildConfig config(const char* file, const char* cmdline, u64 memory) {
    pvb::BuildConfig cfg;
    cfg.cmdline = cmdline;
    cfg.memory = memory;
    cfg.self_pt_base = g_si->pt_base;
    cfg.self_virt_base = reinterpret_cast<uptr>(__image_start);
    cfg.kernel = find_file(file, &cfg.kernel_size);
    return cfg;
}

const char* name2(const char* a, const char* b) {
    static char buf[128];
    pv::format(buf, sizeof buf, "%s.%s", a, b);
    return buf;
}

// ---- the victim ----

struct Victim {
    pvb::BuildConfig cfg;
    pvb::BuiltDomain dom;
    VictimStatus status{};   // as published at start
    u64 checksum = 0;        // of its data frames, as domain 0 read them at start
};

// The victim's status page, read now.
bool read_status(const Victim& v, VictimStatus* out) {
    pv::Diagnostics diags;
    pvb::ForeignWindow win(v.dom.domid, v.cfg.self_pt_base, v.cfg.self_virt_base, diags);
    const u8* page = win.map_readonly(v.dom.console_mfn);
    if (page) pv::mem_copy(out, page + VICTIM_STATUS_OFFSET, sizeof *out);
    (void)win.release();
    report(diags);
    return page != nullptr;
}

// The checksum of the victim's data frames as domain 0 reads them (0 if a frame cannot be
// mapped).
u64 data_checksum(const Victim& v) {
    pv::Diagnostics diags;
    pvb::ForeignWindow win(v.dom.domid, v.cfg.self_pt_base, v.cfg.self_virt_base, diags);
    u64 sum = VICTIM_CHECKSUM_SEED;
    for (unsigned p = 0; p < VICTIM_DATA_PAGES && sum; ++p) {
        const u8* page = win.map_readonly(v.status.data_mfn[p]);
        sum = page ? victim_checksum(sum, reinterpret_cast<const volatile u64*>(page)) : 0;
    }
    (void)win.release();
    report(diags);
    return sum;
}

// Starts the victim and takes its checksum; checks <label>.start, .status_published,
// .checksum_matches.
bool start_victim(Victim& v, const char* label) {
    v.cfg = config("domu.elf", "mode=victim", VICTIM_MEMORY);
    pv::Diagnostics diags;
    pv::Result<void> r = v.cfg.kernel ? pvb::build_domain(v.cfg, v.dom, diags) : pv::error(XEN_ENOENT);
    if (r) r = pvb::unpause(v.dom.domid, diags);
    report(diags);
    if (!check(name2(label, "start"), r.ok(), "%s", v.cfg.kernel ? first_error(diags) : "no domu.elf in the initrd"))
        return false;
    const u64 end = now_ns() + VICTIM_START_WAIT;
    while ((!read_status(v, &v.status) || v.status.magic != VICTIM_MAGIC) && now_ns() < end)
        sleep_until(now_ns() + POLL_EVERY);
    if (!check(name2(label, "status_published"), v.status.magic == VICTIM_MAGIC, "no status after %lu ms",
               VICTIM_START_WAIT / MS))
        return false;
    v.checksum = data_checksum(v);
    info("victim: d%u, checksum %#lx, domain 0 reads %#lx", v.dom.domid, v.status.checksum, v.checksum);
    return check(name2(label, "checksum_matches"), v.checksum == v.status.checksum, "domain 0 reads %#lx, the victim says %#lx",
                 v.checksum, v.status.checksum);
}

// The victim after a hostile domain's run: still running, data unchanged, heartbeat beyond
// `beat_before`, no mismatch seen by itself.
void check_victim(const Victim& v, const char* who, u64 beat_before) {
    VictimStatus now{};
    const u64 end = now_ns() + HEARTBEAT_WAIT;
    while (read_status(v, &now) && now.heartbeat <= beat_before && now_ns() < end) sleep_until(now_ns() + POLL_EVERY);
    pv::Diagnostics diags;
    pv::Result<xen_domctl_getdomaininfo> i = pvb::domain_info(v.dom.domid, diags);
    report(diags);
    const bool running = i && !(i->flags & (XEN_DOMINF_shutdown | XEN_DOMINF_dying));
    const u64 sum = data_checksum(v);
    info("%s: victim heartbeat %lu -> %lu, %lu rechecks, %lu mismatches, checksum %#lx", who, beat_before,
         now.heartbeat, now.rechecks, now.mismatches, sum);
    check(name2(who, "victim_intact"),
          running && now.magic == VICTIM_MAGIC && now.heartbeat > beat_before && now.mismatches == 0 &&
              now.checksum == v.status.checksum && sum == v.checksum,
          "running %d, heartbeat %lu -> %lu, mismatches %lu, checksum %#lx (was %#lx)", running, beat_before,
          now.heartbeat, now.mismatches, sum, v.checksum);
}

u64 heartbeat(const Victim& v) {
    VictimStatus s{};
    return read_status(v, &s) ? s.heartbeat : 0;
}

// A domain's console ring, consumed as a console backend does (its output beyond the ring's
// 2048 bytes would otherwise be lost), into g_console.
class RingReader {
public:
    RingReader(const pvb::BuiltDomain& dom, const pvb::BuildConfig& cfg)
        : win_(dom.domid, cfg.self_pt_base, cfg.self_virt_base, diags_),
          ring_(reinterpret_cast<volatile xencons_interface*>(win_.map(dom.console_mfn))) {}
    ~RingReader() { report(diags_); }
    void drain() {
        if (!ring_) return;
        const XENCONS_RING_IDX prod = ring_->out_prod;
        XENCONS_RING_IDX cons = ring_->out_cons;
        if (prod - cons > sizeof(ring_->out)) cons = prod - static_cast<XENCONS_RING_IDX>(sizeof(ring_->out));
        for (; cons != prod; ++cons)
            if (len_ + 1 < sizeof g_console) g_console[len_++] = ring_->out[MASK_XENCONS_IDX(cons, ring_->out)];
        ring_->out_cons = cons;
    }
    StrView text() const { return StrView(g_console, len_); }

private:
    pv::Diagnostics diags_;
    pvb::ForeignWindow win_;
    volatile xencons_interface* ring_;
    usize len_ = 0;
};

// Waits (sleeping between polls, draining its console) until the domain has shut down; its
// shutdown code, or -1.
int wait_shutdown(domid_t dom, u64 wait, RingReader& console) {
    const u64 end = now_ns() + wait;
    for (;;) {
        console.drain();
        pv::Diagnostics diags;
        pv::Result<xen_domctl_getdomaininfo> i = pvb::domain_info(dom, diags);
        if (!i) {
            report(diags);
            return -1;
        }
        if (i->flags & XEN_DOMINF_shutdown) {
            console.drain();
            return static_cast<int>((i->flags >> XEN_DOMINF_shutdownshift) & XEN_DOMINF_shutdownmask);
        }
        if (now_ns() >= end) return -1;
        sleep_until(now_ns() + POLL_EVERY);
    }
}

// Runs a built hostile domain to its end and judges what is left: how it ended, its console
// ring (its checks relayed under `who`, or the fuzzer's lines as info), its destruction and the
// memory, and the victim.
void finish_hostile(const char* who, const pvb::BuiltDomain& dom, const pvb::BuildConfig& cfg, unsigned expected,
                    u64 wait, const Victim& v, u64 baseline, bool relay_checks) {
    const u64 beat = heartbeat(v);
    pv::Diagnostics diags;
    int code = -1;
    StrView text;
    {
        RingReader console(dom, cfg);
        pv::Result<void> started = pvb::unpause(dom.domid, diags);
        if (started) code = wait_shutdown(dom.domid, wait, console);
        text = console.text();
    }
    const char* want = pvb::shutdown_name(expected);
    char what[32];
    pv::format(what, sizeof what, "shutdown_%s", want);
    const char* got = code >= 0 ? pvb::shutdown_name(static_cast<unsigned>(code)) : nullptr;
    check(name2(who, what), code == static_cast<int>(expected), "ended with code %d (%s)", code,
          got ? got : (code < 0 ? "did not end" : "a code set by the guest"));
    if (relay_checks) {
        bool passed = relay("attack", who, text);
        if (expected != SHUTDOWN_crash) check(name2(who, "verdict"), passed, "no PASS verdict in its console ring");
    } else {
        // The fuzzer's lines ("fuzz: ...") as info, and its verdict.
        bool passed = false;
        for (usize pos = 0; pos < text.len;) {
            usize end = text.find('\n', pos);
            StrView line = text.substr(pos, end - pos);
            if (line.len) info("%.*s", static_cast<int>(line.len), line.ptr);
            passed |= line.starts_with("fuzz: verdict: PASS");
            pos = end + 1;
        }
        check(name2(who, "verdict"), passed, "no PASS verdict in its console ring");
    }
    pv::Result<void> gone = pvb::destroy(dom.domid, DESTROY_POLLS, diags);
    report(diags);
    const u64 after = await_memory(baseline);
    check(name2(who, "memory_returned"), gone.ok() && after == baseline, "destroyed %d, free pages %lu, baseline %lu",
          gone.ok(), after, baseline);
    check_victim(v, who, beat);
}

// ---- domain 0's grants and ports for the attackers ----

alignas(4096) constinit u8 g_page_a[4096];
xb::GrantTable g_grants;

bool map_grant_table() {
    i16 status = GNTST_okay;
    long rc = g_grants.init(&status);
    return check("attack.dom0_grant_table", rc == 0, "setup_table %ld, status %d", rc, status);
}

u64 own_mfn(const void* p) {
    const auto* p2m = reinterpret_cast<const xen_pfn_t*>(g_si->mfn_list);
    return p2m[(reinterpret_cast<uptr>(p) - reinterpret_cast<uptr>(__image_start)) >> PAGE_SHIFT];
}

void grants_for(domid_t attacker, domid_t victim) {
    const u64 a = own_mfn(g_page_a);
    (void)g_grants.grant(GREF_RW, attacker, a, false);
    (void)g_grants.grant(GREF_VICTIMS, victim, a, false);
    (void)g_grants.grant(GREF_RO, attacker, a, true);
    (void)g_grants.grant(GREF_REVOKED, attacker, a, false);
    (void)g_grants.revoke(GREF_REVOKED);
}

// After an attacker died holding maps of GREF_RW (writing GRANT_MARKER) and GREF_RO: both
// entries released, the marker in page A.
void check_grants_released(const char* who) {
    const u16 rw = g_grants.flags(GREF_RW), ro = g_grants.flags(GREF_RO);
    const u64 marker = *reinterpret_cast<const volatile u64*>(g_page_a);
    check(name2(who, "grants_released"),
          rw == GTF_permit_access && ro == (GTF_permit_access | GTF_readonly) && marker == GRANT_MARKER,
          "flags %#x and %#x, page A %#lx", rw, ro, marker);
}

void revoke_all() {
    for (grant_ref_t r : {GREF_RW, GREF_VICTIMS, GREF_RO, GREF_REVOKED}) (void)g_grants.revoke(r);
}

// A port allocated in domain `in` (DOMID_SELF: ours) for `remote` to bind; 0 on failure.
u32 alloc_unbound(domid_t in, domid_t remote) {
    evtchn_alloc_unbound_t a{};
    a.dom = in;
    a.remote_dom = remote;
    return hc::event_channel_op(EVTCHNOP_alloc_unbound, &a) == 0 ? a.port : 0;
}

struct AttackClass {
    const char* name;
    unsigned expected;  // SHUTDOWN_poweroff: refused, it reports; SHUTDOWN_crash: killed
    void (*after)(const char* who) = nullptr;  // checks of domain 0's own once it is gone
};

// In guest/attack's order (README's table).
constexpr AttackClass ATTACKS[] = {
    {"pt_writable_direct", SHUTDOWN_poweroff},    {"pt_writable_linear", SHUTDOWN_poweroff},
    {"pt_writable_grant", SHUTDOWN_poweroff},     {"foreign_frames", SHUTDOWN_poweroff},
    {"gdt_writable_alias", SHUTDOWN_poweroff},    {"bad_descriptors", SHUTDOWN_poweroff},
    {"sysret_noncanonical", SHUTDOWN_poweroff},   {"movss_debug", SHUTDOWN_poweroff},
    {"trap_handler_hv_range", SHUTDOWN_poweroff}, {"vcpu_areas", SHUTDOWN_poweroff},
    {"bounce_stack_unmapped", SHUTDOWN_crash},
    {"bounce_stack_hv_range", SHUTDOWN_crash},    {"grant_foreign", SHUTDOWN_poweroff},
    {"grant_copy", SHUTDOWN_poweroff},            {"grant_unmap_stale", SHUTDOWN_poweroff},
    {"grant_held_at_death", SHUTDOWN_crash, check_grants_released},
    {"memory_exchange", SHUTDOWN_poweroff},       {"evtchn_foreign", SHUTDOWN_poweroff},
    {"control_ops", SHUTDOWN_poweroff},           {"timer_flood", SHUTDOWN_poweroff},
    {"event_flood", SHUTDOWN_poweroff},
};

void run_attack(const AttackClass& a, const Victim& v, u32 dom0_port, u64 baseline) {
    char who[64], cmdline[64];
    pv::format(who, sizeof who, "attack.%s", a.name);
    pv::format(cmdline, sizeof cmdline, "attack=%s", a.name);
    pvb::BuildConfig cfg = config("attack.elf", cmdline, ATTACKER_MEMORY);
    cfg.max_maptrack_frames = ATTACKER_MAPTRACK_FRAMES;
    pvb::BuiltDomain dom;
    pv::Diagnostics diags;
    pv::Result<void> r = cfg.kernel ? pvb::build_domain(cfg, dom, diags) : pv::error(XEN_ENOENT);
    if (r) {
        grants_for(dom.domid, v.dom.domid);
        AttackParams p{};
        p.magic = ATTACK_PARAMS_MAGIC;
        p.self = dom.domid;
        p.victim = v.dom.domid;
        p.victim_port = v.dom.store_evtchn;
        p.victim_mfn = v.status.data_mfn[0];
        p.dom0_mfn = own_mfn(g_page_a);
        p.flood_port = alloc_unbound(v.dom.domid, dom.domid);
        p.dom0_port = dom0_port;
        pvb::ForeignWindow win(dom.domid, cfg.self_pt_base, cfg.self_virt_base, diags);
        u8* page = win.map(dom.console_mfn);
        if (page) pv::mem_copy(page + ATTACK_PARAMS_OFFSET, &p, sizeof p);
        r = win.release();
        if (!page) r = pv::error(XEN_EFAULT);
    }
    report(diags);
    if (!check(name2(who, "build"), r.ok(), "%s", cfg.kernel ? first_error(diags) : "no attack.elf in the initrd")) {
        if (dom.domid != DOMID_INVALID) (void)pvb::destroy(dom.domid, DESTROY_POLLS, diags);
        return;
    }
    finish_hostile(who, dom, cfg, a.expected, ATTACK_WAIT, v, baseline, true);
    if (a.after) a.after(who);
    revoke_all();
}

// Asks the victim to power off at its next beat.
void set_stop(const Victim& v, pv::Diagnostics& diags) {
    pvb::ForeignWindow win(v.dom.domid, v.cfg.self_pt_base, v.cfg.self_virt_base, diags);
    u8* page = win.map(v.dom.console_mfn);
    if (page) reinterpret_cast<volatile VictimStatus*>(page + VICTIM_STATUS_OFFSET)->stop = 1;
}

// Its shutdown code once it stopped, or -1.
int wait_stopped(const Victim& v, pv::Diagnostics& diags) {
    const u64 end = now_ns() + HEARTBEAT_WAIT;
    while (now_ns() < end) {
        pv::Result<xen_domctl_getdomaininfo> i = pvb::domain_info(v.dom.domid, diags);
        if (i && (i->flags & XEN_DOMINF_shutdown))
            return static_cast<int>((i->flags >> XEN_DOMINF_shutdownshift) & XEN_DOMINF_shutdownmask);
        sleep_until(now_ns() + POLL_EVERY);
    }
    return -1;
}

// Stops the victim (it powers off: intact to the end), destroys it, checks the memory.
void destroy_victim(Victim& v, const char* who, u64 baseline) {
    pv::Diagnostics diags;
    set_stop(v, diags);
    const int code = wait_stopped(v, diags);
    check(name2(who, "victim_shutdown_poweroff"), code == SHUTDOWN_poweroff, "victim ended with code %d", code);
    pv::Result<void> gone = pvb::destroy(v.dom.domid, DESTROY_POLLS, diags);
    report(diags);
    const u64 after = await_memory(baseline);
    check(name2(who, "victim_memory_returned"), gone.ok() && after == baseline,
          "destroyed %d, free pages %lu, %lu at start", gone.ok(), after, baseline);
}

// How long the fuzzer may take for calls= (its default when absent).
u64 fuzz_wait(StrView calls) {
    u64 n = 100'000;
    if (!calls.empty()) (void)pv::parse_u64(calls, &n);
    return FUZZ_WAIT_BASE + n * FUZZ_WAIT_PER_CALL;
}

StrView dom0_cmdline() {
    const char* c = reinterpret_cast<const char*>(g_si->cmd_line);
    return StrView(c, pv::str_nlen(c, MAX_GUEST_CMDLINE));
}

u64 free_now() {
    pv::Diagnostics diags;
    pv::Result<u64> f = pvb::free_pages(diags);
    report(diags);
    return f ? *f : 0;
}

// A first victim, started and stopped before the baseline is taken: Xen 4.17 keeps one frame
// for good the first time a victim runs beside domain 0 (a hypervisor structure grown lazily,
// seen with no attacker at all), which would otherwise count against the real victim.  The
// free pages after it are the baseline.
u64 warm_up() {
    const u64 before = free_now();
    Victim v;
    if (!start_victim(v, "warm_up")) return before;
    pv::Diagnostics diags;
    set_stop(v, diags);
    (void)wait_stopped(v, diags);
    (void)pvb::destroy(v.dom.domid, DESTROY_POLLS, diags);
    report(diags);
    const u64 after = await_memory(before);
    info("warm-up victim: free pages %lu before, %lu after", before, after);
    return after;
}

}  // namespace

void run_attacks() {
    // Domain 0's own grant table and ports first, so that their memory is not counted as the
    // victim's: the victim's memory must come back exactly.
    if (!map_grant_table()) return;
    evtchn_close_t probe{alloc_unbound(DOMID_SELF, DOMID_SELF)};
    hc::event_channel_op(EVTCHNOP_close, &probe);
    const u64 baseline = warm_up();
    Victim v;
    if (start_victim(v, "victim")) {
        const u32 dom0_port = alloc_unbound(DOMID_SELF, v.dom.domid);
        const u64 with_victim = free_now();
        info("free pages: %lu at start, %lu with the victim", baseline, with_victim);
        // only=<class> on dom0test's command line runs that class alone.
        StrView only = cmdline_value(dom0_cmdline(), "only");
        for (const AttackClass& a : ATTACKS)
            if (only.empty() || only.equals(a.name)) run_attack(a, v, dom0_port, with_victim);
        info("free pages after the attacks: %lu", free_now());
    }
    if (v.dom.domid != DOMID_INVALID) destroy_victim(v, "attack", baseline);
}

void run_fuzz() {
    const u64 baseline = warm_up();
    Victim v;
    if (start_victim(v, "victim")) {
        const u64 with_victim = free_now();
        // The fuzzer's own command line: seed=, calls= and trace= passed on from ours, and the
        // victim's status page and first data frame to aim at.
        char cmdline[192];
        StrView seed = cmdline_value(dom0_cmdline(), "seed"), calls = cmdline_value(dom0_cmdline(), "calls");
        StrView trace = cmdline_value(dom0_cmdline(), "trace");
        pv::format(cmdline, sizeof cmdline, "seed=%.*s calls=%.*s trace=%.*s target_mfns=%#lx,%#lx",
                   static_cast<int>(seed.len), seed.ptr, static_cast<int>(calls.len), calls.ptr,
                   static_cast<int>(trace.len), trace.ptr, v.dom.console_mfn, v.status.data_mfn[0]);
        pvb::BuildConfig cfg = config("fuzz.elf", cmdline, FUZZER_MEMORY);
        pvb::BuiltDomain dom;
        pv::Diagnostics diags;
        pv::Result<void> r = cfg.kernel ? pvb::build_domain(cfg, dom, diags) : pv::error(XEN_ENOENT);
        report(diags);
        info("fuzzer: %s, free pages %lu with the victim", cmdline, with_victim);
        if (check("fuzz.build", r.ok(), "%s", cfg.kernel ? first_error(diags) : "no fuzz.elf in the initrd"))
            finish_hostile("fuzz", dom, cfg, SHUTDOWN_poweroff, fuzz_wait(calls), v, with_victim, false);
    }
    if (v.dom.domid != DOMID_INVALID) destroy_victim(v, "fuzz", baseline);
}

}  // namespace dom0t
