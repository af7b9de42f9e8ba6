/* The string-keyed map of keymap.h: chained FNV-1a buckets, doubled when the
 * chains grow past two entries on average. */
#include "common/keymap.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

static uint64_t
hash_key(const char *s)
{
    uint64_t h = 1469598103934665603ULL;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

void
ferry_keymap_init(struct ferry_keymap *m)
{
    m->nbuckets = 64;
    m->count = 0;
    m->buckets = ferry_calloc(m->nbuckets, sizeof *m->buckets);
}

void
ferry_keymap_release(struct ferry_keymap *m)
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct ferry_keymap_entry *e = m->buckets[i], *n;

        for (; e; e = n) {
            n = e->next;
            free(e->key);
            free(e);
        }
    }
    free(m->buckets);
    m->buckets = NULL;
    m->nbuckets = m->count = 0;
}

static struct ferry_keymap_entry **
slot(struct ferry_keymap *m, const char *key)
{
    struct ferry_keymap_entry **pe = &m->buckets[hash_key(key) % m->nbuckets];

    while (*pe && strcmp((*pe)->key, key) != 0)
        pe = &(*pe)->next;
    return pe;
}

static void
grow(struct ferry_keymap *m)
{
    size_t n = m->nbuckets * 2;
    struct ferry_keymap_entry **b = ferry_calloc(n, sizeof *b);

    for (size_t i = 0; i < m->nbuckets; i++) {
        struct ferry_keymap_entry *e = m->buckets[i], *next;

        for (; e; e = next) {
            size_t h = hash_key(e->key) % n;

            next = e->next;
            e->next = b[h];
            b[h] = e;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
}

struct ferry_keymap_entry *
ferry_keymap_get(struct ferry_keymap *m, const char *key)
{
    return *slot(m, key);
}

struct ferry_keymap_entry *
ferry_keymap_ensure(struct ferry_keymap *m, const char *key, bool *ret_new)
{
    struct ferry_keymap_entry **pe = slot(m, key), *e;

    if (*pe) {
        if (ret_new)
            *ret_new = false;
        return *pe;
    }
    e = ferry_calloc(1, sizeof *e);
    e->key = ferry_strdup(key);
    *pe = e;
    if (ret_new)
        *ret_new = true;
    if (++m->count > m->nbuckets * 2)
        grow(m);
    return e;
}

bool
ferry_keymap_remove(struct ferry_keymap *m, const char *key)
{
    struct ferry_keymap_entry **pe = slot(m, key), *e = *pe;

    if (!e)
        return false;
    *pe = e->next;
    free(e->key);
    free(e);
    m->count--;
    return true;
}

void
ferry_keymap_foreach(struct ferry_keymap *m, void (*fn)(struct ferry_keymap_entry *, void *),
                     void *opaque)
{
    for (size_t i = 0; i < m->nbuckets; i++)
        for (struct ferry_keymap_entry *e = m->buckets[i]; e; e = e->next)
            fn(e, opaque);
}
