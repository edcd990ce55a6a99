// Domain 0's end of the serial line: input arrives as VIRQ_CONSOLE and is read with
// CONSOLEIO_read (the hypervisor keeps it in a small ring until then); output goes out with
// CONSOLEIO_write.  The terminal is one more handler of the event loop, so typing never blocks
// the services.
//
// In line mode it echoes what is typed, edits the line (Backspace/DEL erase a character, Ctrl-U
// the line) and hands each completed line (Enter: CR or LF) to its LineHandler.  A line handler
// may run the event loop itself (xl shutdown -w waits for a domain); input arriving meanwhile
// stays in the hypervisor's ring until the handler returns.  In raw mode (set_raw: xl console)
// every byte goes to a RawInput instead, until Ctrl-] (0x1d) ends raw mode.
#pragma once
#include "guest/dom0/event_loop.hpp"

namespace dom0 {

class Terminal final : public EventHandler {
public:
    static constexpr usize LINE_MAX = 256;
    static constexpr char DETACH = 0x1d;  // Ctrl-]

    class LineHandler {
    public:
        virtual void line(const char* s, usize n) = 0;
        // What is printed before each line is read.
        virtual const char* prompt() const = 0;
    protected:
        ~LineHandler() = default;
    };
    class RawInput {
    public:
        virtual void bytes(const char* s, usize n) = 0;
    protected:
        ~RawInput() = default;
    };

    // Binds VIRQ_CONSOLE and joins the loop; false on failure.
    bool init(EventLoop& loop, LineHandler& handler);
    // Prints the prompt: once at start, then after every line.
    void show_prompt();

    // Raw mode until Ctrl-] is typed (raw_active() turns false) or set_raw(nullptr).
    void set_raw(RawInput* raw) { raw_ = raw; }
    bool raw_active() const { return raw_ != nullptr; }

    bool on_event(u32 port) override;

private:
    void edit(char c);

    LineHandler* handler_ = nullptr;
    RawInput* raw_ = nullptr;
    bool busy_ = false;     // a line is being handled
    bool last_cr_ = false;  // the previous byte was CR: a LF right after it is the same Enter
    char line_[LINE_MAX] = {};
    usize len_ = 0;
};

}  // namespace dom0
