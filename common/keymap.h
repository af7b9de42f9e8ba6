/* A small string-keyed hash map of 64-bit values (and an optional pointer),
 * for the work queue, the expectations and the leader election: sets of
 * object keys ("ns/name") with a time or a count each.  Not thread-safe: its
 * users hold their own lock. */
#ifndef FERRY_KEYMAP_H
#define FERRY_KEYMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ferry_keymap_entry {
    char *key;
    int64_t value;
    int64_t value2;
    void *ptr; /* the user's; the map neither reads nor frees it */
    struct ferry_keymap_entry *next;
};

struct ferry_keymap {
    struct ferry_keymap_entry **buckets;
    size_t nbuckets, count;
};

void ferry_keymap_init(struct ferry_keymap *m);
void ferry_keymap_release(struct ferry_keymap *m);
/* The entry, or NULL. */
struct ferry_keymap_entry *ferry_keymap_get(struct ferry_keymap *m, const char *key);
/* The entry, made (values 0) when absent; *ret_new says which. */
struct ferry_keymap_entry *ferry_keymap_ensure(struct ferry_keymap *m, const char *key,
                                               bool *ret_new);
/* true when it was there. */
bool ferry_keymap_remove(struct ferry_keymap *m, const char *key);
/* Calls fn for each entry; fn may not change the map. */
void ferry_keymap_foreach(struct ferry_keymap *m,
                          void (*fn)(struct ferry_keymap_entry *e, void *opaque), void *opaque);

#endif
