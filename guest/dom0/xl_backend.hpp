// xl's Backend (guest/lib/xl/backend.hpp) in domain 0: each method is what libxl does for it,
// done with domctl/sysctl, XenStore (our own xenstored, through domain 0's client) and the
// console backend.  The file store is the initrd (a cpio archive): paths are looked up with
// any leading '/' removed.
//
// The backend remembers, for each domain it created, the DomainConfig and the creation time
// (xl's saved config and `xl uptime`).  serve() is one turn of domain 0's loop; whenever
// VIRQ_DOM_EXC fired it reaps: acts on domains that shut down as their on_poweroff/on_reboot/on_crash
// say (destroy, restart, rename-restart, preserve), as xl's per-domain daemon does.
#pragma once
#include "guest/dom0/terminal.hpp"
#include "guest/dom0/toolstack.hpp"
#include "guest/lib/xl/backend.hpp"

namespace dom0 {

class XlBackend final : public xl::Backend {
public:
    static constexpr unsigned MAX_CONFIGS = StoreService::MAX_DOMAINS;

    XlBackend(const start_info_t* si, EventLoop& loop, StoreService& store, ConsoleService& console,
              Toolstack& ts, Terminal& term)
        : si_(si), loop_(loop), store_(store), console_(console), ts_(ts), term_(term) {}

    // Writes Domain-0's name and ID into XenStore.
    void init();
    // One turn of domain 0's event loop, then reap() if VIRQ_DOM_EXC fired since the last turn:
    // the prompt's loop and `xl console`'s both run on it.
    void serve();
    // Acts on the domains that shut down (see above).
    void reap();

    pv::Result<void> list_domains(xl::DomainInfo* out, usize max, usize* count) override;
    pv::Result<void> host_info(xl::HostInfo& out) override;
    pv::Result<const xlcfg::DomainConfig*> domain_config(u32 domid) override;
    pv::Result<u32> create(const xlcfg::DomainConfig& cfg) override;
    pv::Result<void> destroy(u32 domid) override;
    pv::Result<void> request_shutdown(u32 domid, xl::ShutdownRequest what) override;
    pv::Result<xl::DomainFate> wait_shutdown(u32 domid) override;
    pv::Result<void> pause(u32 domid) override;
    pv::Result<void> unpause(u32 domid) override;
    pv::Result<void> rename(u32 domid, const char* name) override;
    pv::Result<xl::CreditParams> sched_credit_get(u32 domid) override;
    pv::Result<void> sched_credit_set(u32 domid, const xl::CreditParams& p) override;
    pv::Result<xl::CreditPoolParams> sched_credit_pool_get() override;
    pv::Result<void> sched_credit_pool_set(const xl::CreditPoolParams& p) override;
    pv::Result<void> set_memory_target(u32 domid, u64 kib) override;
    pv::Result<void> set_max_memory(u32 domid, u64 kib) override;
    pv::Result<void> vcpu_list(u32 domid, xl::VcpuInfo* out, usize max, usize* count) override;
    pv::Result<void> vcpu_pin(u32 domid, u32 vcpu, const u64* hard, const u64* soft) override;
    pv::Result<void> vcpu_set_online(u32 domid, u32 n) override;
    pv::Result<void> read_hypervisor_console(pv::Sink& out, bool clear) override;
    pv::Result<u64> uptime_seconds(u32 domid) override;
    u64 wallclock_seconds() override;
    pv::Result<void> console(u32 domid) override;
    pv::Result<void> read_file(const char* path, const char** data, usize* size) override;

private:
    struct Record {
        bool used = false;
        bool handled = false;  // its shutdown was acted on (preserve)
        u32 domid = 0;
        u64 created_ns = 0;
        xlcfg::DomainConfig cfg;
    };
    Record* record(u32 domid);
    // Builds the domain from cfg (paused) and records it.
    pv::Result<u32> build(const xlcfg::DomainConfig& cfg);
    pv::Result<void> xs_write(u32 domid, const char* rel, const char* value);
    void act_on_shutdown(Record& r, u32 reason);

    const start_info_t* si_;
    EventLoop& loop_;
    StoreService& store_;
    ConsoleService& console_;
    Toolstack& ts_;
    Terminal& term_;
    Record records_[MAX_CONFIGS];
    u64 dom_exc_seen_ = 0;  // store_.dom_exc_count() at the last reap
};

}  // namespace dom0
