#include "guest/dom0/terminal.hpp"

#include "guest/lib/console.hpp"
#include "guest/lib/hypercall.hpp"

namespace dom0 {

bool Terminal::init(EventLoop& loop, LineHandler& handler) {
    u32 port = 0;
    if (xb::evtchn_bind_virq(VIRQ_CONSOLE, &port) != 0) return false;
    handler_ = &handler;
    return loop.add(port, this);
}

void Terminal::show_prompt() {
    print("%s", handler_->prompt());
    console_flush();
}

void Terminal::edit(char c) {
    const bool after_cr = last_cr_;
    last_cr_ = c == '\r';
    if (c == '\r' || c == '\n') {
        if (c == '\n' && after_cr) return;
        console_write("\n", 1);
        const usize n = len_;
        len_ = 0;
        busy_ = true;
        handler_->line(line_, n);
        busy_ = false;
        show_prompt();
        return;
    }
    if (c == 0x7f || c == '\b') {
        if (len_) {
            --len_;
            console_write("\b \b", 3);
        }
        return;
    }
    if (c == 0x15) {  // Ctrl-U
        for (; len_; --len_) console_write("\b \b", 3);
        return;
    }
    if (static_cast<unsigned char>(c) < 0x20 || len_ == LINE_MAX) return;
    line_[len_++] = c;
    console_write(&c, 1);
}

bool Terminal::on_event(u32) {
    // While a line is handled (the handler may run the loop), line input waits in the
    // hypervisor's ring: the outer call reads it once the handler returned.
    if (busy_ && !raw_) return false;
    char buf[64];
    for (;;) {
        const long n = hc::console_io(CONSOLEIO_read, sizeof(buf), buf);
        if (n <= 0) return false;
        if (!raw_) {
            for (long i = 0; i < n; ++i) edit(buf[i]);
            continue;
        }
        usize end = 0;
        while (end < static_cast<usize>(n) && buf[end] != DETACH) ++end;
        if (end) raw_->bytes(buf, end);
        if (end < static_cast<usize>(n)) {
            raw_ = nullptr;  // Ctrl-]: the session ends; the rest of this read was typed into it
            return false;
        }
    }
}

}  // namespace dom0
