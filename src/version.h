/* version.h — the crmstream version, shown by `crmstream --version` and served as
 * crmstream_build_info{version=...} on /metrics. A build may override it with
 * -DCRMSTREAM_VERSION=... (http.c's User-Agent uses the same macro and default). */
#ifndef CRM_VERSION_H
#define CRM_VERSION_H

#ifndef CRMSTREAM_VERSION
#define CRMSTREAM_VERSION "0.1"
#endif

#endif
