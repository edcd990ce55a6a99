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
    "  xenstore-ls [PATH]   list the XenStore tree under PATH\n"
    "  xenstore-read PATH.. print the XenStore values at PATHs\n"
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
    if (cmd.equals("xenstore-ls")) return xenstore_ls(static_cast<int>(argc), argv);
    if (cmd.equals("xenstore-read")) return xenstore_read(static_cast<int>(argc), argv);
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

// XenStore paths and values are bounded by the wire format (XENSTORE_ABS_PATH_MAX, and a
// payload of XENSTORE_PAYLOAD_MAX).
namespace {
char g_value[XENSTORE_PAYLOAD_MAX + 1];
char g_path[XENSTORE_ABS_PATH_MAX + 2];
constexpr unsigned MAX_DEPTH = 32;
}  // namespace

int Shell::xenstore_read(int argc, char** argv) {
    if (argc < 2) {
        print("Usage: xenstore-read [-h] key [...]\n");
        return 2;
    }
    for (int i = 1; i < argc; ++i) {
        u32 len = 0;
        if (const int rc = xs_.read(argv[i], g_value, sizeof(g_value), &len)) {
            print("xenstore-read: couldn't read path %s: %s\n", argv[i], pv::errno_name(static_cast<pv::Errno>(rc)));
            return 1;
        }
        print("%.*s\n", static_cast<int>(len), g_value);
    }
    return 0;
}

// Xen's xenstore-ls layout: each node as `name = "value"`, indented one space per level below
// the listed path; children in the order the store gives them.
bool Shell::list_tree(char* path, usize len, unsigned depth) {
    static char names[MAX_DEPTH][XENSTORE_PAYLOAD_MAX + 1];
    u32 n = 0;
    if (depth >= MAX_DEPTH || xs_.directory(len ? path : "/", names[depth], sizeof(names[depth]), &n)) return false;
    for (u32 at = 0; at < n;) {
        const char* name = names[depth] + at;
        const usize name_len = pv::str_len(name);
        at += static_cast<u32>(name_len) + 1;
        const usize child_len = len + 1 + name_len;
        if (child_len + 1 > sizeof(g_path)) continue;
        path[len] = '/';
        pv::mem_copy(path + len + 1, name, name_len + 1);
        u32 vlen = 0;
        if (xs_.read(path, g_value, sizeof(g_value), &vlen)) vlen = 0;
        print("%*s%s = \"%.*s\"\n", static_cast<int>(depth), "", name, static_cast<int>(vlen), g_value);
        (void)list_tree(path, child_len, depth + 1);
        path[len] = '\0';
    }
    return true;
}

int Shell::xenstore_ls(int argc, char** argv) {
    const char* root = argc > 1 ? argv[1] : "/";
    usize len = pv::str_len(root);
    while (len > 0 && root[len - 1] == '/') --len;  // "/" lists from the top, "/a/" as "/a"
    if (len + 1 > sizeof(g_path)) {
        print("xenstore-ls: path too long\n");
        return 1;
    }
    pv::mem_copy(g_path, root, len);
    g_path[len] = '\0';
    if (!list_tree(g_path, len, 0)) {
        print("xenstore-ls: xs_directory (%s): not found\n", len ? g_path : "/");
        return 1;
    }
    return 0;
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
