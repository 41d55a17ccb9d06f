#include "config.h"
#include "suites.h"
static void test_nothing(void) { CU_ASSERT(1); }
void register_arena_suite(void)
{
    static const struct test_case tests[] = { { "nothing", test_nothing }, { NULL, NULL } };
    add_suite("arena", tests);
}
