// What xl's commands share (internal to guest/lib/xl): the command table's entries, the
// per-invocation context with xl's option loop and domain lookup, and the static workspace.
#pragma once
#include "guest/lib/xl/getopt.hpp"
#include "guest/lib/xl/numbers.hpp"
#include "guest/lib/xl/xl.hpp"

namespace xl {

class Context;

// The long options of a command that has none of its own.
inline constexpr LongOption HELP_ONLY[] = {{"help", false, 'h'}, {nullptr, false, 0}};

struct Command {
    const char* name;
    int (*run)(Context& ctx, int argc, char** argv);
    bool modifies;
    bool can_dryrun;
    const char* desc;
    const char* usage;
    const char* options;  // nullptr: none
};

// xl's libxl error codes (libxl_types.idl's libxl_error), which xl prints as "rc=%d".
enum LibxlError : int {
    ERROR_FAIL = -3,
    ERROR_NOMEM = -5,
    ERROR_INVAL = -6,
    ERROR_DOMAIN_NOTFOUND = -21,
};
int libxl_error_of(pv::Errno e);
const char* strerror_text(pv::Errno e);

// The large tables, one copy (xl_main is not reentrant).
struct Workspace {
    alignas(8) unsigned char config[sizeof(xlcfg::Config)];
    alignas(8) unsigned char domain_config[sizeof(xlcfg::DomainConfig)];
    alignas(8) unsigned char diags[sizeof(pv::Diagnostics)];
    DomainInfo doms[Backend::MAX_DOMAINS];
    usize ndoms;
    VcpuInfo vcpus[Backend::MAX_VCPUS];
    HostInfo host;
    char text[4096];
};

class Context {
public:
    static constexpr int DONE = -1;  // next_option: the options are over, operands are fine
    static constexpr int EXIT = -2;  // next_option: the command ends with *status

    Context(Backend& backend, Output& out, Workspace& workspace) : be(backend), o(out), ws(workspace) {}

    // One turn of xl's SWITCH_FOREACH_OPT: an option character, DONE, or EXIT (help printed,
    // or an unsupported option or too few operands reported; *status is xl's exit code).
    int next_option(GetOpt& g, const char* cmd, int reqargs, int* status);
    // The whole loop for a command without options of its own (only -h, --help): DONE or EXIT.
    int operands_only(GetOpt& g, const char* cmd, int reqargs, int* status);
    void help(const char* command);

    // xl's find_domain; false (message printed) when p names no domain.
    bool find_domain(const char* p, u32* domid);
    // The domain list into ws.doms; false (message printed) on failure.
    bool list_domains();
    const DomainInfo* info_of(u32 domid) const;  // after list_domains()
    // Every domain's ID into ids (room for Backend::MAX_DOMAINS), a copy that outlives the next
    // list_domains(); false when the list cannot be had.
    bool domain_ids(u32* ids, usize* n);
    // libxl_domid_to_name: the name, or nullptr.
    const char* name_of(u32 domid);
    // A libxl log line: "libxl: error: Domain <d>:<what>: <errno text>".
    void libxl_log(u32 domid, const char* what, pv::Errno e);

    Backend& be;
    Output& o;
    Workspace& ws;
    char domname[NAME_LEN] = {};  // xl's common_domname: the name find_domain found
};

// The commands (cmd_*.cpp).
int cmd_list(Context&, int, char**);
int cmd_info(Context&, int, char**);
int cmd_domid(Context&, int, char**);
int cmd_domname(Context&, int, char**);
int cmd_uptime(Context&, int, char**);
int cmd_dmesg(Context&, int, char**);
int cmd_vcpu_list(Context&, int, char**);
int cmd_create(Context&, int, char**);
int cmd_destroy(Context&, int, char**);
int cmd_shutdown(Context&, int, char**);
int cmd_reboot(Context&, int, char**);
int cmd_pause(Context&, int, char**);
int cmd_unpause(Context&, int, char**);
int cmd_console(Context&, int, char**);
int cmd_rename(Context&, int, char**);
int cmd_mem_set(Context&, int, char**);
int cmd_mem_max(Context&, int, char**);
int cmd_vcpu_pin(Context&, int, char**);
int cmd_vcpu_set(Context&, int, char**);
int cmd_sched_credit(Context&, int, char**);

}  // namespace xl
