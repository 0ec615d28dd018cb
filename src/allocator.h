/* allocator.h — how crmstream asks glibc's malloc to keep the memory a sync pass reuses. */
#ifndef CRM_ALLOCATOR_H
#define CRM_ALLOCATOR_H

/* Call once at start, before any thread exists. */
void allocator_tune_for_streaming(void);
/* Gives freed memory back to the kernel; call when a table goes idle between polls. */
void allocator_release_idle(void);
/* The same at most every few seconds for the whole process: call as a long pass goes on (a
 * backfill's tables free what their pages needed while others grow; glibc keeps it all). */
void allocator_release_now_and_then(void);

#endif
