/* debug.c - placeholder until the debug hooks land (issue 3). */
#include "config.h"
#include "internal.h"
void vigil__debug_wrap(vigil_domain d) { (void)d; }
int vigil__debug_unwrap(const vigil_allocator *a, vigil_allocator *inner) { (void)a; (void)inner; return 0; }
void vigil_setup_debug_hooks(void) {}
int vigil_check_block(const void *p) { (void)p; return 0; }
void vigil_dump_block(const void *p) { (void)p; }
size_t vigil_error_count(void) { return 0; }
