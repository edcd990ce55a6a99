// Console output through HYPERVISOR_console_io(CONSOLEIO_write), which Xen honours from the
// hardware domain (release builds refuse it from other domains).  Output is line-buffered and
// each line goes out in one hypercall, so the hypervisor's own messages never split a line.
#pragma once
#include <stdarg.h>

#include "guest/lib/types.hpp"

namespace pvg {

// Writes raw bytes at once, looping until the hypervisor took them all.
void console_write(const char* s, usize n);

void print(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void vprint(const char* fmt, va_list ap);
// Sends any partial line.
void console_flush();

// Where finished lines go: console_write by default.  A domU, which Xen's release builds refuse
// CONSOLEIO_write, installs a writer of its own (e.g. into its console ring).
using ConsoleWriter = void (*)(const char* s, usize n);
void set_console_writer(ConsoleWriter writer);

}  // namespace pvg
