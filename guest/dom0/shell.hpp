// Domain 0's prompt: each line typed at the terminal (terminal.hpp) is split into words as a
// shell splits a simple command (xl::tokenize) and run:
//
//   xl <command> [args...]  Xen 4.17's xl (guest/lib/xl) over domain 0's backend (xl_backend.hpp)
//   ls                      the files of the read-only store (the initrd), with their sizes
//   xenstore-ls [PATH]      the XenStore tree under PATH (default /), as Xen's xenstore-ls prints it
//   xenstore-read PATH...   the values at PATHs, one a line, as Xen's xenstore-read
//   help                    these commands
//   poweroff                destroys every domU and powers the machine off
//
// Both of xl's output streams go to domain 0's console; after each command the exit status of
// a failed one is shown as "(exit status N)".  The prompt is "root@pvisor-dom0# ".
#pragma once
#include "guest/dom0/terminal.hpp"
#include "guest/dom0/xl_backend.hpp"
#include "guest/lib/xenbus/xs_client.hpp"

namespace dom0 {

class Shell final : public Terminal::LineHandler {
public:
    Shell(const start_info_t* si, XlBackend& xl, xb::XsClient& xs) : si_(si), xl_(xl), xs_(xs) {}

    void line(const char* s, usize n) override;
    const char* prompt() const override { return "root@pvisor-dom0# "; }
    // Runs one command line as if typed (the manifest's autostart lines); its exit status.
    int run(const char* s, usize n);

private:
    void list_files();
    void power_off();
    int xenstore_ls(int argc, char** argv);
    int xenstore_read(int argc, char** argv);
    bool list_tree(char* path, usize len, unsigned depth);

    const start_info_t* si_;
    XlBackend& xl_;
    xb::XsClient& xs_;  // domain 0's own XenStore connection
};

}  // namespace dom0
