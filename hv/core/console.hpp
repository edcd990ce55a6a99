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
// Copies up to size bytes of the most recent console output into buf; returns the byte count.
usize read_ring(char* buf, usize size);
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
