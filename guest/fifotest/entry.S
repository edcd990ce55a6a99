/* fifotest's event callback: fifo_upcall() consumes the FIFO queues (main.cpp); the return
 * masks events again (IF clear in the bounce frame's RFLAGS), so an upcall happens only where a
 * check unmasks them. */
#include <xen/xen.h>

#include "guest/lib/iret_asm.h"

    .text
    .globl fifo_event_entry
    .type fifo_event_entry, @function
fifo_event_entry:
    push_call_clobbered
    call fifo_upcall
    pop_call_clobbered
    andq $~0x200, 32(%rsp)          /* the saved RFLAGS: return with events masked */
    iret_from_bounce $0
    .size fifo_event_entry, . - fifo_event_entry
