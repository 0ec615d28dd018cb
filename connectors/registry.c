/* registry.c — the list of compiled-in connectors. Adding a CRM = one line here. */
#include "connector.h"

extern const connector testcrm_connector;
extern const connector close_connector;
extern const connector copper_connector;
extern const connector pipedrive_connector;

const connector *const crm_connectors[] = {
    &testcrm_connector, &close_connector, &copper_connector, &pipedrive_connector, NULL,
};
