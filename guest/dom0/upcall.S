/* Domain 0's event callback (event_loop.hpp).  Xen enters it with events masked and a bounce
 * frame at RSP: RCX, R11, RIP, CS, RFLAGS, RSP, SS.  The loop finds the pending ports itself, so
 * the callback only returns, with RFLAGS.IF clear in the frame: HYPERVISOR_iret then leaves
 * events masked, and the interrupted code (SCHEDOP_block's return, as a rule) goes on. */
#include <xen/xen.h>

#include "guest/lib/iret_asm.h"

    .text
    .globl dom0_event_entry
    .type dom0_event_entry, @function
dom0_event_entry:
    andq $~0x200, 32(%rsp)          /* the saved RFLAGS: return with events masked */
    iret_from_bounce $0
    .size dom0_event_entry, . - dom0_event_entry

    .section .note.GNU-stack, "", @progbits
