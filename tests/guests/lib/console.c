/* console.c - COM1 output (16550: init, poll LSR.THRE before each byte) and
 * the kit's small printf family. */
#include "kit.h"

void kit_serial_init(void)
{
    outb(KIT_COM1 + 1, 0x00); /* no interrupts */
    outb(KIT_COM1 + 3, 0x80); /* DLAB on */
    outb(KIT_COM1 + 0, 0x01); /* divisor 1: 115200 baud */
    outb(KIT_COM1 + 1, 0x00);
    outb(KIT_COM1 + 3, 0x03); /* 8N1, DLAB off */
    outb(KIT_COM1 + 2, 0x07); /* FIFO on, cleared */
    outb(KIT_COM1 + 4, 0x03); /* DTR, RTS */
}

void kit_putc(char c)
{
    for (unsigned i = 0; i < 100000 && !(inb(KIT_COM1 + 5) & 0x20); i++)
        pause();
    outb(KIT_COM1, (uint8_t)c);
}

void kit_puts(const char *s)
{
    while (*s)
        kit_putc(*s++);
}

/* Output sink: into a buffer (buf != NULL) or to the console. */
struct sink {
    char *buf;
    size_t n, len;
};

static void emit(struct sink *o, char c)
{
    if (o->buf) {
        if (o->len + 1 < o->n)
            o->buf[o->len] = c;
    } else {
        kit_putc(c);
    }
    o->len++;
}

static void emit_num(struct sink *o, uint64_t v, unsigned base, bool neg,
                     int width, bool zero, bool left, bool upper)
{
    char tmp[24];
    int n = 0;
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    do {
        uint64_t q = v / base; /* libgcc's __udivdi3 */
        unsigned r = (unsigned)(v - q * base);
        tmp[n++] = digits[r];
        v = q;
    } while (v);
    int len = n + (neg ? 1 : 0);
    if (!left && !zero)
        for (; width > len; width--)
            emit(o, ' ');
    if (neg)
        emit(o, '-');
    if (!left && zero)
        for (; width > len; width--)
            emit(o, '0');
    while (n)
        emit(o, tmp[--n]);
    if (left)
        for (; width > len; width--)
            emit(o, ' ');
}

static void format(struct sink *o, const char *fmt, va_list ap)
{
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            emit(o, *fmt);
            continue;
        }
        fmt++;
        bool zero = false, left = false, alt = false;
        for (;; fmt++) {
            if (*fmt == '0')
                zero = true;
            else if (*fmt == '-')
                left = true;
            else if (*fmt == '#')
                alt = true;
            else
                break;
        }
        int width = 0;
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (*fmt++ - '0');
        int lng = 0;
        while (*fmt == 'l') {
            lng++;
            fmt++;
        }
        switch (*fmt) {
        case 'd':
        case 'i': {
            int64_t v = lng >= 2 ? va_arg(ap, long long) : va_arg(ap, int);
            emit_num(o, v < 0 ? (uint64_t)-v : (uint64_t)v, 10, v < 0, width,
                     zero, left, false);
            break;
        }
        case 'u':
        case 'x':
        case 'X': {
            uint64_t v = lng >= 2 ? va_arg(ap, unsigned long long)
                                  : va_arg(ap, unsigned int);
            if (alt && *fmt != 'u') {
                emit(o, '0');
                emit(o, 'x');
            }
            emit_num(o, v, *fmt == 'u' ? 10 : 16, false, width, zero, left,
                     *fmt == 'X');
            break;
        }
        case 'p':
            emit(o, '0');
            emit(o, 'x');
            emit_num(o, (uint32_t)va_arg(ap, void *), 16, false, 8, true,
                     false, false);
            break;
        case 'c':
            emit(o, (char)va_arg(ap, int));
            break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s)
                s = "(null)";
            int len = (int)strlen(s);
            if (!left)
                for (; width > len; width--)
                    emit(o, ' ');
            while (*s)
                emit(o, *s++);
            for (; width > len; width--)
                emit(o, ' ');
            break;
        }
        case '%':
            emit(o, '%');
            break;
        case 0:
            return;
        default:
            emit(o, '%');
            emit(o, *fmt);
        }
    }
}

int kit_vprintf(const char *fmt, va_list ap)
{
    struct sink o = {0, 0, 0};
    format(&o, fmt, ap);
    return (int)o.len;
}

int kit_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = kit_vprintf(fmt, ap);
    va_end(ap);
    return n;
}

int kit_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap)
{
    struct sink o = {buf, n, 0};
    format(&o, fmt, ap);
    if (n)
        buf[o.len < n ? o.len : n - 1] = 0;
    return (int)o.len;
}

int kit_snprintf(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = kit_vsnprintf(buf, n, fmt, ap);
    va_end(ap);
    return r;
}
