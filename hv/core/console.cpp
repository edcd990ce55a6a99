#include "core/console.hpp"

#include "lib/spinlock.hpp"
#include "lib/string.hpp"

namespace pv {
namespace {

using console::RING_SIZE;

struct ConsoleState {
    Spinlock lock;
    List<ConsoleDriver> drivers;
    LogLevel level = LogLevel::info;
    bool none = false;
    bool silent = false;
    bool at_line_start = true;
    char ring[RING_SIZE];
    u64 ring_pos = 0;  // total bytes ever written; ring index = pos % RING_SIZE
    u64 ring_read = 0;  // readconsole's read position (cleared up to here); at most RING_SIZE behind
};

ConsoleState& state() {
    static ConsoleState s;  // constructed on first use (no static constructors needed)
    return s;
}

void emit_locked(ConsoleState& s, const char* p, usize n, bool to_ring = true) {
    if (to_ring) {
        for (usize i = 0; i < n; ++i) s.ring[(s.ring_pos + i) % RING_SIZE] = p[i];
        s.ring_pos += n;
    }
    if (s.silent) return;
    for (auto& d : s.drivers) d.write(p, n);
}

// Writes text, putting the "(pvisor) " prefix at the start of each line.
class LineSink final : public Sink {
public:
    explicit LineSink(ConsoleState& s) : s_(s) {}
    void put(const char* p, usize n) override {
        static constexpr char prefix[] = "(pvisor) ";
        while (n) {
            if (s_.at_line_start) {
                emit_locked(s_, prefix, sizeof(prefix) - 1);
                s_.at_line_start = false;
            }
            usize k = 0;
            while (k < n && p[k] != '\n') ++k;
            if (k < n) {
                emit_locked(s_, p, k + 1);
                s_.at_line_start = true;
                ++k;
            } else {
                emit_locked(s_, p, k);
            }
            p += k;
            n -= k;
        }
    }

private:
    ConsoleState& s_;
};

void print_locked(const char* fmt, va_list ap) {
    auto& s = state();
    IrqSpinGuard g(s.lock);
    LineSink sink(s);
    vformat(sink, fmt, ap);
}

}  // namespace

namespace console {

void add_driver(ConsoleDriver& d) {
    auto& s = state();
    IrqSpinGuard g(s.lock);
    s.drivers.push_back(d);
}

void set_level(LogLevel lvl) {
    state().level = lvl;
    state().none = false;
}
void set_none() { state().none = true; }
LogLevel level() { return state().level; }
void set_silent(bool silent) { state().silent = silent; }

bool parse_level(const char* str, usize n, LogLevel* out, bool* none) {
    StrView v(str, n);
    *none = false;
    if (v.equals("none")) {
        *none = true;
        *out = LogLevel::error;
    } else if (v.equals("error")) {
        *out = LogLevel::error;
    } else if (v.equals("warning")) {
        *out = LogLevel::warning;
    } else if (v.equals("info")) {
        *out = LogLevel::info;
    } else if (v.equals("debug") || v.equals("all")) {
        *out = LogLevel::debug;
    } else {
        return false;
    }
    return true;
}

void write(const char* p, usize n) {
    auto& s = state();
    IrqSpinGuard g(s.lock);
    emit_locked(s, p, n);
    if (n) s.at_line_start = p[n - 1] == '\n';
}

void write_guest(const char* p, usize n) {
    auto& s = state();
    IrqSpinGuard g(s.lock);
    emit_locked(s, p, n, false);  // the hypervisor's own line tracking is not the guest's
}

usize read_ring(char* buf, usize size) {
    auto& s = state();
    IrqSpinGuard g(s.lock);
    u64 avail = s.ring_pos < RING_SIZE ? s.ring_pos : RING_SIZE;
    usize n = static_cast<usize>(avail < size ? avail : size);
    u64 start = s.ring_pos - n;
    for (usize i = 0; i < n; ++i) buf[i] = s.ring[(start + i) % RING_SIZE];
    return n;
}

usize read_ring_from(u32 index, bool incremental, char* buf, usize size, u64* next) {
    auto& s = state();
    IrqSpinGuard g(s.lock);
    const u64 p = s.ring_pos;
    u64 c = p - s.ring_read > RING_SIZE ? p - RING_SIZE : s.ring_read;
    // index in (c, p], counted modulo 2^32: its distance back from p is below p - c.
    const u32 back = static_cast<u32>(p) - index;
    if (incremental && back < p - c) c = p - back;
    const usize n = static_cast<usize>(p - c < size ? p - c : size);
    for (usize i = 0; i < n; ++i) buf[i] = s.ring[(c + i) % RING_SIZE];
    *next = c + n;
    return n;
}

void clear_ring(u64 upto) {
    auto& s = state();
    IrqSpinGuard g(s.lock);
    s.ring_read = upto;
}

void force_unlock() { state().lock.force_release(); }

}  // namespace console

void vlog(LogLevel lvl, const char* fmt, va_list ap) {
    auto& s = state();
    if (s.none || static_cast<u8>(lvl) > static_cast<u8>(s.level)) return;
    print_locked(fmt, ap);
}

void log(LogLevel lvl, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vlog(lvl, fmt, ap);
    va_end(ap);
}

void printk(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    print_locked(fmt, ap);
    va_end(ap);
}

}  // namespace pv
