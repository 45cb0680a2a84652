/* string.c - the C library bits the guests (and gcc itself) need: mem*,
 * str*, strtoul, and the command-line parameter helpers. */
#include "kit.h"

void *memset(void *d, int c, size_t n)
{
    void *r = d;
    __asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
    return r;
}

void *memcpy(void *d, const void *s, size_t n)
{
    void *r = d;
    __asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) :: "memory");
    return r;
}

void *memmove(void *d, const void *s, size_t n)
{
    unsigned char *dp = d;
    const unsigned char *sp = s;
    if (dp <= sp || dp >= sp + n)
        return memcpy(d, s, n);
    while (n--)
        dp[n] = sp[n];
    return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i])
            return x[i] - y[i];
    return 0;
}

size_t strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

int strcmp(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return (unsigned char)*a - (unsigned char)*b;
}

int strncmp(const char *a, const char *b, size_t n)
{
    for (; n; n--, a++, b++) {
        if (*a != *b || !*a)
            return (unsigned char)*a - (unsigned char)*b;
    }
    return 0;
}

unsigned long kit_strtoul(const char *s, const char **end, int base)
{
    unsigned long v = 0;
    if (base == 0) {
        base = 10;
        if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
            base = 16;
            s += 2;
        }
    } else if (base == 16 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        s += 2;
    }
    for (;; s++) {
        int d;
        if (*s >= '0' && *s <= '9')
            d = *s - '0';
        else if (*s >= 'a' && *s <= 'f')
            d = *s - 'a' + 10;
        else if (*s >= 'A' && *s <= 'F')
            d = *s - 'A' + 10;
        else
            break;
        if (d >= base)
            break;
        v = v * (unsigned long)base + (unsigned long)d;
    }
    if (end)
        *end = s;
    return v;
}

/* Find "name" or "name=value" as a whole word; returns the value start
 * (or the end of the word) and its length. */
static const char *find_param(const char *name, size_t *len)
{
    size_t nl = strlen(name);
    const char *p = kit_cmdline();
    while (*p) {
        while (*p == ' ')
            p++;
        const char *w = p;
        while (*p && *p != ' ')
            p++;
        if ((size_t)(p - w) >= nl && !strncmp(w, name, nl) &&
            (w[nl] == '=' || w + nl == p)) {
            const char *v = w[nl] == '=' ? w + nl + 1 : w + nl;
            *len = (size_t)(p - v);
            return v;
        }
    }
    return NULL;
}

bool kit_param(const char *name, char *buf, size_t n)
{
    size_t len;
    const char *v = find_param(name, &len);
    if (!v)
        return false;
    if (buf && n) {
        if (len > n - 1)
            len = n - 1;
        memcpy(buf, v, len);
        buf[len] = 0;
    }
    return true;
}

uint32_t kit_param_u32(const char *name, uint32_t def)
{
    char buf[32];
    if (!kit_param(name, buf, sizeof(buf)) || !buf[0])
        return def;
    const char *end;
    uint32_t v = (uint32_t)kit_strtoul(buf, &end, 0);
    if (end == buf)
        return def;
    if (*end == 'k' || *end == 'K')
        v *= 1000, end++;
    else if (*end == 'm' || *end == 'M')
        v *= 1000000, end++;
    return *end ? def : v;
}
