#include "guest/dom0/shell.hpp"

#include "guest/lib/builder/cpio.hpp"
#include "guest/lib/console.hpp"
#include "guest/lib/hypercall.hpp"
#include "guest/lib/xl/tokenize.hpp"
#include "guest/lib/xl/xl.hpp"
#include "lib/string.hpp"

namespace dom0 {

namespace {

// xl's stdout and stderr: domain 0's console (line-buffered, so lines stay whole).
class ConsoleSink final : public pv::Sink {
public:
    void put(const char* s, usize n) override { print("%.*s", static_cast<int>(n), s); }
};

constexpr const char* HELP =
    "Commands:\n"
    "  xl <command> [args]  manage domains as with Xen's xl (`xl help` lists its commands)\n"
    "  ls                   list the files of domain 0's store (kernels, configs)\n"
    "  help                 this text\n"
    "  poweroff             destroy every domain and power the machine off\n"
    "Ctrl-A three times switches the serial line to the hypervisor's debug keys and back;\n"
    "Ctrl-] leaves `xl console`.\n";

}  // namespace

void Shell::line(const char* s, usize n) {
    if (const int status = run(s, n)) print("(exit status %d)\n", status);
}

int Shell::run(const char* s, usize n) {
    static char words[Terminal::LINE_MAX * 2];
    static char* argv[xl::MAX_ARGS + 1];
    usize argc = 0;
    const xl::TokenizeStatus t = xl::tokenize(s, n, words, sizeof(words), argv, xl::MAX_ARGS, &argc);
    if (t != xl::TokenizeStatus::ok) {
        print("sh: %s\n", xl::tokenize_message(t));
        return 2;
    }
    if (argc == 0) return 0;
    const pv::StrView cmd(argv[0]);
    if (cmd.equals("xl")) {
        ConsoleSink out;
        xl::Output o(out, out);
        const int status = xl::xl_main(static_cast<int>(argc), argv, xl_, o);
        console_flush();
        return status;
    }
    if (cmd.equals("help")) {
        print("%s", HELP);
        return 0;
    }
    if (cmd.equals("ls")) {
        list_files();
        return 0;
    }
    if (cmd.equals("poweroff")) power_off();
    print("sh: %s: command not found (try `help`)\n", argv[0]);
    return 127;
}

void Shell::list_files() {
    pvb::CpioReader reader(reinterpret_cast<const u8*>(si_->mod_start), si_->mod_len);
    pvb::CpioEntry e;
    pv::Diagnostics diags;
    while (reader.next(e, diags))
        print("%10lu  %.*s\n", e.size, static_cast<int>(e.name.len), e.name.ptr);
    for (usize i = 0; i < diags.count(); ++i) print("ls: %s\n", diags.message(i));
}

void Shell::power_off() {
    static xl::DomainInfo doms[xl::Backend::MAX_DOMAINS];
    usize count = 0;
    if (xl_.list_domains(doms, xl::Backend::MAX_DOMAINS, &count))
        for (usize i = 0; i < count; ++i)
            if (doms[i].domid != 0) (void)xl_.destroy(doms[i].domid);
    print("dom0: powering off\n");
    console_flush();
    shutdown(SHUTDOWN_poweroff);
}

}  // namespace dom0
