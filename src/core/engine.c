/* engine.c - the registry of CPU engines selected with --engine.  An engine
 * that is not built yet is listed with the reason and refused, not faked. */
#include "engine.h"

#include <string.h>

struct engine_entry {
    const char *name;
    const struct engine_ops *ops; /* NULL: not built */
    const char *not_built;
};

static const struct engine_entry engines[] = {
    {"kvm", &engine_kvm_ops, NULL},
    {"interp", &engine_interp_ops, NULL},
    {"bt", &engine_bt_ops, NULL},
};

const char *const engine_names[] = {"kvm", "interp", "bt", NULL};

const struct engine_ops *engine_find(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(engines); i++) {
        if (strcmp(engines[i].name, name) != 0)
            continue;
        if (!engines[i].ops) {
            fail("engine '%s' is not available: %s", name,
                 engines[i].not_built);
            return NULL;
        }
        char why[256] = "";
        if (!engines[i].ops->usable(why, sizeof(why))) {
            fail("engine '%s' is not usable here: %s", name, why);
            return NULL;
        }
        return engines[i].ops;
    }
    fail("unknown engine '%s' (choose kvm, interp or bt)", name);
    return NULL;
}
