/* config_compare.h — whether two loaded configurations differ (setting by setting, secrets
 * included): what a live reload restarts. */
#ifndef CRM_CONFIG_COMPARE_H
#define CRM_CONFIG_COMPARE_H

#include "config.h"

/* 1 when the two sources have the same settings, options and secrets, read from the same file
 * (NULL: the config file). Lines and comments do not count. */
int config_source_equal(const source_config *a, const source_config *b);

/* 1 when every setting outside the sources (kafka, schema_registry, metrics, logging,
 * sources_dir...) is the same; the sources themselves are not compared. */
int config_settings_equal(const crm_config *a, const crm_config *b);

#endif
