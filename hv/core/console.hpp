// The hypervisor console: log levels (Xen's loglvl), output drivers (serial, ...), and a ring of
// recent output for later reading (xl dmesg).  Each printed line is written whole under a lock,
// so lines from different CPUs do not interleave.
#pragma once
#include "lib/format.hpp"
#include "lib/list.hpp"
#include "lib/types.hpp"

namespace pv {

enum class LogLevel : u8 { error = 1, warning = 2, info = 3, debug = 4 };

// An output device for the console, e.g. the 16550 UART.
class ConsoleDriver : public ListLink<> {
public:
    virtual void write(const char* s, usize n) = 0;

protected:
    ~ConsoleDriver() = default;
};

namespace console {

void add_driver(ConsoleDriver& d);
// Messages above this level are dropped (Xen's loglvl=; default "warning" in Xen, "info" here).
void set_level(LogLevel lvl);
// loglvl=none: no leveled message at all (printk and the panic path still print).
void set_none();
LogLevel level();
// Parses a Xen loglvl value: none, error, warning, info, debug, all.
bool parse_level(const char* s, usize n, LogLevel* out, bool* none);
void set_silent(bool silent);

// Raw output with no prefix or level (used by the panic path and the line writer).
void write(const char* s, usize n);
// A guest's output (CONSOLEIO_write): raw to the drivers but not into the ring, as Xen without
// console_to_ring (its default), so `xl dmesg` shows the hypervisor's own messages only.  It
// leaves the hypervisor's line tracking alone: a message after a guest's partial line still
// gets its "(pvisor) " prefix, as Xen's printk does.
void write_guest(const char* s, usize n);
// Copies up to size bytes of the most recent console output into buf; returns the byte count.
usize read_ring(char* buf, usize size);
// XEN_SYSCTL_readconsole (Xen's read_console_ring): copies what the ring holds from its read
// position on — or from `index` (a 32-bit position, as Xen's) when incremental and index lies
// within the unread part — into buf (at most size bytes); *next is the position after the last
// byte copied (its low 32 bits are the ABI's index).  clear_ring(next) then moves the read
// position there, so later reads start after it.  The ring keeps RING_SIZE bytes: older output
// is lost and the read position follows.
inline constexpr usize RING_SIZE = 16 * 1024;
usize read_ring_from(u32 index, bool incremental, char* buf, usize size, u64* next);
void clear_ring(u64 upto);
// Panic: drop the console lock so a CPU that died holding it cannot silence the dying message.
void force_unlock();

}  // namespace console

void log(LogLevel lvl, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void vlog(LogLevel lvl, const char* fmt, va_list ap);
// Prints unconditionally with the console prefix (banner, panic).
void printk(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

#define pv_err(...) ::pv::log(::pv::LogLevel::error, __VA_ARGS__)
#define pv_warn(...) ::pv::log(::pv::LogLevel::warning, __VA_ARGS__)
#define pv_info(...) ::pv::log(::pv::LogLevel::info, __VA_ARGS__)
#define pv_debug(...) ::pv::log(::pv::LogLevel::debug, __VA_ARGS__)

}  // namespace pv
