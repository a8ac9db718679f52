/*
 * libteec for LiteBox: the GP TEE Client API over the TA host's Unix socket
 * (docs/targets/optee.md, "Wire protocol"). One connection per context; a request and its
 * reply are one exchange under a process-wide lock, so threads may share a context.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tee_client_api.h"

#define OP_OPEN 1
#define OP_INVOKE 2
#define OP_CLOSE 3

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

struct buf {
	uint8_t *p;
	size_t len, cap;
	int failed;
};

static void put(struct buf *b, const void *data, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 256;
		while (cap < b->len + n)
			cap *= 2;
		uint8_t *p = realloc(b->p, cap);
		if (!p) {
			b->failed = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
}

static void put32(struct buf *b, uint32_t v) { put(b, &v, 4); }
static void put64(struct buf *b, uint64_t v) { put(b, &v, 8); }

static int write_all(int fd, const void *p, size_t n)
{
	const uint8_t *c = p;
	while (n) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int read_all(int fd, void *p, size_t n)
{
	uint8_t *c = p;
	while (n) {
		ssize_t r = read(fd, c, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Where parameter i's bytes live in the client, its wire type, and its declared size. */
struct slot {
	uint32_t type;
	uint8_t *data;
	size_t size;
};

static TEEC_Result plan(const TEEC_Operation *op, struct slot s[4], uint32_t *types)
{
	*types = 0;
	for (int i = 0; i < 4; i++) {
		uint32_t t = op ? TEEC_PARAM_TYPE_GET(op->paramTypes, i) : TEEC_NONE;
		const TEEC_Parameter *p = op ? &op->params[i] : NULL;
		s[i].type = t;
		s[i].data = NULL;
		s[i].size = 0;
		switch (t) {
		case TEEC_NONE:
		case TEEC_VALUE_INPUT:
		case TEEC_VALUE_OUTPUT:
		case TEEC_VALUE_INOUT:
			break;
		case TEEC_MEMREF_TEMP_INPUT:
		case TEEC_MEMREF_TEMP_OUTPUT:
		case TEEC_MEMREF_TEMP_INOUT:
			s[i].data = p->tmpref.buffer;
			s[i].size = p->tmpref.size;
			if (!s[i].data && s[i].size)
				return TEEC_ERROR_BAD_PARAMETERS;
			break;
		case TEEC_MEMREF_WHOLE:
		case TEEC_MEMREF_PARTIAL_INPUT:
		case TEEC_MEMREF_PARTIAL_OUTPUT:
		case TEEC_MEMREF_PARTIAL_INOUT: {
			TEEC_SharedMemory *shm = p->memref.parent;
			if (!shm)
				return TEEC_ERROR_BAD_PARAMETERS;
			if (t == TEEC_MEMREF_WHOLE) {
				s[i].data = shm->buffer;
				s[i].size = shm->size;
				s[i].type = (shm->flags & TEEC_MEM_INPUT ? 1 : 0) | (shm->flags & TEEC_MEM_OUTPUT ? 2 : 0);
				s[i].type = s[i].type == 1 ? TEEC_MEMREF_TEMP_INPUT
					  : s[i].type == 2 ? TEEC_MEMREF_TEMP_OUTPUT : TEEC_MEMREF_TEMP_INOUT;
			} else {
				if (p->memref.offset > shm->size || p->memref.size > shm->size - p->memref.offset)
					return TEEC_ERROR_BAD_PARAMETERS;
				s[i].data = (uint8_t *)shm->buffer + p->memref.offset;
				s[i].size = p->memref.size;
				s[i].type = t - (TEEC_MEMREF_PARTIAL_INPUT - TEEC_MEMREF_TEMP_INPUT);
			}
			break;
		}
		default:
			return TEEC_ERROR_BAD_PARAMETERS;
		}
		*types |= s[i].type << (4 * i);
	}
	return TEEC_SUCCESS;
}

static void put_params(struct buf *b, const TEEC_Operation *op, const struct slot s[4], uint32_t types)
{
	put32(b, types);
	for (int i = 0; i < 4; i++) {
		uint32_t t = s[i].type;
		if (t == TEEC_NONE)
			continue;
		if (t >= TEEC_MEMREF_TEMP_INPUT) {
			put64(b, s[i].size);
			if (t == TEEC_MEMREF_TEMP_OUTPUT) {
				put32(b, 0);
			} else {
				put32(b, (uint32_t)s[i].size);
				put(b, s[i].data, s[i].size);
			}
		} else {
			put32(b, op->params[i].value.a);
			put32(b, op->params[i].value.b);
		}
	}
}

/* Sends one request and reads the reply: result, origin, session, and the parameters back
 * into `op`. Communication failures are TEEC_ERROR_COMMUNICATION from TEEC_ORIGIN_COMMS. */
static TEEC_Result exchange(int fd, struct buf *req, TEEC_Operation *op, const struct slot s[4], uint32_t *origin,
			    uint32_t *session)
{
	uint32_t len = (uint32_t)req->len, head[4];
	uint8_t *reply = NULL;
	TEEC_Result res = TEEC_ERROR_COMMUNICATION;

	*origin = TEEC_ORIGIN_COMMS;
	if (req->failed) {
		free(req->p);
		*origin = TEEC_ORIGIN_API;
		return TEEC_ERROR_OUT_OF_MEMORY;
	}
	pthread_mutex_lock(&lock);
	if (write_all(fd, &len, 4) || write_all(fd, req->p, req->len) || read_all(fd, &len, 4) || len < 16)
		goto out;
	reply = malloc(len);
	if (!reply || read_all(fd, reply, len))
		goto out;
	memcpy(head, reply, 16);
	res = head[0];
	*origin = head[1];
	if (session)
		*session = head[2];
	size_t at = 16;
	for (int i = 0; i < 4 && op; i++) {
		uint32_t t = TEEC_PARAM_TYPE_GET(head[3], i);
		if (t == TEEC_NONE)
			continue;
		if (t >= TEEC_MEMREF_TEMP_INPUT) {
			uint64_t size;
			uint32_t n;
			if (at + 12 > len)
				break;
			memcpy(&size, reply + at, 8);
			memcpy(&n, reply + at + 8, 4);
			at += 12;
			if (at + n > len || n > s[i].size)
				break;
			if (n)
				memcpy(s[i].data, reply + at, n);
			at += n;
			if (t != TEEC_MEMREF_TEMP_INPUT) {
				uint32_t ot = TEEC_PARAM_TYPE_GET(op->paramTypes, i);
				if (ot >= TEEC_MEMREF_WHOLE)
					op->params[i].memref.size = size;
				else
					op->params[i].tmpref.size = size;
			}
		} else {
			if (at + 8 > len)
				break;
			if (t != TEEC_VALUE_INPUT) {
				memcpy(&op->params[i].value.a, reply + at, 4);
				memcpy(&op->params[i].value.b, reply + at + 4, 4);
			}
			at += 8;
		}
	}
out:
	pthread_mutex_unlock(&lock);
	free(reply);
	free(req->p);
	return res;
}

TEEC_Result TEEC_InitializeContext(const char *name, TEEC_Context *ctx)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	const char *path = name ? name : getenv("LITEBOX_OPTEE_SOCKET");

	if (!ctx)
		return TEEC_ERROR_BAD_PARAMETERS;
	memset(ctx, 0, sizeof(*ctx));
	ctx->fd = -1;
	if (!path || !*path || strlen(path) >= sizeof(addr.sun_path))
		return TEEC_ERROR_ITEM_NOT_FOUND;
	strcpy(addr.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return TEEC_ERROR_COMMUNICATION;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		close(fd);
		return TEEC_ERROR_COMMUNICATION;
	}
	ctx->fd = fd;
	ctx->reg_mem = true;
	return TEEC_SUCCESS;
}

void TEEC_FinalizeContext(TEEC_Context *ctx)
{
	if (ctx && ctx->fd >= 0) {
		close(ctx->fd);
		ctx->fd = -1;
	}
}

TEEC_Result TEEC_OpenSession(TEEC_Context *ctx, TEEC_Session *session, const TEEC_UUID *uuid, uint32_t method,
			     const void *data, TEEC_Operation *op, uint32_t *returnOrigin)
{
	struct slot s[4];
	struct buf b = { 0 };
	uint32_t types, origin = TEEC_ORIGIN_API, id = 0;
	uint8_t raw[16];
	TEEC_Result res;

	(void)data;
	if (!ctx || ctx->fd < 0 || !session || !uuid) {
		res = TEEC_ERROR_BAD_PARAMETERS;
		goto done;
	}
	res = plan(op, s, &types);
	if (res != TEEC_SUCCESS)
		goto done;
	/* The UUID in RFC 4122 byte order. */
	for (int i = 0; i < 4; i++)
		raw[i] = (uint8_t)(uuid->timeLow >> (24 - 8 * i));
	raw[4] = uuid->timeMid >> 8;
	raw[5] = (uint8_t)uuid->timeMid;
	raw[6] = uuid->timeHiAndVersion >> 8;
	raw[7] = (uint8_t)uuid->timeHiAndVersion;
	memcpy(raw + 8, uuid->clockSeqAndNode, 8);
	put32(&b, OP_OPEN);
	put(&b, raw, 16);
	put32(&b, method);
	put_params(&b, op, s, types);
	res = exchange(ctx->fd, &b, op, s, &origin, &id);
	session->ctx = ctx;
	session->session_id = res == TEEC_SUCCESS ? id : 0;
done:
	if (returnOrigin)
		*returnOrigin = origin;
	return res;
}

void TEEC_CloseSession(TEEC_Session *session)
{
	struct buf b = { 0 };
	uint32_t origin;
	struct slot s[4];
	uint32_t types;

	if (!session || !session->ctx || session->ctx->fd < 0)
		return;
	plan(NULL, s, &types);
	put32(&b, OP_CLOSE);
	put32(&b, session->session_id);
	exchange(session->ctx->fd, &b, NULL, s, &origin, NULL);
}

TEEC_Result TEEC_InvokeCommand(TEEC_Session *session, uint32_t cmd, TEEC_Operation *op, uint32_t *returnOrigin)
{
	struct slot s[4];
	struct buf b = { 0 };
	uint32_t types, origin = TEEC_ORIGIN_API;
	TEEC_Result res;

	if (!session || !session->ctx || session->ctx->fd < 0) {
		res = TEEC_ERROR_BAD_PARAMETERS;
		goto done;
	}
	res = plan(op, s, &types);
	if (res != TEEC_SUCCESS)
		goto done;
	put32(&b, OP_INVOKE);
	put32(&b, session->session_id);
	put32(&b, cmd);
	put_params(&b, op, s, types);
	res = exchange(session->ctx->fd, &b, op, s, &origin, NULL);
done:
	if (returnOrigin)
		*returnOrigin = origin;
	return res;
}

TEEC_Result TEEC_RegisterSharedMemory(TEEC_Context *ctx, TEEC_SharedMemory *shm)
{
	if (!ctx || !shm || (!shm->buffer && shm->size) || shm->size > TEEC_CONFIG_SHAREDMEM_MAX_SIZE)
		return TEEC_ERROR_BAD_PARAMETERS;
	shm->alloced_size = 0;
	shm->shadow_buffer = NULL;
	shm->registered_fd = -1;
	return TEEC_SUCCESS;
}

TEEC_Result TEEC_AllocateSharedMemory(TEEC_Context *ctx, TEEC_SharedMemory *shm)
{
	if (!ctx || !shm || shm->size > TEEC_CONFIG_SHAREDMEM_MAX_SIZE)
		return TEEC_ERROR_BAD_PARAMETERS;
	shm->buffer = calloc(1, shm->size ? shm->size : 1);
	if (!shm->buffer)
		return TEEC_ERROR_OUT_OF_MEMORY;
	shm->alloced_size = shm->size ? shm->size : 1;
	shm->shadow_buffer = NULL;
	shm->registered_fd = -1;
	return TEEC_SUCCESS;
}

void TEEC_ReleaseSharedMemory(TEEC_SharedMemory *shm)
{
	if (!shm)
		return;
	if (shm->alloced_size)
		free(shm->buffer);
	shm->buffer = NULL;
	shm->size = 0;
	shm->alloced_size = 0;
}

void TEEC_RequestCancellation(TEEC_Operation *operation)
{
	/* Cancellation is not offered: a command runs to its end. */
	(void)operation;
}
