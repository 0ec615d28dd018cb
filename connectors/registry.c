/* registry.c — the list of compiled-in connectors, the one list of CRMs in the tree (`crmstream
 * connectors` prints it; tests/integration/64_connector_registry.sh checks the rest of the tree
 * against it). Adding a CRM = one X(<name>) line here, for a `const connector <name>_connector`
 * (connectors/README.md). The order is the order of `crmstream connectors`. */
#include "connector.h"

#define CRM_CONNECTORS(X)                                                                          \
    X(testcrm)                                                                                     \
    X(close)                                                                                       \
    X(copper)                                                                                      \
    X(pipedrive)                                                                                   \
    /* add new connectors above this line */

#define CONNECTOR_DECLARE(n) extern const connector n##_connector;
#define CONNECTOR_ENTRY(n)   &n##_connector,

CRM_CONNECTORS(CONNECTOR_DECLARE)

const connector *const crm_connectors[] = {CRM_CONNECTORS(CONNECTOR_ENTRY) NULL};
