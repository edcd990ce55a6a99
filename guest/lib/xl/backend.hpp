// What `xl` needs from the toolstack and the hypervisor, as one small interface.  xl's commands
// (xl.hpp) are written against it alone, so they run unchanged in domain 0 (whose Backend goes to
// domctl/sysctl, XenStore and the console backend) and on the host under unit tests (a fake that
// records the calls).  The split follows libxl's: a Backend method is one libxl call; argument
// parsing, domain lookup, messages and output formats are xl's and stay on the other side.
//
// Every method returns Xen's errno values (pv::Result).  ESRCH means "no such domain" (xl turns
// it into libxl's ERROR_DOMAIN_NOTFOUND), ENOMEM "not enough free memory", EEXIST a name in use.
// Names are at most NAME_LEN - 1 bytes and never contain '/'.
#pragma once
#include "guest/lib/xlcfg/domain_config.hpp"
#include "lib/format.hpp"
#include "lib/result.hpp"

namespace xl {

using pv::u32;
using pv::u64;
using pv::u8;
using pv::usize;

inline constexpr usize NAME_LEN = xlcfg::DomainConfig::NAME_LEN;

// One domain as XEN_DOMCTL_getdomaininfo reports it (libxl_dominfo), with its XenStore name.
struct DomainInfo {
    u32 domid = 0;
    u8 handle[16] = {};        // the domain's UUID (xen_domain_handle_t)
    char name[NAME_LEN] = {};
    u64 current_kib = 0;       // tot_pages in KiB
    u64 max_kib = 0;           // max_pages in KiB
    u64 outstanding_kib = 0;   // claimed, not yet allocated
    u32 vcpu_online = 0;
    u32 vcpu_max = 0;          // max_vcpu_id + 1
    bool running = false, blocked = false, paused = false, shutdown = false, dying = false;
    u32 shutdown_reason = 0;   // SHUTDOWN_* when shutdown
    u64 cpu_time_ns = 0;
};

// What `xl info` prints (libxl_physinfo, libxl_version_info and uname).
struct HostInfo {
    char host[64] = {};        // uname: node name, release, version, machine
    char release[64] = {};
    char version[64] = {};
    char machine[16] = {};
    u32 nr_cpus = 0, max_cpu_id = 0, nr_nodes = 0, cores_per_socket = 0, threads_per_core = 0;
    u32 cpu_khz = 0;
    u32 hw_cap[8] = {};
    char virt_caps[192] = {};  // each capability preceded by a space, as xl prints them: " pv gnttab-v1"
    u64 total_pages = 0, free_pages = 0, outstanding_pages = 0;
    u64 sharing_freed_pages = 0, sharing_used_frames = 0;
    u32 free_cpus = 0;
    u32 xen_major = 0, xen_minor = 0;
    char xen_extra[16] = {};
    char xen_caps[128] = {};
    char xen_scheduler[16] = {};
    u32 pagesize = 0;          // bytes; 0 means 4096 (and keeps the workspace in .bss)
    u64 virt_start = 0;
    char changeset[64] = {};
    char commandline[1024] = {};
    char compiler[64] = {};
    char compile_by[32] = {};
    char compile_domain[32] = {};
    char compile_date[32] = {};
    char build_id[48] = {};

    u32 page_size() const { return pagesize ? pagesize : 4096; }
};

struct VcpuInfo {
    u32 vcpuid = 0;
    u32 cpu = 0;
    bool online = false, running = false, blocked = false;
    u64 time_ns = 0;
    u64 hard_affinity = 0;     // bit n: physical CPU n (xlcfg::DomainConfig::MAX_CPUS of them)
    u64 soft_affinity = 0;
};

struct CreditParams {          // one domain's credit-scheduler parameters
    u32 weight = 256;
    u32 cap = 0;
};

struct CreditPoolParams {      // the credit scheduler's global ones (cpupool 0)
    u32 tslice_ms = 0;
    u32 ratelimit_us = 0;
    u32 migration_delay_us = 0;
};

enum class ShutdownRequest : u8 { poweroff, reboot };

// How a waited-for domain went.
struct DomainFate {
    bool destroyed = false;    // gone (no shutdown seen)
    u32 reason = 0;            // SHUTDOWN_* otherwise
};

class Backend {
public:
    static constexpr usize MAX_DOMAINS = 129;  // domain 0 and the 128 domUs domain 0 serves
    static constexpr usize MAX_VCPUS = xlcfg::DomainConfig::MAX_VCPUS;

    // Every domain, by increasing domid; *count of them (at most max) go into out.
    virtual pv::Result<void> list_domains(DomainInfo* out, usize max, usize* count) = 0;
    virtual pv::Result<void> host_info(HostInfo& out) = 0;
    // The configuration a domain was created from; ENOENT when it has none (domain 0).
    virtual pv::Result<const xlcfg::DomainConfig*> domain_config(u32 domid) = 0;

    // Builds the domain, paused; ENOMEM when it does not fit, EEXIST when its name is in use.
    virtual pv::Result<u32> create(const xlcfg::DomainConfig& cfg) = 0;
    virtual pv::Result<void> destroy(u32 domid) = 0;
    // Writes the request into the domain's control/shutdown node.
    virtual pv::Result<void> request_shutdown(u32 domid, ShutdownRequest what) = 0;
    // Blocks until the domain shuts down or disappears.
    virtual pv::Result<DomainFate> wait_shutdown(u32 domid) = 0;
    virtual pv::Result<void> pause(u32 domid) = 0;
    virtual pv::Result<void> unpause(u32 domid) = 0;
    virtual pv::Result<void> rename(u32 domid, const char* name) = 0;

    virtual pv::Result<CreditParams> sched_credit_get(u32 domid) = 0;
    virtual pv::Result<void> sched_credit_set(u32 domid, const CreditParams& p) = 0;
    virtual pv::Result<CreditPoolParams> sched_credit_pool_get() = 0;
    virtual pv::Result<void> sched_credit_pool_set(const CreditPoolParams& p) = 0;

    // The balloon target (memory/target) and the hard limit (XEN_DOMCTL_max_mem), in KiB.
    virtual pv::Result<void> set_memory_target(u32 domid, u64 kib) = 0;
    virtual pv::Result<void> set_max_memory(u32 domid, u64 kib) = 0;

    virtual pv::Result<void> vcpu_list(u32 domid, VcpuInfo* out, usize max, usize* count) = 0;
    // Either mask may be nullptr: that affinity stays as it is.
    virtual pv::Result<void> vcpu_pin(u32 domid, u32 vcpu, const u64* hard, const u64* soft) = 0;
    // Brings vCPUs 0..n-1 online and the others offline (cpu/<n>/availability).
    virtual pv::Result<void> vcpu_set_online(u32 domid, u32 n) = 0;

    // The hypervisor's console ring (SYSCTL_readconsole) into out; clear empties it afterwards.
    virtual pv::Result<void> read_hypervisor_console(pv::Sink& out, bool clear) = 0;
    // Seconds since the domain was created (domain 0: since boot).
    virtual pv::Result<u64> uptime_seconds(u32 domid) = 0;
    // Wall-clock seconds since the epoch (UTC), for `uptime -s`.
    virtual u64 wallclock_seconds() = 0;

    // Connects the caller's terminal to the domain's console until the user detaches (Ctrl-]).
    virtual pv::Result<void> console(u32 domid) = 0;
    // A file of domain 0's read-only store (kernels, ramdisks, configs); ENOENT when absent.
    virtual pv::Result<void> read_file(const char* path, const char** data, usize* size) = 0;

protected:
    ~Backend() = default;
};

}  // namespace xl
