/* The freestanding C pieces a TA needs: mem/str functions, a first-fit heap over the TA's
 * ta_heap, a small snprintf, and the trace output behind IMSG/DMSG/EMSG. */
#include <stdarg.h>
#include <tee_internal_api.h>

#include "utee_syscalls.h"

extern uint8_t ta_heap[];
extern const size_t ta_heap_size;

void *memcpy(void *dst, const void *src, size_t n)
{
	uint8_t *d = dst;
	const uint8_t *s = src;
	while (n--)
		*d++ = *s++;
	return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
	uint8_t *d = dst;
	const uint8_t *s = src;
	if (d < s) {
		while (n--)
			*d++ = *s++;
	} else {
		while (n--)
			d[n] = s[n];
	}
	return dst;
}

void *memset(void *dst, int c, size_t n)
{
	uint8_t *d = dst;
	while (n--)
		*d++ = (uint8_t)c;
	return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const uint8_t *x = a, *y = b;
	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

/* Heap: blocks of [size_t size | used flag in bit 0][payload], first fit, split on alloc,
 * merged with the next free block on free. */
#define HDR sizeof(size_t)
static int heap_ready;

static size_t *blk(size_t off) { return (size_t *)(ta_heap + off); }

void *malloc(size_t size)
{
	size_t need = ((size + 15) & ~(size_t)15) + 16, off = 0;
	if (size > ta_heap_size)
		return NULL;
	if (!heap_ready) {
		*blk(0) = ta_heap_size & ~(size_t)15;
		heap_ready = 1;
	}
	while (off + 16 <= ta_heap_size) {
		size_t h = *blk(off), len = h & ~(size_t)1;
		if (len == 0)
			break;
		if (!(h & 1)) {
			/* Merge following free blocks first. */
			while (off + len + 16 <= ta_heap_size && *blk(off + len) && !(*blk(off + len) & 1))
				len += *blk(off + len);
			*blk(off) = len;
			if (len >= need) {
				if (len - need >= 32) {
					*blk(off + need) = len - need;
					len = need;
				}
				*blk(off) = len | 1;
				return ta_heap + off + 16;
			}
		}
		off += len;
	}
	return NULL;
}

void free(void *p)
{
	if (!p)
		return;
	size_t off = (size_t)((uint8_t *)p - ta_heap) - 16;
	if (off >= ta_heap_size || !(*blk(off) & 1))
		TEE_Panic(TEE_ERROR_BAD_PARAMETERS);
	*blk(off) &= ~(size_t)1;
}

void *calloc(size_t n, size_t size)
{
	if (size && n > (size_t)-1 / size)
		return NULL;
	void *p = malloc(n * size);
	if (p)
		memset(p, 0, n * size);
	return p;
}

void *realloc(void *p, size_t size)
{
	if (!p)
		return malloc(size);
	size_t old = (*blk((size_t)((uint8_t *)p - ta_heap) - 16) & ~(size_t)1) - 16;
	if (old >= size)
		return p;
	void *q = malloc(size);
	if (q) {
		memcpy(q, p, old);
		free(p);
	}
	return q;
}

/* snprintf: %d %i %u %x %X %p %s %c %% with l, ll, z and a zero-padded width. */
struct out {
	char *buf;
	size_t size, len;
};

static void put(struct out *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

static void put_num(struct out *o, unsigned long long v, unsigned base, int upper, int neg, int width, char pad)
{
	char tmp[24];
	int n = 0;
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	do {
		tmp[n++] = digits[v % base];
		v /= base;
	} while (v);
	if (neg)
		tmp[n++] = '-';
	while (width-- > n)
		put(o, pad);
	while (n)
		put(o, tmp[--n]);
}

static int vformat(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct out o = { buf, size, 0 };
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			put(&o, *fmt);
			continue;
		}
		fmt++;
		char pad = ' ';
		int width = 0, lng = 0;
		if (*fmt == '0')
			pad = '0', fmt++;
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l' || *fmt == 'z')
			lng++, fmt++;
		switch (*fmt) {
		case 'd':
		case 'i': {
			long long v = lng ? va_arg(ap, long long) : va_arg(ap, int);
			put_num(&o, v < 0 ? -(unsigned long long)v : (unsigned long long)v, 10, 0, v < 0, width, pad);
			break;
		}
		case 'u':
		case 'x':
		case 'X': {
			unsigned long long v = lng ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned);
			put_num(&o, v, *fmt == 'u' ? 10 : 16, *fmt == 'X', 0, width, pad);
			break;
		}
		case 'p':
			put(&o, '0');
			put(&o, 'x');
			put_num(&o, (uintptr_t)va_arg(ap, void *), 16, 0, 0, 0, ' ');
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			for (s = s ? s : "(null)"; *s; s++)
				put(&o, *s);
			break;
		}
		case 'c':
			put(&o, (char)va_arg(ap, int));
			break;
		case '%':
			put(&o, '%');
			break;
		default:
			put(&o, '%');
			if (*fmt)
				put(&o, *fmt);
			else
				fmt--;
		}
	}
	if (size)
		buf[o.len < size ? o.len : size - 1] = 0;
	return (int)o.len;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vformat(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

void trace_printf(const char *func, int line, int level, const char *fmt, ...)
{
	char buf[512];
	static const char tag[] = "?EIDF";
	int n = snprintf(buf, sizeof(buf), "%c/TA: %s:%d ", (level >= 1 && level <= 4) ? tag[level] : '?', func, line);
	va_list ap;
	va_start(ap, fmt);
	if (n < (int)sizeof(buf))
		n += vformat(buf + n, sizeof(buf) - n, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	_utee_log(buf, n);
}
