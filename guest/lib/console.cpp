#include "guest/lib/console.hpp"

#include "guest/lib/hypercall.hpp"
#include "lib/format.hpp"

namespace pvg {

namespace {

constinit ConsoleWriter g_writer = nullptr;

class LineSink final : public pv::Sink {
public:
    void put(const char* s, usize n) override {
        for (usize i = 0; i < n; ++i) {
            buf_[len_++] = s[i];
            if (s[i] == '\n' || len_ == sizeof(buf_)) flush();
        }
    }
    void flush() {
        if (len_) (g_writer ? g_writer : console_write)(buf_, len_);
        len_ = 0;
    }

private:
    char buf_[512]{};
    usize len_ = 0;
};

// One vCPU and no interrupts: no locking needed.
constinit LineSink line_sink;

}  // namespace

void console_write(const char* s, usize n) {
    // CONSOLEIO_write returns 0 on success with every byte taken (Xen's guest_console_write
    // copies in chunks itself); a negative value is an error and nothing sensible remains.
    while (n) {
        unsigned chunk = n > 4096 ? 4096u : static_cast<unsigned>(n);
        if (hc::console_io(CONSOLEIO_write, chunk, s) < 0) return;
        s += chunk;
        n -= chunk;
    }
}

void vprint(const char* fmt, va_list ap) { pv::vformat(line_sink, fmt, ap); }

void print(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vprint(fmt, ap);
    va_end(ap);
}

void console_flush() { line_sink.flush(); }

void set_console_writer(ConsoleWriter writer) {
    line_sink.flush();
    g_writer = writer;
}

}  // namespace pvg
