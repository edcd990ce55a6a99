/* Shared by p2mtest's note (notes.S) and its checks (main.cpp). */
#pragma once

/* Where the INIT_P2M note asks for the p2m list: Linux 6.1's value (xen-head.S), L4 slot 1. */
#define P2MTEST_P2M_BASE 0x8000000000
