/* OP-TEE style trace macros: each prints one line through the utee log call. */
#ifndef TRACE_H
#define TRACE_H

void trace_printf(const char *func, int line, int level, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define TRACE_ERROR 1
#define TRACE_INFO 2
#define TRACE_DEBUG 3
#define TRACE_FLOW 4
#ifndef TRACE_LEVEL
#define TRACE_LEVEL TRACE_INFO
#endif

#define EMSG(...) trace_printf(__func__, __LINE__, TRACE_ERROR, __VA_ARGS__)
#define IMSG(...) do { if (TRACE_LEVEL >= TRACE_INFO) trace_printf(__func__, __LINE__, TRACE_INFO, __VA_ARGS__); } while (0)
#define DMSG(...) do { if (TRACE_LEVEL >= TRACE_DEBUG) trace_printf(__func__, __LINE__, TRACE_DEBUG, __VA_ARGS__); } while (0)
#define FMSG(...) do { if (TRACE_LEVEL >= TRACE_FLOW) trace_printf(__func__, __LINE__, TRACE_FLOW, __VA_ARGS__); } while (0)

#endif
