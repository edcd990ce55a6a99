/* p2mtest's extra Xen note: XEN_ELFNOTE_INIT_P2M, Linux's value (L4 slot 1), so the builder
 * maps the p2m list there instead of in the bootstrap region.  The other notes come from
 * guest/lib/start.S; the linker script gathers every .note.Xen into the PT_NOTE. */
#include <xen/elfnote.h>

#include "guest/p2mtest/p2mtest.h"

    .pushsection .note.Xen, "a", @note
    .balign 4
    .long 2f - 1f
    .long 4f - 3f
    .long XEN_ELFNOTE_INIT_P2M
1:  .asciz "Xen"
2:  .balign 4
3:  .quad P2MTEST_P2M_BASE
4:  .balign 4
    .popsection
