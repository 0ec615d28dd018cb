/* personalities.c — the registry of simulator personalities (crmsim --crm NAME).
 *
 * To add one, write tests/sim/<name>.c (or tests/sim/<name>/, several files) defining
 * `const sim_crm sim_<name>` and add one X(<name>) line below. A CRM's personality has its
 * connector's name (tests/integration/64_connector_registry.sh checks). */
#include "sim.h"

#define SIM_PERSONALITIES(X)                                                                       \
    X(testcrm)                                                                                     \
    X(bench)                                                                                       \
    X(close)                                                                                       \
    X(copper)                                                                                      \
    X(pipedrive)                                                                                   \
    X(registry)                                                                                    \
    /* add new personalities above this line */

#define SIM_DECLARE(n) extern const sim_crm sim_##n;
#define SIM_ENTRY(n)   &sim_##n,

SIM_PERSONALITIES(SIM_DECLARE)

const sim_crm *const sim_personalities[] = {SIM_PERSONALITIES(SIM_ENTRY) NULL};
