/* The machine state the domain builder hands the guest at its entry point, as start.S records
 * it: offsets shared by the assembler and C++ (entry_state.hpp checks them). */
#pragma once

#define ES_RAX 0
#define ES_RBX 8
#define ES_RCX 16
#define ES_RDX 24
#define ES_RSI 32
#define ES_RDI 40
#define ES_RBP 48
#define ES_RSP 56
#define ES_R8 64
#define ES_R9 72
#define ES_R10 80
#define ES_R11 88
#define ES_R12 96
#define ES_R13 104
#define ES_R14 112
#define ES_R15 120
#define ES_RFLAGS 128
#define ES_CS 136
#define ES_SS 144
#define ES_DS 152
#define ES_ES 160
#define ES_FS 168
#define ES_GS 176
#define ES_BSS_OR 184 /* OR of every .bss quadword as loaded: 0 when the builder zeroed it */
#define ES_TSC 192    /* the TSC just after the registers were saved (the boot benchmark) */
#define ES_SIZE 200

#define GUEST_STACK_SIZE 16384
