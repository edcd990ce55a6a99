// The PV console ring (xen/io/console.h's xencons_interface): `out` carries the guest's output
// to the backend, `in` the backend's input to the guest, each with free-running 32-bit indices
// the producer advances after writing the bytes.
//
// Both ends are here, as functions over the page and nothing else, so they run on the host: the
// front end (a domU writing its console) and the back end (domain 0 draining a domU's output
// and delivering input).  The back end trusts nothing in the page: an index more than a ring
// ahead moves nothing (as xenconsoled's buffer_append, which gives up on such a ring).
//
// ConsoleBuffer is the back end's per-domain store: the last HISTORY bytes of output (what a
// console attaching later replays) and the line being assembled, handed out line by line.
#pragma once
#include <stdint.h>

#include <xen/io/console.h>

#include "lib/types.hpp"

namespace xb {

using pv::usize;

// Front end.  Both return the number of bytes moved (fewer than asked when the ring is full or
// empty); the caller notifies the console port when that is not 0.
usize cons_write(xencons_interface* ring, const char* s, usize n);
usize cons_read_input(xencons_interface* ring, char* buf, usize size);

// Back end.
usize cons_drain_output(xencons_interface* ring, char* buf, usize size);
usize cons_push_input(xencons_interface* ring, const char* s, usize n);

class ConsoleBuffer {
public:
    static constexpr usize HISTORY = 4096;
    static constexpr usize LINE_LIMIT = 160;

    class LineSink {
    public:
        virtual void line(const char* s, usize n) = 0;
    protected:
        ~LineSink() = default;
    };

    // Records output; each completed line ('\n', or LINE_LIMIT bytes without one) goes to sink,
    // without its newline ('\r' dropped).
    void append(const char* s, usize n, LineSink& sink);
    // Copies the last min(size, HISTORY) bytes of output into buf; returns how many.
    usize history(char* buf, usize size) const;
    pv::u64 total() const { return total_; }
    void reset() { total_ = 0, line_len_ = 0; }

private:
    char hist_[HISTORY] = {};
    pv::u64 total_ = 0;
    char line_[LINE_LIMIT] = {};
    usize line_len_ = 0;
};

}  // namespace xb
