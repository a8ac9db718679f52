/*
 * The TA's header and entry: compiled with the TA's own user_ta_header_defines.h (TA_UUID,
 * TA_FLAGS, TA_STACK_SIZE, TA_DATA_SIZE), as OP-TEE's TA dev kit does. __ta_entry is the ELF
 * entry point: the TEE core calls it as __ta_entry(func, session_id, utee_params *, cmd_id)
 * and it ends with _utee_return(result).
 */
#include <tee_internal_api.h>
#include <user_ta_header.h>
#include <user_ta_header_defines.h>

#include "utee_syscalls.h"

#ifndef TA_DATA_SIZE
#define TA_DATA_SIZE (64 * 1024)
#endif

void __ta_entry(unsigned long func, unsigned long session_id, struct utee_params *up, unsigned long cmd_id)
	__attribute__((noreturn, visibility("default")));

const struct ta_head ta_head __attribute__((section(".ta_head"), used)) = {
	.uuid = TA_UUID,
	.stack_size = TA_STACK_SIZE,
	.flags = TA_FLAGS,
	.depr_entry = 0,
};

/* The TA's heap (TEE_Malloc, malloc), as libutee keeps it in the TA's .bss. */
uint8_t ta_heap[TA_DATA_SIZE] __attribute__((aligned(16)));
const size_t ta_heap_size = TA_DATA_SIZE;

struct session {
	unsigned long id;
	void *ctx;
	int used;
};

static struct session sessions[32];
static int instance_ready;

static void to_params(const struct utee_params *up, TEE_Param p[TEE_NUM_PARAMS])
{
	for (int i = 0; i < TEE_NUM_PARAMS; i++) {
		uint32_t t = TEE_PARAM_TYPE_GET(up->types, i);
		if (t >= TEE_PARAM_TYPE_MEMREF_INPUT) {
			p[i].memref.buffer = (void *)(uintptr_t)up->vals[2 * i];
			p[i].memref.size = up->vals[2 * i + 1];
		} else {
			p[i].value.a = (uint32_t)up->vals[2 * i];
			p[i].value.b = (uint32_t)up->vals[2 * i + 1];
		}
	}
}

static void from_params(struct utee_params *up, const TEE_Param p[TEE_NUM_PARAMS])
{
	for (int i = 0; i < TEE_NUM_PARAMS; i++) {
		uint32_t t = TEE_PARAM_TYPE_GET(up->types, i);
		if (t == TEE_PARAM_TYPE_VALUE_OUTPUT || t == TEE_PARAM_TYPE_VALUE_INOUT) {
			up->vals[2 * i] = p[i].value.a;
			up->vals[2 * i + 1] = p[i].value.b;
		} else if (t == TEE_PARAM_TYPE_MEMREF_OUTPUT || t == TEE_PARAM_TYPE_MEMREF_INOUT) {
			up->vals[2 * i + 1] = p[i].memref.size;
		}
	}
}

static struct session *find(unsigned long id)
{
	for (unsigned i = 0; i < sizeof(sessions) / sizeof(sessions[0]); i++)
		if (sessions[i].used && sessions[i].id == id)
			return &sessions[i];
	return NULL;
}

static TEE_Result open_session(unsigned long id, struct utee_params *up)
{
	struct session *s = NULL;
	TEE_Param p[TEE_NUM_PARAMS];
	TEE_Result res;

	for (unsigned i = 0; i < sizeof(sessions) / sizeof(sessions[0]) && !s; i++)
		if (!sessions[i].used)
			s = &sessions[i];
	if (!s)
		return TEE_ERROR_BUSY;
	if (!instance_ready) {
		res = TA_CreateEntryPoint();
		if (res != TEE_SUCCESS)
			return res;
		instance_ready = 1;
	}
	to_params(up, p);
	s->ctx = NULL;
	res = TA_OpenSessionEntryPoint((uint32_t)up->types, p, &s->ctx);
	from_params(up, p);
	if (res == TEE_SUCCESS) {
		s->id = id;
		s->used = 1;
	}
	return res;
}

static TEE_Result close_session(unsigned long id)
{
	struct session *s = find(id);
	int left = 0;

	if (!s)
		return TEE_ERROR_BAD_STATE;
	TA_CloseSessionEntryPoint(s->ctx);
	s->used = 0;
	for (unsigned i = 0; i < sizeof(sessions) / sizeof(sessions[0]); i++)
		left |= sessions[i].used;
	if (!left && instance_ready) {
		TA_DestroyEntryPoint();
		instance_ready = 0;
	}
	return TEE_SUCCESS;
}

static TEE_Result invoke(unsigned long id, struct utee_params *up, unsigned long cmd)
{
	struct session *s = find(id);
	TEE_Param p[TEE_NUM_PARAMS];
	TEE_Result res;

	if (!s)
		return TEE_ERROR_BAD_STATE;
	to_params(up, p);
	res = TA_InvokeCommandEntryPoint(s->ctx, (uint32_t)cmd, (uint32_t)up->types, p);
	from_params(up, p);
	return res;
}

void __ta_entry(unsigned long func, unsigned long session_id, struct utee_params *up, unsigned long cmd_id)
{
	TEE_Result res;

	switch (func) {
	case 0:
		res = open_session(session_id, up);
		break;
	case 1:
		res = close_session(session_id);
		break;
	case 2:
		res = invoke(session_id, up, cmd_id);
		break;
	default:
		res = TEE_ERROR_NOT_SUPPORTED;
	}
	_utee_return(res);
}
