/* What the controller's cmocka tests share: a controller on a state
 * directory of its own.  Include it after <cmocka.h>. */
#ifndef FERRY_TESTS_TESTLIB_CONTROLLER_H
#define FERRY_TESTS_TESTLIB_CONTROLLER_H

#include <stdio.h>
#include <stdlib.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/util.h"
#include "controller/controller.h"

/* A controller with the options O, its state directory a new
 * /tmp/ferry-TAG.XXXXXX (O's state_dir, and *RET_DIR for
 * test_controller_free). */
static inline int
test_controller_new(const char *tag, struct ferry_controller_opts *o, char **ret_dir,
                    struct ferry_controller **ret)
{
    FERRY_AUTOFREE char *dir = ferry_printf("/tmp/ferry-%s.XXXXXX", tag);

    if (!mkdtemp(dir))
        return -1;
    o->state_dir = dir;
    if (ferry_controller_new(o, ret) < 0) {
        fprintf(stderr, "controller: %s\n", ferry_error_message());
        ferry_rm_rf(dir);
        return -1;
    }
    *ret_dir = FERRY_STEAL(dir);
    return 0;
}

static inline void
test_controller_free(struct ferry_controller *c, char *dir)
{
    ferry_controller_free(c);
    ferry_rm_rf(dir);
    free(dir);
}

#endif
